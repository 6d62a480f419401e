//! One row: `/{space}/{db}/{table}/{pk}.json`, keyed by its primary key
//! values (tilde-decoded, comma-separated) or by rowid.

use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use super::database::{open_synced, require_database};
use super::routes::Format;
use super::shape::{Output, respond};
use super::tenant::SpaceRequest;
use crate::error::{AppError, AppResult};
use crate::names::quote_ident;
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::exec::{self, Statement};
use crate::read::table_sql::{Params, TableInfo};

pub async fn show(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    key: &[String],
    format: Format,
) -> AppResult<Response> {
    let database = require_database(req, db).await?;
    let (handle, schema) = open_synced(req, &database).await?;
    let schema_table = schema
        .table(table)
        .ok_or(AppError::NotFound("Table not found"))?;
    req.require(
        "view-table",
        Resource::Table(database.name.clone(), table.to_owned()),
        "You do not have permission to view this table",
    )
    .await?;
    let args = Args::parse(req.query.as_deref());
    let output = Output::from_args(&args)?;
    let info = TableInfo::from_schema(schema_table);
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
            params: params.0,
            ..Statement::internal(sql, vec![], req.time_limit(&args))
        },
    )
    .await
    .map_err(super::query::read_error)?;
    if result.rows.is_empty() {
        return Err(AppError::NotFound("Row not found"));
    }
    if format == Format::Html {
        return super::ui::row::page(
            req,
            &database,
            handle,
            &schema,
            table,
            key,
            &columns,
            &result.rows[0],
        )
        .await;
    }
    let extras = args.get_all("_extra");
    let mut body = Map::new();
    body.insert("ok".into(), json!(true));
    body.insert("database".into(), json!(database.name));
    body.insert("table".into(), json!(table));
    body.insert("rows".into(), Json::Null);
    if extras.contains(&"columns") {
        body.insert("columns".into(), json!(columns));
    }
    body.insert("primary_keys".into(), json!(keys));
    body.insert("primary_key_values".into(), json!(key));
    body.insert("truncated".into(), json!(false));
    respond(&output, body, &columns, &result.rows, None)
}
