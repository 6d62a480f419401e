//! A table or view: `/{space}/{db}/{table}.json` — rows with filters, sort,
//! keyset pagination and every `_shape`. The steps are: resolve and check
//! permission, build conditions (filters, search, `_where`), plan and run the
//! page query, then add extras (labels, facets, `_extra=`) and shape.

pub(crate) mod autocomplete;
pub(crate) mod extra_names;
pub(crate) mod extra_values;
pub(crate) mod extras;
pub(crate) mod facets;
pub(crate) mod filters;
pub(crate) mod labels;

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use crate::catalog::databases::DatabaseRow;
use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::http::database::{ViewableTable, open_viewable_table};
use crate::http::render::shape::{Output, Shape, respond};
use crate::http::routes::Format;
use crate::http::tenant::SpaceRequest;
use crate::names::tilde_encode;
use crate::read::args::Args;
use crate::read::cells::Rows;
use crate::read::exec::{self, Statement};
use crate::read::table_sql::{self, Conditions, PagePlan, TableInfo, row_path};
use crate::tenant::{Schema, TenantDb};

/// Everything known about one table request once its page has been read.
pub struct TableContext<'a> {
    pub req: &'a SpaceRequest,
    pub args: &'a Args,
    pub database: DatabaseRow,
    pub handle: Arc<TenantDb>,
    pub schema: Arc<Schema>,
    pub info: TableInfo,
    pub conditions: Conditions,
    pub plan: PagePlan,
    /// The page's rows (at most `plan.page_size`), columns as `plan.columns`.
    pub rows: Rows,
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
    if let Some(redirect) = filters::form_redirect(req, db, table, format).await? {
        return Ok(redirect);
    }
    if format == Format::Csv {
        return crate::http::render::csv::table(req, db, table).await;
    }
    let ctx = read_page(req, db, table).await?;
    if format == Format::Html {
        return crate::http::ui::table::page(ctx).await;
    }
    let mut output = Output::from_args(ctx.args)?;
    output.labels = extras::labels(&ctx).await?;
    // Each row's key, only for the shape that writes it (`_shape=object`).
    let keyed = output.shape == Shape::Object;
    let keys = (keyed && !ctx.info.is_view && !ctx.info.pks.is_empty()).then(|| {
        let key_index: Vec<usize> = ctx
            .info
            .pks
            .iter()
            .filter_map(|k| ctx.plan.columns.iter().position(|c| c == k))
            .collect();
        ctx.rows
            .iter()
            .map(|row| {
                let key: Vec<_> = key_index.iter().map(|&i| row.value(i)).collect();
                row_path(&key)
            })
            .collect()
    });
    let mut body = Map::new();
    body.insert("ok".into(), json!(true));
    body.insert("next".into(), json!(ctx.next));
    body.insert("next_url".into(), json!(ctx.next_url));
    body.insert("rows".into(), Json::Null);
    body.insert("truncated".into(), json!(false));
    extras::add(&ctx, &mut body).await?;
    let mut response = respond(&output, body, &ctx.plan.columns, &ctx.rows, keys)?;
    // Clients that read bare lists (`_shape=array`) find the next page here.
    if let Some(next) = &ctx.next_url
        && let Ok(value) = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, value);
    }
    Ok(response)
}

/// Resolves the table, checks the actor may view it, and reads the requested page.
pub async fn read_page<'a>(
    req: &'a SpaceRequest,
    db: &str,
    table: &str,
) -> AppResult<TableContext<'a>> {
    let opened = open_viewable_table(req, db, table).await?;
    let args = req.args();
    Output::from_args(args)?;
    let info = TableInfo::from_schema(opened.table());
    let settings = &req.space.settings;
    let conditions =
        filters::conditions(req, &opened.database, &opened.schema, opened.table(), args).await?;
    let ViewableTable {
        database,
        handle,
        schema,
        ..
    } = opened;
    let plan = table_sql::plan(
        &info,
        args,
        &conditions,
        settings.int("default_page_size") as usize,
        settings.int("max_returned_rows") as usize,
    )
    .map_err(|e| AppError::BadRequest(e.0))?;
    let result = exec::run(
        handle.clone(),
        Statement {
            params: plan.params.0.clone(),
            user_sql: conditions.user_sql,
            ..Statement::internal(plan.sql.clone(), vec![], req.time_limit(args))
        },
    )
    .await
    .map_err(crate::http::query::read_error)?;
    let mut rows = result.rows;
    let sort_value = plan
        .sort_index
        .and_then(|i| rows.get(plan.page_size.wrapping_sub(1)).map(|r| r.value(i)));
    let next = table_sql::next_token(&plan, &info, &rows, sort_value.as_ref());
    rows.truncate(plan.page_size);
    rows.keep_columns(plan.columns.len());
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
