//! One row: `/{space}/{db}/{table}/{pk}.json`, keyed by its primary key
//! values (tilde-decoded, comma-separated) or by rowid.

pub(crate) mod extras;

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use crate::error::{AppError, AppResult};
use crate::http::database::{ViewableTable, open_viewable_table};
use crate::http::render::shape::{Output, respond};
use crate::http::routes::Format;
use crate::http::tenant::SpaceRequest;
use crate::names::quote_ident;
use crate::read::args::Args;
use crate::read::cells::Rows;
use crate::read::exec::{self, Statement};
use crate::read::table_sql::{Params, TableInfo};
use crate::tenant::TenantDb;
use extras::RowContext;

/// The row a key names, as JSON (with extras), CSV or the HTML page.
pub async fn show(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    key: &[String],
    format: Format,
) -> AppResult<Response> {
    let opened = open_viewable_table(req, db, table).await?;
    let ViewableTable {
        database,
        handle,
        schema,
        ..
    } = &opened;
    let args = req.args();
    let output = Output::from_args(args)?;
    let info = TableInfo::from_schema(opened.table());
    let read = read_row(req, handle, &info, table, key, args).await?;
    if read.rows.is_empty() {
        return Err(AppError::NotFound("Row not found"));
    }
    if format == Format::Csv {
        return Ok(crate::http::render::csv::rows(
            req,
            &read.columns,
            &read.rows,
        ));
    }
    if format == Format::Html {
        return crate::http::ui::row::page(
            req,
            database,
            handle.clone(),
            schema,
            table,
            key,
            &read.columns,
            &read
                .rows
                .first()
                .map(|row| row.to_values())
                .unwrap_or_default(),
        )
        .await;
    }
    let mut body = Map::new();
    body.insert("ok".into(), json!(true));
    body.insert("database".into(), json!(database.name));
    body.insert("table".into(), json!(table));
    body.insert("rows".into(), Json::Null);
    body.insert("primary_keys".into(), json!(info.key_columns()));
    body.insert("primary_key_values".into(), json!(key));
    body.insert("truncated".into(), json!(false));
    let extras = RowContext {
        req,
        args,
        database: &database.name,
        table: opened.table(),
        schema,
        handle: handle.clone(),
        columns: &read.columns,
        rows: &read.rows,
        pk_values: key,
        sql: &read.sql,
        params: &read.params.0,
    };
    extras::add(&extras, &mut body).await?;
    respond(&output, body, &read.columns, &read.rows, None)
}

/// One row's columns (`rowid` first for a rowid table) and values, for
/// the UI's row forms; `None` when no row has that key.
pub(crate) async fn one(
    req: &SpaceRequest,
    handle: &Arc<TenantDb>,
    info: &TableInfo,
    table: &str,
    key: &[String],
) -> AppResult<Option<(Vec<String>, Vec<libsql::Value>)>> {
    let read = read_row(req, handle, info, table, key, &Args::default()).await?;
    let row = read.rows.first().map(|row| row.to_values());
    Ok(row.map(|row| (read.columns, row)))
}

/// The statement that read a row and what it found (at most two rows).
struct RowRead {
    columns: Vec<String>,
    sql: String,
    params: Params,
    rows: Rows,
}

/// Reads the rows whose key columns equal `key`; a key of the wrong length
/// is a 400.
async fn read_row(
    req: &SpaceRequest,
    handle: &Arc<TenantDb>,
    info: &TableInfo,
    table: &str,
    key: &[String],
    args: &Args,
) -> AppResult<RowRead> {
    let keys = info.key_columns();
    if keys.len() != key.len() {
        return Err(AppError::BadRequest(
            "URL row identifier does not match the primary key for this table".into(),
        ));
    }
    let mut params = Params::default();
    let wheres: Vec<String> = keys
        .iter()
        .zip(key)
        .map(|(k, v)| format!("{} = {}", quote_ident(k), params.add(v.clone())))
        .collect();
    let mut columns = info.columns.clone();
    if info.use_rowid() {
        columns.insert(0, "rowid".into());
    }
    let select: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let sql = format!(
        "select {} from {} where {} limit 2",
        select.join(", "),
        quote_ident(table),
        wheres.join(" and ")
    );
    let result = exec::run(
        handle.clone(),
        Statement {
            params: params.0.clone(),
            ..Statement::internal(sql.clone(), vec![], req.time_limit(args))
        },
    )
    .await
    .map_err(crate::http::query::read_error)?;
    Ok(RowRead {
        columns,
        sql,
        params,
        rows: result.rows,
    })
}
