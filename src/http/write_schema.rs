//! Schema writes over HTTP: `POST /{db}/-/create` (a table from columns, or
//! from rows whose types are inferred) and `POST /{db}/{table}/-/alter`
//! (Datasette 1.0a35+ operations). Both answer with the table's schema text
//! and refresh the catalog's mirror, so new tables are visible at once.

use std::collections::HashSet;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use super::tenant::SpaceRequest;
use super::write::{Body, json_status, may, open, record, refresh_mirror, require_table, truthy};
use crate::error::{AppError, AppResult};
use crate::names::tilde_encode;
use crate::permissions::Resource;
use crate::write::rows::{self, InsertOptions};
use crate::write::schema::{self, ColumnDef, TableDef, Transform};
use crate::write::values::suggest_types;
use crate::write::{WriteError, WriteResult};

/// `table_url` and `table_api_url` of a table.
fn table_urls(req: &SpaceRequest, db: &str, table: &str) -> (String, String) {
    let path = format!("{}/{}/{}", req.base, tilde_encode(db), tilde_encode(table));
    (
        req.absolute_url(&path),
        req.absolute_url(&format!("{path}.json")),
    )
}

/// A column of the columns form, validated.
struct NewColumn {
    name: String,
    sql_type: &'static str,
    not_null: bool,
    default: Option<String>,
    fk: Option<(String, Option<String>)>,
}

/// The create request, validated as Datasette's pydantic model does.
struct CreateRequest {
    table: String,
    columns: Option<Vec<NewColumn>>,
    rows: Option<Vec<Map<String, Json>>>,
    pk: Option<Vec<String>>,
    ignore: bool,
    replace: bool,
    alter: bool,
}

fn optional_bool(data: &Map<String, Json>, key: &str) -> AppResult<bool> {
    match data.get(key) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
            Ok(n.as_i64() == Some(1))
        }
        _ => Err(AppError::invalid_one(format!(
            "{key}: Input should be a valid boolean"
        ))),
    }
}

fn parse_column(i: usize, value: &Json) -> AppResult<NewColumn> {
    let one = |m: String| AppError::invalid_one(m);
    let Json::Object(c) = value else {
        return Err(one("columns must be a list of objects".into()));
    };
    let allowed = [
        "name",
        "type",
        "fk_table",
        "fk_column",
        "not_null",
        "default",
        "default_expr",
    ];
    let mut extra: Vec<&String> = c
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(AppError::invalid(
            extra
                .iter()
                .map(|k| format!("columns.{i}.{k}: Extra inputs are not permitted"))
                .collect(),
        ));
    }
    let name = match c.get("name") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(one("Column name is required".into())),
    };
    let sql_type = match c.get("type") {
        None | Some(Json::Null) => "TEXT",
        Some(Json::String(s)) if s.is_empty() => "TEXT",
        Some(Json::String(s)) => {
            schema::api_type(s).ok_or_else(|| one(format!("Unsupported column type: {s}")))?
        }
        Some(other) => return Err(one(format!("Unsupported column type: {other}"))),
    };
    let text = |key: &str| -> AppResult<Option<String>> {
        match c.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            _ => Err(one(format!(
                "columns.{i}.{key}: Input should be a valid string"
            ))),
        }
    };
    let fk_table = text("fk_table")?;
    let fk_column = text("fk_column")?;
    if fk_column.is_some() && fk_table.is_none() {
        return Err(one(format!("columns.{i}: fk_column requires fk_table")));
    }
    let not_null = optional_bool(c, "not_null").map_err(|_| {
        one(format!(
            "columns.{i}.not_null: Input should be a valid boolean"
        ))
    })?;
    let default = parse_default(c, &format!("columns.{i}"))?;
    Ok(NewColumn {
        name,
        sql_type,
        not_null,
        default,
        fk: fk_table.map(|t| (t, fk_column)),
    })
}

/// `default` / `default_expr` of a column or operation: the SQL to declare.
fn parse_default(args: &Map<String, Json>, location: &str) -> AppResult<Option<String>> {
    match (args.get("default"), args.get("default_expr")) {
        (Some(_), Some(_)) => Err(AppError::invalid_one(format!(
            "{location}: Value error, default and default_expr cannot both be provided"
        ))),
        (None, Some(Json::Null)) => Err(AppError::invalid_one(format!(
            "{location}: Value error, default_expr cannot be null"
        ))),
        (None, Some(expr)) => {
            let name = expr.as_str().unwrap_or_default();
            schema::default_expression(name)
                .map(|sql| Some(sql.to_owned()))
                .ok_or_else(|| {
                    AppError::invalid_one(format!(
                        "{location}.default_expr: Input should be 'current_timestamp', 'current_date', 'current_time', 'current_unixtime' or 'current_unixtime_ms'"
                    ))
                })
        }
        (Some(value), None) => Ok(schema::literal_default(value)),
        (None, None) => Ok(None),
    }
}

fn validate_create(data: Json) -> AppResult<CreateRequest> {
    let one = |m: String| AppError::invalid_one(m);
    let Json::Object(data) = data else {
        return Err(one("JSON must be an object".into()));
    };
    let allowed = [
        "table", "rows", "row", "columns", "pk", "pks", "ignore", "replace", "alter",
    ];
    AppError::check_keys(&data, &allowed)?;
    let columns = match data.get("columns") {
        None | Some(Json::Null) => None,
        Some(Json::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, c)| parse_column(i, c))
                .collect::<AppResult<Vec<_>>>()?,
        ),
        Some(_) => return Err(one("columns must be a list".into())),
    };
    let (ignore, replace, alter) = (
        optional_bool(&data, "ignore")?,
        optional_bool(&data, "replace")?,
        optional_bool(&data, "alter")?,
    );
    let table = match data.get("table") {
        Some(Json::String(t)) if !t.is_empty() => t.clone(),
        Some(other) if truthy(Some(other)) => return Err(one("Invalid table name".into())),
        _ => return Err(one("Table is required".into())),
    };
    if table.starts_with("sqlite_") || table.contains('\n') {
        return Err(one("Invalid table name".into()));
    }
    let has = |key: &str| truthy(data.get(key));
    let has_columns = columns.as_ref().is_some_and(|c| !c.is_empty());
    if !has_columns && !has("rows") && !has("row") {
        return Err(one("columns, rows or row is required".into()));
    }
    if has("rows") && has("row") {
        return Err(one("Cannot specify both rows and row".into()));
    }
    if has_columns && (has("rows") || has("row")) {
        return Err(one("Cannot specify columns with rows or row".into()));
    }
    if let Some(columns) = &columns {
        let mut seen = HashSet::new();
        let mut duplicates: Vec<&str> = Vec::new();
        for c in columns {
            if !seen.insert(c.name.as_str()) && !duplicates.contains(&c.name.as_str()) {
                duplicates.push(&c.name);
            }
        }
        if !duplicates.is_empty() {
            return Err(one(format!(
                "Duplicate column name: {}",
                duplicates.join(", ")
            )));
        }
    }
    let rows = match (data.get("row"), data.get("rows")) {
        (Some(row), _) if truthy(Some(row)) => match row {
            Json::Object(row) => Some(vec![row.clone()]),
            _ => return Err(one("row must be an object".into())),
        },
        (_, Some(Json::Array(rows))) if !rows.is_empty() => Some(
            rows.iter()
                .map(|r| r.as_object().cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| one("rows must be a list of objects".into()))?,
        ),
        (_, Some(Json::Array(_)) | Some(Json::Null) | None) => None,
        (_, Some(_)) => return Err(one("rows must be a list".into())),
    };
    let pk = match data.get("pk") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err(one("pk must be a string".into())),
    };
    if pk.as_deref().is_some_and(|p| !p.is_empty()) && has("pks") {
        return Err(one("Cannot specify both pk and pks".into()));
    }
    let pks = match data.get("pks") {
        None | Some(Json::Null) => None,
        Some(Json::Array(items)) => Some(
            items
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| one("pks must be a list of strings".into()))?,
        ),
        Some(_) => return Err(one("pks must be a list".into())),
    };
    if ignore && replace {
        return Err(one("ignore and replace are mutually exclusive".into()));
    }
    if data.contains_key("ignore") || data.contains_key("replace") {
        if rows.is_none() {
            return Err(one("ignore and replace require row or rows".into()));
        }
        if pk.as_deref().is_none_or(str::is_empty) && pks.as_ref().is_none_or(Vec::is_empty) {
            return Err(one("ignore and replace require pk or pks".into()));
        }
    }
    let pk = match (pks, pk) {
        (Some(pks), _) if !pks.is_empty() => Some(pks),
        (_, Some(pk)) if !pk.is_empty() => Some(vec![pk]),
        _ => None,
    };
    Ok(CreateRequest {
        table,
        columns: if has_columns { columns } else { None },
        rows,
        pk,
        ignore,
        replace,
        alter,
    })
}

/// `POST /{db}/-/create`.
pub async fn create(req: &SpaceRequest, db: &str, body: Body) -> AppResult<Response> {
    let (database, handle, schema) = open(req, db).await?;
    let db = database.name.clone();
    req.require(
        "create-table",
        Resource::Database(db.clone()),
        "Permission denied",
    )
    .await?;
    let request = validate_create(body.json().await?)?;
    let table = request.table.clone();
    let existing = schema.table(&table);
    let exists = existing.is_some();
    if request.replace && !may(req, "update-row", &db, &table).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need update-row".into(),
        ));
    }
    let mut alter = false;
    if request.rows.is_some() {
        if !may(req, "insert-row", &db, &table).await? {
            return Err(AppError::Forbidden(
                "Permission denied: need insert-row".into(),
            ));
        }
        if !exists {
            alter = true;
        } else if request.alter {
            if !may(req, "alter-table", &db, &table).await? {
                return Err(AppError::Forbidden(
                    "Permission denied: need alter-table".into(),
                ));
            }
            alter = true;
        }
    }
    let mut pk = request.pk.clone();
    if let Some(existing) = existing {
        let mut actual: Vec<_> = existing.columns.iter().filter(|c| c.pk > 0).collect();
        actual.sort_by_key(|c| c.pk);
        let actual: Vec<String> = actual.into_iter().map(|c| c.name.clone()).collect();
        let changed = match &request.pk {
            Some(given) if actual.len() == 1 && given.len() == 1 => given[0] != actual[0],
            Some(given) if actual.len() > 1 && given.len() > 1 => {
                given.iter().collect::<HashSet<_>>() != actual.iter().collect::<HashSet<_>>()
            }
            _ => false,
        };
        if changed {
            return Err(AppError::invalid_one(
                "pk cannot be changed for existing table",
            ));
        }
        pk = Some(actual).filter(|a| !a.is_empty());
    }
    let row_count = request.rows.as_ref().map(Vec::len);
    let name = table.clone();
    let (new_schema, changed) = handle
        .write(move |conn| -> WriteResult<(Option<String>, u64)> {
            // Only ordinary tables take structured writes.
            let (_, kinds) = crate::write::select(
                conn,
                "select type from pragma_table_list where schema = 'main' and name = ?1 collate nocase",
                vec![libsql::Value::Text(name.clone())],
            )?;
            let live = schema::live_table(conn, &name)?;
            if !kinds.is_empty() && live.is_none() {
                return Err(WriteError::invalid("Structured writes require an ordinary table"));
            }
            let mut changed = 0;
            if let Some(rows) = &request.rows {
                if live.is_none() {
                    let columns = suggest_types(rows)
                        .into_iter()
                        .map(|(name, t)| ColumnDef {
                            name,
                            sql_type: t.into(),
                            not_null: false,
                            default: None,
                        })
                        .collect();
                    let sql = schema::create_sql(&TableDef {
                        name: name.clone(),
                        columns,
                        pk: pk.clone().unwrap_or_default(),
                        foreign_keys: vec![],
                    });
                    crate::write::exec(conn, &sql, vec![])?;
                }
                changed = rows::insert(
                    conn,
                    &name,
                    rows,
                    InsertOptions {
                        ignore: request.ignore,
                        replace: request.replace,
                        alter,
                        upsert: false,
                        return_rows: false,
                    },
                )?
                .changed;
            } else if let Some(columns) = &request.columns {
                let mut foreign_keys = Vec::new();
                for c in columns {
                    if let Some((other, column)) = &c.fk {
                        foreign_keys.push(schema::foreign_key(conn, &c.name, other, column.as_deref())?);
                    }
                }
                let sql = schema::create_sql(&TableDef {
                    name: name.clone(),
                    columns: columns
                        .iter()
                        .map(|c| ColumnDef {
                            name: c.name.clone(),
                            sql_type: c.sql_type.into(),
                            not_null: c.not_null,
                            default: c.default.clone(),
                        })
                        .collect(),
                    pk: pk.clone().unwrap_or_default(),
                    foreign_keys,
                });
                crate::write::exec(conn, &sql, vec![])?;
            }
            Ok((schema::table_sql(conn, &name)?, changed))
        })
        .await?;
    refresh_mirror(req, &database).await?;
    if !exists {
        record(
            req,
            "create-table",
            &db,
            Some(&table),
            None,
            json!({"schema": new_schema}),
        )
        .await;
    }
    if let Some(n) = row_count {
        record(
            req,
            "insert-rows",
            &db,
            Some(&table),
            Some(changed as i64),
            json!({"num_rows": n}),
        )
        .await;
    }
    let (table_url, table_api_url) = table_urls(req, &db, &table);
    let mut details = json!({
        "ok": true,
        "database": db,
        "table": table,
        "table_url": table_url,
        "table_api_url": table_api_url,
        "schema": new_schema,
    });
    if let Some(n) = row_count {
        details["row_count"] = json!(n);
    }
    Ok(json_status(StatusCode::CREATED, details))
}

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
enum AlterOp {
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

fn parse_alter(data: Json) -> AppResult<Vec<AlterOp>> {
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
    let at = format!("{at}.args");
    let fields: &[&str] = match tag {
        "add_column" => &["name", "type", "not_null", "default", "default_expr"],
        "rename_column" => &["name", "to"],
        "rename_table" => &["to"],
        "alter_column" => &["name", "type", "not_null", "default", "default_expr"],
        "drop_column" | "drop_foreign_key" if tag == "drop_column" => &["name"],
        "drop_foreign_key" => &["column"],
        "set_primary_key" | "reorder_columns" => &["columns"],
        "add_foreign_key" => &["column", "fk_table", "fk_column"],
        _ => &["foreign_keys"],
    };
    errors.extend(
        args.keys()
            .filter(|k| !fields.contains(&k.as_str()))
            .map(|k| format!("{at}.{k}: Extra inputs are not permitted")),
    );
    let string = |key: &str, errors: &mut Vec<String>| -> Option<String> {
        match args.get(key) {
            Some(Json::String(s)) => Some(s.clone()),
            None => {
                errors.push(format!("{at}.{key}: Field required"));
                None
            }
            Some(_) => {
                errors.push(format!("{at}.{key}: Input should be a valid string"));
                None
            }
        }
    };
    let column_type = |errors: &mut Vec<String>| -> Option<&'static str> {
        match args.get("type") {
            Some(Json::String(s)) if schema::api_type(s).is_some() => schema::api_type(s),
            _ => {
                errors.push(format!(
                    "{at}.type: Input should be 'text', 'integer', 'float' or 'blob'"
                ));
                None
            }
        }
    };
    let list = |key: &str, errors: &mut Vec<String>| -> Option<Vec<String>> {
        match args.get(key) {
            Some(Json::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .or_else(|| {
                    errors.push(format!("{at}.{key}: Input should be a list of strings"));
                    None
                }),
            Some(Json::Array(_)) => {
                errors.push(format!(
                    "{at}.{key}: List should have at least 1 item after validation, not 0"
                ));
                None
            }
            None => {
                errors.push(format!("{at}.{key}: Field required"));
                None
            }
            Some(_) => {
                errors.push(format!("{at}.{key}: Input should be a valid list"));
                None
            }
        }
    };
    let parsed = match tag {
        "add_column" => {
            let name = string("name", &mut errors);
            let sql_type = if args.contains_key("type") {
                column_type(&mut errors)
            } else {
                Some("TEXT")
            };
            let not_null = matches!(args.get("not_null"), Some(Json::Bool(true)));
            let default = parse_default(args, &at).map_err(|e| vec![e.to_string()])?;
            match (name, sql_type) {
                (Some(name), Some(sql_type)) => Some(AlterOp::AddColumn {
                    name,
                    sql_type,
                    not_null,
                    default,
                }),
                _ => None,
            }
        }
        "rename_column" => match (string("name", &mut errors), string("to", &mut errors)) {
            (Some(a), Some(b)) => Some(AlterOp::RenameColumn(a, b)),
            _ => None,
        },
        "rename_table" => string("to", &mut errors).and_then(|to| {
            if to.starts_with("sqlite_") || to.contains('\n') || to.is_empty() {
                errors.push(format!("{at}.to: Invalid table name"));
                None
            } else {
                Some(AlterOp::RenameTable(to))
            }
        }),
        "alter_column" => {
            let name = string("name", &mut errors);
            let sql_type = if args.contains_key("type") && args.get("type") != Some(&Json::Null) {
                column_type(&mut errors)
            } else {
                None
            };
            let not_null = args.get("not_null").and_then(Json::as_bool);
            let default = if args.contains_key("default") || args.contains_key("default_expr") {
                Some(parse_default(args, &at).map_err(|e| vec![e.to_string()])?)
            } else {
                None
            };
            if !["type", "not_null", "default", "default_expr"]
                .iter()
                .any(|k| args.contains_key(*k))
            {
                errors.push(format!(
                    "{at}: Value error, At least one of type, not_null, default or default_expr must be provided"
                ));
            }
            name.map(|name| AlterOp::AlterColumn {
                name,
                sql_type,
                not_null,
                default,
            })
        }
        "drop_column" => string("name", &mut errors).map(AlterOp::DropColumn),
        "drop_foreign_key" => string("column", &mut errors).map(AlterOp::DropForeignKey),
        "set_primary_key" => list("columns", &mut errors).map(AlterOp::SetPrimaryKey),
        "reorder_columns" => list("columns", &mut errors).map(AlterOp::ReorderColumns),
        "add_foreign_key" => {
            let column = string("column", &mut errors);
            let table = args
                .get("fk_table")
                .and_then(Json::as_str)
                .map(str::to_owned);
            let fk_column = args
                .get("fk_column")
                .and_then(Json::as_str)
                .map(str::to_owned);
            if table.is_none() {
                errors.push(format!("{at}: fk_table is required"));
            }
            match (column, table) {
                (Some(c), Some(t)) => Some(AlterOp::AddForeignKey(c, t, fk_column)),
                _ => None,
            }
        }
        _ => match args.get("foreign_keys") {
            Some(Json::Array(items)) => {
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
                        _ => errors.push(format!("{at}.foreign_keys.{j}: fk_table is required")),
                    }
                }
                Some(AlterOp::SetForeignKeys(fks))
            }
            _ => {
                errors.push(format!("{at}.foreign_keys: Field required"));
                None
            }
        },
    };
    match parsed {
        Some(op) if errors.is_empty() => Ok(op),
        _ => Err(errors),
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

/// Applies the operations; returns (before, after, table name after).
fn apply_alter(
    conn: &libsql::Connection,
    table: &str,
    ops: &[AlterOp],
) -> WriteResult<(Option<String>, Option<String>, String)> {
    let before = schema::table_sql(conn, table)?;
    rows::require_table(conn, table)?;
    let mut changes = Transform::default();
    let mut rename_to = None;
    let mut adds = Vec::new();
    for op in ops {
        match op {
            AlterOp::AddColumn {
                name,
                sql_type,
                not_null,
                default,
            } => {
                if *not_null && default.is_none() {
                    return Err(WriteError::invalid(
                        "add_column args.default or args.default_expr is required when not_null is true",
                    ));
                }
                if !*not_null && let Some(d) = default {
                    changes.defaults.push((name.clone(), Some(d.clone())));
                }
                adds.push((
                    name.clone(),
                    *sql_type,
                    not_null.then(|| default.clone()).flatten(),
                ));
            }
            AlterOp::RenameTable(to) => rename_to = Some(to.clone()),
            AlterOp::RenameColumn(from, to) => {
                changes.rename.insert(from.clone(), to.clone());
            }
            AlterOp::AlterColumn {
                name,
                sql_type,
                not_null,
                default,
            } => {
                if let Some(t) = sql_type {
                    changes.types.insert(name.clone(), (*t).to_owned());
                }
                if let Some(n) = not_null {
                    changes.not_null.push((name.clone(), *n));
                }
                if let Some(d) = default {
                    changes.defaults.push((name.clone(), d.clone()));
                }
            }
            AlterOp::DropColumn(name) => {
                changes.drop.insert(name.clone());
            }
            AlterOp::SetPrimaryKey(columns) => changes.pk = Some(columns.clone()),
            AlterOp::ReorderColumns(columns) => changes.column_order = Some(columns.clone()),
            AlterOp::AddForeignKey(column, other, other_column) => changes.add_foreign_keys.push(
                schema::foreign_key(conn, column, other, other_column.as_deref())?,
            ),
            AlterOp::DropForeignKey(column) => changes.drop_foreign_keys.push(column.clone()),
            AlterOp::SetForeignKeys(fks) => {
                let mut set = Vec::new();
                for (column, other, other_column) in fks {
                    set.push(schema::foreign_key(
                        conn,
                        column,
                        other,
                        other_column.as_deref(),
                    )?);
                }
                changes.set_foreign_keys = Some(set);
            }
        }
    }
    for (name, sql_type, not_null_default) in &adds {
        schema::add_column(conn, table, name, sql_type, not_null_default.as_deref())?;
    }
    if !changes.is_empty() {
        schema::transform(conn, table, &changes)?;
    }
    let mut current = table.to_owned();
    if let Some(to) = rename_to
        && to != current
    {
        crate::write::exec(
            conn,
            &format!(
                "alter table {} rename to {}",
                crate::names::quote_ident(&current),
                crate::names::quote_ident(&to)
            ),
            vec![],
        )?;
        current = to;
    }
    Ok((before, schema::table_sql(conn, &current)?, current))
}

/// `POST /{db}/{table}/-/alter`.
pub async fn alter(req: &SpaceRequest, db: &str, table: &str, body: Body) -> AppResult<Response> {
    let (database, handle, schema) = open(req, db).await?;
    schema
        .table(table)
        .ok_or(AppError::NotFound("Table not found"))?;
    let db = database.name.clone();
    if !may(req, "alter-table", &db, table).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need alter-table".into(),
        ));
    }
    require_table(&schema, table)?;
    let ops = parse_alter(body.json().await?)?;
    let count = ops.len();
    let name = table.to_owned();
    let (before, after, after_name) = handle
        .write(move |conn| apply_alter(conn, &name, &ops))
        .await?;
    refresh_mirror(req, &database).await?;
    let altered = before != after;
    if altered {
        record(
            req,
            "alter-table",
            &db,
            Some(&after_name),
            None,
            json!({"before_schema": before, "after_schema": after}),
        )
        .await;
    }
    let (table_url, table_api_url) = table_urls(req, &db, &after_name);
    Ok(json_status(
        StatusCode::OK,
        json!({
            "ok": true,
            "database": db,
            "table": after_name,
            "table_url": table_url,
            "table_api_url": table_api_url,
            "altered": altered,
            "schema": after,
            "before_schema": before,
            "operations_applied": count,
        }),
    ))
}
