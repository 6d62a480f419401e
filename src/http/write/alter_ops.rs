//! The operations of `POST /{db}/{table}/-/alter`, read from the body and
//! validated as Datasette's pydantic models do: every problem is answered
//! at once, each located as `operations.{i}.{op}.args.{field}`.

use serde_json::{Map, Value as Json};

use crate::error::{AppError, AppResult};
use crate::http::write::create::parse_default;
use crate::write::schema;

/// The operations `-/alter` knows, in Datasette's order.
const ALTER_OPS: [&str; 10] = [
    "add_column",
    "rename_column",
    "rename_table",
    "alter_column",
    "drop_column",
    "set_primary_key",
    "reorder_columns",
    "add_foreign_key",
    "drop_foreign_key",
    "set_foreign_keys",
];

/// One `/-/alter` operation, validated.
pub(super) enum AlterOp {
    AddColumn {
        name: String,
        sql_type: &'static str,
        not_null: bool,
        default: Option<String>,
    },
    RenameColumn(String, String),
    RenameTable(String),
    AlterColumn {
        name: String,
        sql_type: Option<&'static str>,
        not_null: Option<bool>,
        default: Option<Option<String>>,
    },
    DropColumn(String),
    SetPrimaryKey(Vec<String>),
    ReorderColumns(Vec<String>),
    AddForeignKey(String, String, Option<String>),
    DropForeignKey(String),
    SetForeignKeys(Vec<(String, String, Option<String>)>),
}

/// The body's `operations`, each validated.
pub(super) fn parse_alter(data: Json) -> AppResult<Vec<AlterOp>> {
    let err = |m: String| AppError::invalid_one(m);
    let Json::Object(data) = data else {
        return Err(err("JSON must be a dictionary".into()));
    };
    let mut errors: Vec<String> = data
        .keys()
        .filter(|k| *k != "operations")
        .map(|k| format!("{k}: Extra inputs are not permitted"))
        .collect();
    let ops = match data.get("operations") {
        None => {
            errors.insert(0, "operations: Field required".into());
            return Err(AppError::invalid(errors));
        }
        Some(Json::Array(ops)) if ops.is_empty() => {
            errors.insert(
                0,
                "operations: List should have at least 1 item after validation, not 0".into(),
            );
            return Err(AppError::invalid(errors));
        }
        Some(Json::Array(ops)) => ops,
        Some(_) => {
            errors.insert(0, "operations: Input should be a valid list".into());
            return Err(AppError::invalid(errors));
        }
    };
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match parse_op(i, op) {
            Ok(op) => out.push(op),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::invalid(errors))
    }
}

fn parse_op(i: usize, op: &Json) -> Result<AlterOp, Vec<String>> {
    let Json::Object(op) = op else {
        return Err(vec![format!(
            "operations.{i}: Input should be a valid dictionary or object to extract fields from"
        )]);
    };
    let tag = op_tag(i, op)?;
    let at = format!("operations.{i}.{tag}");
    let mut errors: Vec<String> = op
        .keys()
        .filter(|k| *k != "op" && *k != "args")
        .map(|k| format!("{at}.{k}: Extra inputs are not permitted"))
        .collect();
    let Some(Json::Object(args)) = op.get("args") else {
        errors.push(match op.get("args") {
            None => format!("{at}.args: Field required"),
            Some(_) => format!(
                "{at}.args: Input should be a valid dictionary or instance of {}",
                model_name(tag)
            ),
        });
        return Err(errors);
    };
    let mut args = Args {
        map: args,
        at: format!("{at}.args"),
        errors,
    };
    args.reject_extra(op_fields(tag));
    let parsed = match tag {
        "add_column" => args.add_column()?,
        "rename_column" => args.rename_column(),
        "rename_table" => args.rename_table(),
        "alter_column" => args.alter_column()?,
        "drop_column" => args.string("name").map(AlterOp::DropColumn),
        "drop_foreign_key" => args.string("column").map(AlterOp::DropForeignKey),
        "set_primary_key" => args.list("columns").map(AlterOp::SetPrimaryKey),
        "reorder_columns" => args.list("columns").map(AlterOp::ReorderColumns),
        "add_foreign_key" => args.add_foreign_key(),
        _ => args.set_foreign_keys(),
    };
    match parsed {
        Some(op) if args.errors.is_empty() => Ok(op),
        _ => Err(args.errors),
    }
}

/// The operation's `op` tag, one of [`ALTER_OPS`].
fn op_tag(i: usize, op: &Map<String, Json>) -> Result<&str, Vec<String>> {
    let tag = match op.get("op") {
        Some(Json::String(tag)) => tag.as_str(),
        _ => {
            return Err(vec![format!(
                "operations.{i}: Unable to extract tag using discriminator 'op'"
            )]);
        }
    };
    if !ALTER_OPS.contains(&tag) {
        let expected: Vec<String> = ALTER_OPS.iter().map(|t| format!("'{t}'")).collect();
        return Err(vec![format!(
            "operations.{i}: Input tag '{tag}' found using 'op' does not match any of the expected tags: {}",
            expected.join(", ")
        )]);
    }
    Ok(tag)
}

/// The `args` fields an operation takes.
fn op_fields(tag: &str) -> &'static [&'static str] {
    match tag {
        "add_column" => &["name", "type", "not_null", "default", "default_expr"],
        "rename_column" => &["name", "to"],
        "rename_table" => &["to"],
        "alter_column" => &["name", "type", "not_null", "default", "default_expr"],
        "drop_column" => &["name"],
        "drop_foreign_key" => &["column"],
        "set_primary_key" | "reorder_columns" => &["columns"],
        "add_foreign_key" => &["column", "fk_table", "fk_column"],
        _ => &["foreign_keys"],
    }
}

/// One operation's `args`, read field by field; each problem is kept in
/// `errors`, located under `at`, so all of them are answered at once.
struct Args<'a> {
    map: &'a Map<String, Json>,
    at: String,
    errors: Vec<String>,
}

impl Args<'_> {
    fn reject_extra(&mut self, fields: &[&str]) {
        let at = &self.at;
        self.errors.extend(
            self.map
                .keys()
                .filter(|k| !fields.contains(&k.as_str()))
                .map(|k| format!("{at}.{k}: Extra inputs are not permitted")),
        );
    }

    fn string(&mut self, key: &str) -> Option<String> {
        let at = &self.at;
        match self.map.get(key) {
            Some(Json::String(s)) => Some(s.clone()),
            None => {
                self.errors.push(format!("{at}.{key}: Field required"));
                None
            }
            Some(_) => {
                self.errors
                    .push(format!("{at}.{key}: Input should be a valid string"));
                None
            }
        }
    }

    fn column_type(&mut self) -> Option<&'static str> {
        match self.map.get("type") {
            Some(Json::String(s)) if schema::api_type(s).is_some() => schema::api_type(s),
            _ => {
                self.errors.push(format!(
                    "{}.type: Input should be 'text', 'integer', 'float' or 'blob'",
                    self.at
                ));
                None
            }
        }
    }

    /// A non-empty list of strings.
    fn list(&mut self, key: &str) -> Option<Vec<String>> {
        let at = &self.at;
        let error = match self.map.get(key) {
            Some(Json::Array(items)) if !items.is_empty() => {
                let strings = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>();
                if strings.is_some() {
                    return strings;
                }
                format!("{at}.{key}: Input should be a list of strings")
            }
            Some(Json::Array(_)) => {
                format!("{at}.{key}: List should have at least 1 item after validation, not 0")
            }
            None => format!("{at}.{key}: Field required"),
            Some(_) => format!("{at}.{key}: Input should be a valid list"),
        };
        self.errors.push(error);
        None
    }

    /// `default` / `default_expr`; a bad one is answered alone.
    fn default(&self) -> Result<Option<String>, Vec<String>> {
        parse_default(self.map, &self.at).map_err(|e| vec![e.to_string()])
    }

    fn add_column(&mut self) -> Result<Option<AlterOp>, Vec<String>> {
        let name = self.string("name");
        let sql_type = if self.map.contains_key("type") {
            self.column_type()
        } else {
            Some("TEXT")
        };
        let not_null = matches!(self.map.get("not_null"), Some(Json::Bool(true)));
        let default = self.default()?;
        Ok(match (name, sql_type) {
            (Some(name), Some(sql_type)) => Some(AlterOp::AddColumn {
                name,
                sql_type,
                not_null,
                default,
            }),
            _ => None,
        })
    }

    fn rename_column(&mut self) -> Option<AlterOp> {
        match (self.string("name"), self.string("to")) {
            (Some(a), Some(b)) => Some(AlterOp::RenameColumn(a, b)),
            _ => None,
        }
    }

    fn rename_table(&mut self) -> Option<AlterOp> {
        let to = self.string("to")?;
        if to.starts_with("sqlite_") || to.contains('\n') || to.is_empty() {
            self.errors
                .push(format!("{}.to: Invalid table name", self.at));
            None
        } else {
            Some(AlterOp::RenameTable(to))
        }
    }

    fn alter_column(&mut self) -> Result<Option<AlterOp>, Vec<String>> {
        let args = self.map;
        let name = self.string("name");
        let sql_type = if args.contains_key("type") && args.get("type") != Some(&Json::Null) {
            self.column_type()
        } else {
            None
        };
        let not_null = args.get("not_null").and_then(Json::as_bool);
        let default = if args.contains_key("default") || args.contains_key("default_expr") {
            Some(self.default()?)
        } else {
            None
        };
        if !["type", "not_null", "default", "default_expr"]
            .iter()
            .any(|k| args.contains_key(*k))
        {
            self.errors.push(format!(
                "{}: Value error, At least one of type, not_null, default or default_expr must be provided",
                self.at
            ));
        }
        Ok(name.map(|name| AlterOp::AlterColumn {
            name,
            sql_type,
            not_null,
            default,
        }))
    }

    fn add_foreign_key(&mut self) -> Option<AlterOp> {
        let column = self.string("column");
        let text = |key: &str| self.map.get(key).and_then(Json::as_str).map(str::to_owned);
        let (table, fk_column) = (text("fk_table"), text("fk_column"));
        if table.is_none() {
            self.errors
                .push(format!("{}: fk_table is required", self.at));
        }
        match (column, table) {
            (Some(c), Some(t)) => Some(AlterOp::AddForeignKey(c, t, fk_column)),
            _ => None,
        }
    }

    fn set_foreign_keys(&mut self) -> Option<AlterOp> {
        let Some(Json::Array(items)) = self.map.get("foreign_keys") else {
            self.errors
                .push(format!("{}.foreign_keys: Field required", self.at));
            return None;
        };
        let mut fks = Vec::new();
        for (j, item) in items.iter().enumerate() {
            let column = item.get("column").and_then(Json::as_str);
            let table = item.get("fk_table").and_then(Json::as_str);
            match (column, table) {
                (Some(c), Some(t)) => fks.push((
                    c.to_owned(),
                    t.to_owned(),
                    item.get("fk_column")
                        .and_then(Json::as_str)
                        .map(str::to_owned),
                )),
                _ => self.errors.push(format!(
                    "{}.foreign_keys.{j}: fk_table is required",
                    self.at
                )),
            }
        }
        Some(AlterOp::SetForeignKeys(fks))
    }
}

fn model_name(tag: &str) -> String {
    tag.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<String>()
        + "Args"
}
