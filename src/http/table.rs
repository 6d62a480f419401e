//! A table or view: `/{space}/{db}/{table}.json` — rows with filters, sort,
//! keyset pagination and every `_shape`. The steps are: resolve and check
//! permission, build conditions (filters, search, `_where`), plan and run the
//! page query, then add extras (labels, facets, `_extra=`) and shape.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use super::database::{open_synced, require_database};
use super::routes::Format;
use super::shape::{Output, respond};
use super::table_extras;
use super::tenant::SpaceRequest;
use crate::catalog::databases::DatabaseRow;
use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::names::tilde_encode;
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::exec::{self, Statement};
use crate::read::filters;
use crate::read::table_sql::{self, Conditions, PagePlan, TableInfo, row_path};
use crate::tenant::{Schema, TenantDb};

/// Everything known about one table request once its page has been read.
pub struct TableContext<'a> {
    pub req: &'a SpaceRequest,
    pub args: Args,
    pub database: DatabaseRow,
    pub handle: Arc<TenantDb>,
    pub schema: Arc<Schema>,
    pub info: TableInfo,
    pub conditions: Conditions,
    pub plan: PagePlan,
    /// The page's rows (at most `plan.page_size`), columns as `plan.columns`.
    pub rows: Vec<Vec<libsql::Value>>,
    pub next: Option<String>,
    pub next_url: Option<String>,
}

impl TableContext<'_> {
    /// The table's schema as mirrored.
    pub fn table(&self) -> &TableSchema {
        self.schema
            .table(&self.info.name)
            .expect("the table was found when the context was built")
    }

    /// `/{space}/{db}/{table}` as written in URLs.
    pub fn table_path(&self) -> String {
        format!(
            "{}/{}/{}",
            self.req.base,
            self.database.name,
            tilde_encode(&self.info.name)
        )
    }
}

pub async fn show(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    format: Format,
) -> AppResult<Response> {
    if format == Format::Html
        && let Some(redirect) = super::ui::table::form_redirect(req, db, table)
    {
        return Ok(redirect);
    }
    let ctx = read_page(req, db, table).await?;
    if format == Format::Html {
        return super::ui::table::page(ctx).await;
    }
    let output = Output::from_args(&ctx.args)?;
    let keys = (!ctx.info.is_view && !ctx.info.pks.is_empty()).then(|| {
        let key_index: Vec<usize> = ctx
            .info
            .pks
            .iter()
            .filter_map(|k| ctx.plan.columns.iter().position(|c| c == k))
            .collect();
        ctx.rows
            .iter()
            .map(|row| row_path(&key_index.iter().map(|&i| &row[i]).collect::<Vec<_>>()))
            .collect()
    });
    let mut body = Map::new();
    body.insert("ok".into(), json!(true));
    body.insert("next".into(), json!(ctx.next));
    body.insert("next_url".into(), json!(ctx.next_url));
    body.insert("rows".into(), Json::Null);
    body.insert("truncated".into(), json!(false));
    table_extras::add(&ctx, &mut body).await?;
    respond(&output, body, &ctx.plan.columns, &ctx.rows, keys)
}

/// Resolves the table, checks the actor may view it, and reads the requested page.
pub async fn read_page<'a>(
    req: &'a SpaceRequest,
    db: &str,
    table: &str,
) -> AppResult<TableContext<'a>> {
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
    Output::from_args(&args)?;
    let info = TableInfo::from_schema(schema_table);
    let settings = &req.space.settings;
    let conditions = filters::conditions(&info, &args).map_err(|e| AppError::BadRequest(e.0))?;
    let plan = table_sql::plan(
        &info,
        &args,
        &conditions,
        settings.int("default_page_size") as usize,
        settings.int("max_returned_rows") as usize,
    )
    .map_err(|e| AppError::BadRequest(e.0))?;
    let result = exec::run(
        handle.clone(),
        Statement {
            params: plan.params.0.clone(),
            ..Statement::internal(plan.sql.clone(), vec![], req.time_limit(&args))
        },
    )
    .await
    .map_err(super::query::read_error)?;
    let mut rows = result.rows;
    let sort_value = plan.sort_index.and_then(|i| {
        rows.get(plan.page_size.wrapping_sub(1))
            .map(|r| r[i].clone())
    });
    let next = table_sql::next_token(&plan, &info, &rows, sort_value.as_ref());
    rows.truncate(plan.page_size);
    for row in &mut rows {
        row.truncate(plan.columns.len());
    }
    let next_url = next.as_ref().map(|token| {
        let mut add = vec![("_next", token.as_str())];
        if let Some(s) = &plan.sort {
            add.push(("_sort", s));
        } else if let Some(s) = &plan.sort_desc {
            add.push(("_sort_desc", s));
        }
        let query = args.replaced(&["_next", "_sort", "_sort_desc"], &add);
        req.absolute_url(&format!(
            "{}/{}/{}.json?{query}",
            req.base,
            database.name,
            tilde_encode(table)
        ))
    });
    Ok(TableContext {
        req,
        args,
        database,
        handle,
        schema,
        info,
        conditions,
        plan,
        rows,
        next,
        next_url,
    })
}
