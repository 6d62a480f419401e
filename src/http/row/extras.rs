//! What a row answer adds on request: `_extra=foreign_key_tables` (the rows
//! of other tables pointing at this one, counted, with links) and the other
//! row-scope extras.

use std::sync::Arc;

use libsql::Value;
use serde_json::{Map, Value as Json, json};

use crate::catalog::mirror::TableSchema;
use crate::error::AppResult;
use crate::http::table::extra_names::{self, Scope};
use crate::http::table::extra_values::{column_details, database_color, private, request_json};
use crate::http::tenant::SpaceRequest;
use crate::names::{quote_ident, tilde_encode};
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::cells::Rows;
use crate::read::exec::{self, ReadError, Statement};
use crate::read::values::{Infinity, to_json};
use crate::tenant::{Schema, TenantDb};

/// Everything known about a row request once its row was read.
pub struct RowContext<'a> {
    pub req: &'a SpaceRequest,
    pub args: &'a Args,
    pub database: &'a str,
    pub table: &'a TableSchema,
    pub schema: &'a Schema,
    pub handle: Arc<TenantDb>,
    pub columns: &'a [String],
    pub rows: &'a Rows,
    pub pk_values: &'a [String],
    pub sql: &'a str,
    pub params: &'a [(String, Value)],
}

impl RowContext<'_> {
    fn path(&self) -> String {
        format!(
            "{}/{}/{}/{}.json",
            self.req.base,
            self.database,
            tilde_encode(&self.table.name),
            self.pk_values
                .iter()
                .map(|v| tilde_encode(v))
                .collect::<Vec<_>>()
                .join(",")
        )
    }
}

/// Adds every requested row extra to `body`; unknown names are a 400.
pub async fn add(ctx: &RowContext<'_>, body: &mut Map<String, Json>) -> AppResult<()> {
    let extras = extra_names::requested(ctx.args, Scope::Row)?;
    let has = |name: &str| extras.contains(name);
    let limit = ctx.req.time_limit(ctx.args);
    if has("columns") {
        body.insert("columns".into(), json!(ctx.columns));
    }
    if has("foreign_key_tables") {
        body.insert("foreign_key_tables".into(), foreign_key_tables(ctx).await?);
    }
    if has("column_details") {
        let details = column_details(ctx.handle.clone(), &ctx.table.name, limit).await?;
        body.insert("column_details".into(), details);
    }
    if has("render_cell") {
        body.insert("render_cell".into(), json!(vec![json!({}); ctx.rows.len()]));
    }
    if has("debug") {
        body.insert(
            "debug".into(),
            json!({
                "url_vars": {
                    "database": ctx.database,
                    "table": ctx.table.name,
                    "pks": ctx.pk_values.join(","),
                    "format": "json",
                },
                "resolved": {
                    "table": ctx.table.name,
                    "sql": ctx.sql,
                    "params": params_json(ctx.params),
                    "pks": body.get("primary_keys"),
                    "pk_values": ctx.pk_values,
                },
            }),
        );
    }
    if has("request") {
        body.insert(
            "request".into(),
            request_json(ctx.req, &ctx.path(), ctx.args),
        );
    }
    if has("query") {
        body.insert(
            "query".into(),
            json!({"sql": ctx.sql, "params": params_json(ctx.params)}),
        );
    }
    if has("column_types") {
        body.insert("column_types".into(), json!({}));
    }
    if has("metadata") {
        body.insert("metadata".into(), json!({"columns": {}}));
    }
    if has("extras") {
        let listing =
            extra_names::listing(Scope::Row, &extras, &ctx.path(), ctx.args, &ctx.req.origin);
        body.insert("extras".into(), listing);
    }
    if has("database_color") {
        body.insert("database_color".into(), json!(database_color(ctx.database)));
    }
    if has("private") {
        let private = private(ctx.req, ctx.database, &ctx.table.name).await?;
        body.insert("private".into(), json!(private));
    }
    Ok(())
}

fn params_json(params: &[(String, Value)]) -> Json {
    let map: Map<String, Json> = params
        .iter()
        .map(|(k, v)| {
            (
                k.trim_start_matches(':').to_owned(),
                to_json(v, Infinity::Null),
            )
        })
        .collect();
    Json::Object(map)
}

/// One foreign key pointing at this row's table.
struct Incoming {
    other_table: String,
    /// The column of this table it references.
    column: String,
    /// The referencing column in the other table.
    other_column: String,
}

/// The rows of other tables (that the actor may view) referencing this row,
/// counted per foreign key; only for single-column keys.
async fn foreign_key_tables(ctx: &RowContext<'_>) -> AppResult<Json> {
    let [pk_value] = ctx.pk_values else {
        return Ok(json!([]));
    };
    let visible = viewable_keys(ctx, incoming_keys(ctx)).await?;
    if visible.is_empty() {
        return Ok(json!([]));
    }
    let Some(counts) = count_referencing(ctx, &visible, pk_value).await? else {
        return Ok(json!([]));
    };
    let items: Vec<Json> = visible
        .iter()
        .enumerate()
        .map(|(i, fk)| {
            let count = match counts.get(i) {
                Some(Value::Integer(n)) => *n,
                _ => 0,
            };
            foreign_key_item(ctx, fk, count, pk_value)
        })
        .collect();
    Ok(Json::Array(items))
}

/// Foreign keys of other tables (not views) that point at this table,
/// sorted by (other table, column, other column).
fn incoming_keys(ctx: &RowContext<'_>) -> Vec<Incoming> {
    let mut incoming: Vec<Incoming> = ctx
        .schema
        .tables
        .iter()
        .filter(|t| t.kind == "table")
        .flat_map(|t| {
            t.foreign_keys
                .iter()
                .filter(|fk| fk.other_table == ctx.table.name)
                .map(|fk| Incoming {
                    other_table: t.name.clone(),
                    column: fk.other_column.clone(),
                    other_column: fk.column.clone(),
                })
        })
        .collect();
    incoming.sort_by(|a, b| {
        (&a.other_table, &a.column, &a.other_column).cmp(&(
            &b.other_table,
            &b.column,
            &b.other_column,
        ))
    });
    incoming
}

/// The keys whose table the actor may view, in the same order.
async fn viewable_keys(ctx: &RowContext<'_>, incoming: Vec<Incoming>) -> AppResult<Vec<Incoming>> {
    let mut visible = Vec::new();
    for fk in incoming {
        let resource = Resource::Table(ctx.database.to_owned(), fk.other_table.clone());
        if ctx
            .req
            .app
            .allowed(ctx.req.space_id(), &ctx.req.actor, "view-table", resource)
            .await?
        {
            visible.push(fk);
        }
    }
    Ok(visible)
}

/// One statement counting, per key, the rows that reference `pk_value`;
/// `None` when it ran out of time.
async fn count_referencing(
    ctx: &RowContext<'_>,
    keys: &[Incoming],
    pk_value: &str,
) -> AppResult<Option<Vec<Value>>> {
    let counts: Vec<String> = keys
        .iter()
        .map(|fk| {
            format!(
                "(select count(*) from {} where {} = :id)",
                quote_ident(&fk.other_table),
                quote_ident(&fk.other_column)
            )
        })
        .collect();
    let sql = format!("select {}", counts.join(", "));
    let params = vec![(":id".into(), Value::Text(pk_value.to_owned()))];
    let statement = Statement::internal(sql, params, ctx.req.time_limit(ctx.args));
    match exec::run(ctx.handle.clone(), statement).await {
        Ok(result) => Ok(Some(
            result
                .rows
                .first()
                .map(|row| row.to_values())
                .unwrap_or_default(),
        )),
        Err(ReadError::TimedOut) => Ok(None),
        Err(other) => Err(crate::http::query::read_error(other)),
    }
}

/// One entry of `foreign_key_tables`, with a link to the referencing rows.
fn foreign_key_item(ctx: &RowContext<'_>, fk: &Incoming, count: i64, pk_value: &str) -> Json {
    let key = if fk.other_column.starts_with('_') {
        format!("{}__exact", fk.other_column)
    } else {
        fk.other_column.clone()
    };
    let link = format!(
        "{}/{}/{}?{key}={pk_value}",
        ctx.req.base,
        ctx.database,
        tilde_encode(&fk.other_table)
    );
    json!({
        "other_table": fk.other_table,
        "column": fk.column,
        "other_column": fk.other_column,
        "count": count,
        "link": link,
    })
}
