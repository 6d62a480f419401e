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
use crate::write::schema::{self, Transform};
use crate::write::{WriteError, WriteResult};
use crate::write::{live, rows};

/// What the operations ask for, gathered before anything is written: columns
/// to add, changes for one rebuild of the table, and a new name.
#[derive(Default)]
struct AlterPlan {
    changes: Transform,
    rename_to: Option<String>,
    /// (name, type, default when NOT NULL)
    adds: Vec<(String, &'static str, Option<String>)>,
}

impl AlterPlan {
    fn gather(conn: &libsql::Connection, ops: &[AlterOp]) -> WriteResult<AlterPlan> {
        let mut plan = AlterPlan::default();
        for op in ops {
            plan.take(conn, op)?;
        }
        Ok(plan)
    }

    fn take(&mut self, conn: &libsql::Connection, op: &AlterOp) -> WriteResult<()> {
        match op {
            AlterOp::AddColumn {
                name,
                sql_type,
                not_null,
                default,
            } => self.add_column(name, sql_type, *not_null, default)?,
            AlterOp::RenameTable(to) => self.rename_to = Some(to.clone()),
            AlterOp::RenameColumn(from, to) => {
                self.changes.rename.insert(from.clone(), to.clone());
            }
            AlterOp::AlterColumn {
                name,
                sql_type,
                not_null,
                default,
            } => self.alter_column(name, *sql_type, *not_null, default),
            AlterOp::DropColumn(name) => {
                self.changes.drop.insert(name.clone());
            }
            AlterOp::SetPrimaryKey(columns) => self.changes.pk = Some(columns.clone()),
            AlterOp::ReorderColumns(columns) => self.changes.column_order = Some(columns.clone()),
            AlterOp::AddForeignKey(column, other, other_column) => {
                self.changes.add_foreign_keys.push(schema::foreign_key(
                    conn,
                    column,
                    other,
                    other_column.as_deref(),
                )?)
            }
            AlterOp::DropForeignKey(column) => self.changes.drop_foreign_keys.push(column.clone()),
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
                self.changes.set_foreign_keys = Some(set);
            }
        }
        Ok(())
    }

    /// A NOT NULL column is added with its default; any other default is
    /// set by the rebuild.
    fn add_column(
        &mut self,
        name: &str,
        sql_type: &'static str,
        not_null: bool,
        default: &Option<String>,
    ) -> WriteResult<()> {
        if not_null && default.is_none() {
            return Err(WriteError::invalid(
                "add_column args.default or args.default_expr is required when not_null is true",
            ));
        }
        if !not_null && let Some(d) = default {
            self.changes
                .defaults
                .push((name.to_owned(), Some(d.clone())));
        }
        self.adds.push((
            name.to_owned(),
            sql_type,
            not_null.then(|| default.clone()).flatten(),
        ));
        Ok(())
    }

    fn alter_column(
        &mut self,
        name: &str,
        sql_type: Option<&'static str>,
        not_null: Option<bool>,
        default: &Option<Option<String>>,
    ) {
        if let Some(t) = sql_type {
            self.changes.types.insert(name.to_owned(), t.to_owned());
        }
        if let Some(n) = not_null {
            self.changes.not_null.push((name.to_owned(), n));
        }
        if let Some(d) = default {
            self.changes.defaults.push((name.to_owned(), d.clone()));
        }
    }
}

/// Applies the operations; returns (before, after, table name after).
fn apply_alter(
    conn: &libsql::Connection,
    table: &str,
    ops: &[AlterOp],
) -> WriteResult<(Option<String>, Option<String>, String)> {
    let before = live::table_sql(conn, table)?;
    rows::require_table(conn, table)?;
    let plan = AlterPlan::gather(conn, ops)?;
    for (name, sql_type, not_null_default) in &plan.adds {
        schema::add_column(conn, table, name, sql_type, not_null_default.as_deref())?;
    }
    if !plan.changes.is_empty() {
        schema::transform(conn, table, &plan.changes)?;
    }
    let current = rename_table(conn, table, plan.rename_to)?;
    Ok((before, live::table_sql(conn, &current)?, current))
}

/// Renames the table when asked to; returns its name after.
fn rename_table(
    conn: &libsql::Connection,
    table: &str,
    rename_to: Option<String>,
) -> WriteResult<String> {
    match rename_to {
        Some(to) if to != table => {
            crate::write::exec(
                conn,
                &format!(
                    "alter table {} rename to {}",
                    crate::names::quote_ident(table),
                    crate::names::quote_ident(&to)
                ),
                vec![],
            )?;
            Ok(to)
        }
        _ => Ok(table.to_owned()),
    }
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
