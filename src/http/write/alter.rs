//! `POST /{db}/{table}/-/alter` (Datasette 1.0a35+ operations): parses the
//! operations, applies them in one transaction, and answers with the table's
//! new schema text, refreshing the catalog's mirror.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value as Json, json};

use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::create::{parse_default, table_urls};
use crate::http::write::{Body, json_status, may, open, record, refresh_mirror, require_table};
use crate::write::rows;
use crate::write::schema::{self, Transform};
use crate::write::{WriteError, WriteResult};

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
