//! `POST /{db}/{table}/-/alter` (Datasette 1.0a35+ operations): parses the
//! operations, applies them in one transaction, and answers with the table's
//! new schema text, refreshing the catalog's mirror. (The operations are
//! read in `alter_ops`.)

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::alter_ops::{AlterOp, parse_alter};
use crate::http::write::create::table_urls;
use crate::http::write::{Body, json_status, may, open, record, refresh_mirror, require_table};
use crate::write::rows;
use crate::write::schema::{self, Transform};
use crate::write::{WriteError, WriteResult};

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
