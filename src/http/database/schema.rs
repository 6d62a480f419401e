//! Schema and count endpoints: `/{db}/-/schema.json` and `.md`,
//! `/{db}/{table}/-/schema.json` and `.md`, and `POST /{db}/{table}/-/count`.

use std::collections::HashSet;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::catalog::databases::DatabaseRow;
use crate::error::AppResult;
use crate::http::database::{
    ViewableTable, open_synced, open_viewable_table, require_database, viewable_tables,
};
use crate::http::json_response;
use crate::http::table::filters as table_filters;
use crate::http::tenant::SpaceRequest;
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::exec::{self, Statement};
use crate::sqlite::ValueRef;

/// `/{db}/-/schema.json`: the database's schema as the actor may see it.
pub async fn database(req: &SpaceRequest, db: &str) -> AppResult<Response> {
    let database = viewable_database(req, db).await?;
    let schema = database_sql(req, &database).await?;
    Ok(json_response(json!({
        "ok": true,
        "database": database.name,
        "schema": schema,
    })))
}

/// `/{db}/-/schema.md` and `/{db}/{table}/-/schema.md`: the same statements
/// as Markdown, headed by what they describe.
pub async fn markdown(req: &SpaceRequest, db: &str, table: Option<&str>) -> AppResult<Response> {
    let (heading, schema) = match table {
        None => {
            let database = viewable_database(req, db).await?;
            let schema = database_sql(req, &database).await?;
            (database.name, schema)
        }
        Some(table) => {
            let opened = open_viewable_table(req, db, table).await?;
            let sql = opened.table().sql.clone().unwrap_or_default();
            (format!("{}.{table}", opened.database.name), sql)
        }
    };
    Ok(markdown_response(format!(
        "{}\n",
        markdown_section(&heading, &schema)
    )))
}

/// One database's (or table's) part of a Markdown schema.
pub fn markdown_section(heading: &str, schema: &str) -> String {
    format!("# Schema for {heading}\n\n```sql\n{schema}\n```")
}

/// Markdown answered as Datasette does: as plain text.
pub fn markdown_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// The database named `db`, when the actor may view it.
async fn viewable_database(req: &SpaceRequest, db: &str) -> AppResult<DatabaseRow> {
    let database = require_database(req, db).await?;
    req.require(
        "view-database",
        Resource::Database(database.name.clone()),
        "You do not have permission to view this database",
    )
    .await?;
    Ok(database)
}

/// Every CREATE statement of the database, shadow tables of virtual tables
/// left out, joined by `;\n`; for an actor who may not view every table,
/// only the tables and views they may view, with those tables' indexes and
/// triggers.
pub async fn database_sql(req: &SpaceRequest, database: &DatabaseRow) -> AppResult<String> {
    let (handle, schema) = open_synced(req, database).await?;
    let visible: HashSet<String> = viewable_tables(req, &req.actor, &database.name)
        .await?
        .into_iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let sees_all = schema
        .tables
        .iter()
        .all(|t| visible.contains(&t.name.to_ascii_lowercase()));
    let sql = "select m.sql, m.tbl_name from sqlite_master m
               where m.sql is not null
                 and m.name not in (select name from pragma_table_list where type = 'shadow')
               order by m.rowid";
    let result = exec::run(
        handle,
        Statement::internal(sql, vec![], req.time_limit(&Args::default())),
    )
    .await
    .map_err(crate::http::query::read_error)?;
    let statements: Vec<String> = result
        .rows
        .iter()
        .filter(|r| match r.get(1) {
            // Names compare as SQLite compares them: ASCII case-insensitively.
            ValueRef::Text(table) => sees_all || visible.contains(&table.to_ascii_lowercase()),
            _ => sees_all,
        })
        .filter_map(|r| match r.get(0) {
            ValueRef::Text(s) => Some(s.to_owned()),
            _ => None,
        })
        .collect();
    Ok(statements.join(";\n"))
}

/// One table's CREATE statement.
pub async fn table(req: &SpaceRequest, db: &str, table: &str) -> AppResult<Response> {
    let opened = open_viewable_table(req, db, table).await?;
    let ViewableTable {
        database,
        schema: _,
        ..
    } = &opened;
    let found = opened.table();
    Ok(json_response(json!({
        "ok": true,
        "database": database.name,
        "table": table,
        "schema": found.sql,
    })))
}

/// The number of rows matching the request's filters.
pub async fn count(req: &SpaceRequest, db: &str, table: &str) -> AppResult<Response> {
    let opened = open_viewable_table(req, db, table).await?;
    let ViewableTable {
        database,
        handle,
        schema,
        ..
    } = &opened;
    let found = opened.table();
    let args = req.args();
    let conditions = table_filters::conditions(req, database, schema, found, args).await?;
    let sql = format!(
        "select count(*) from {}{}",
        crate::names::quote_ident(table),
        conditions.where_sql()
    );
    let result = exec::run(
        handle.clone(),
        Statement {
            user_sql: conditions.user_sql,
            ..Statement::internal(sql, conditions.params.0, req.time_limit(args))
        },
    )
    .await
    .map_err(crate::http::query::read_error)?;
    let count = match result.rows.first().and_then(|r| r.first()) {
        Some(ValueRef::Integer(n)) => n,
        _ => 0,
    };
    Ok(json_response(json!({"ok": true, "count": count})))
}
