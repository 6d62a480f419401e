//! Stored queries' pages: one per query (its description, SQL, a form for
//! its parameters and its results, or for a writable query the form that
//! runs it) and the lists at `/-/queries` and `/{db}/-/queries`.

use askama::Template;
use axum::response::Response;
use serde_json::Value as Json;

use crate::error::{AppError, AppResult};
use crate::http::query::stored::may;
use crate::http::query::stored_run::Found;
use crate::http::tenant::SpaceRequest;
use crate::http::ui::{Cell, Chrome, html};
use crate::read::args::Args;

/// A parameter's field on a query's form.
struct Param {
    name: String,
    value: String,
}

#[derive(Template)]
#[template(path = "stored_query.html")]
struct QueryPage {
    chrome: Chrome,
    database: String,
    name: String,
    title: String,
    description: Option<String>,
    sql: Option<String>,
    path: String,
    params: Vec<Param>,
    is_write: bool,
    is_private: bool,
    may_delete: bool,
    /// After a writable query ran: its message, and whether it succeeded.
    note: Option<(String, bool)>,
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
    truncated: bool,
    error: Option<String>,
    query_string: String,
}

/// `/{db}/{name}` as a page.
pub async fn page(
    req: &SpaceRequest,
    found: &Found,
    args: &Args,
    note: Option<(String, bool)>,
) -> AppResult<Response> {
    let query = &found.query;
    let (mut columns, mut rows, mut truncated, mut error) = (vec![], vec![], false, None);
    if !query.is_write {
        let limit = req.space.settings.int("truncate_cells_html");
        let sql = query.sql.clone();
        match crate::http::query::run_sql(req, &found.database, sql, args).await {
            Ok(Ok(result)) => {
                columns = result.columns;
                truncated = result.truncated;
                rows = result
                    .rows
                    .to_values()
                    .iter()
                    .map(|r| r.iter().map(|v| Cell::value(v, limit)).collect())
                    .collect();
            }
            Ok(Err(message)) | Err(AppError::BadRequest(message)) => error = Some(message),
            Err(other) => return Err(other),
        }
    }
    let params = query
        .parameters
        .iter()
        .map(|name| Param {
            value: args.get(name).unwrap_or("").to_owned(),
            name: name.clone(),
        })
        .collect();
    html(QueryPage {
        chrome: Chrome::for_space(req).await?,
        database: found.database.name.clone(),
        name: query.name.clone(),
        title: query
            .title
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| query.name.clone()),
        description: query.description.clone().filter(|d| !d.is_empty()),
        sql: (!query.hide_sql).then(|| query.sql.clone()),
        path: crate::http::query::stored::query_path(req, query),
        params,
        is_write: query.is_write,
        is_private: query.is_private,
        may_delete: may(req, "delete-query", query).await?,
        note,
        columns,
        rows,
        truncated,
        error,
        query_string: req.query().unwrap_or_default().to_owned(),
    })
}

/// One query in a list.
struct Listed {
    name: String,
    title: String,
    database: String,
    description: String,
    path: String,
    is_private: bool,
    is_write: bool,
}

#[derive(Template)]
#[template(path = "queries.html")]
struct ListPage {
    chrome: Chrome,
    database: Option<String>,
    queries: Vec<Listed>,
    q: String,
    next_url: Option<String>,
}

/// `/-/queries` and `/{db}/-/queries` from the listing's JSON body.
pub async fn list_page(req: &SpaceRequest, body: Json) -> AppResult<Response> {
    let text = |v: &Json, key: &str| v[key].as_str().unwrap_or("").to_owned();
    let queries = body["queries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| Listed {
            path: format!(
                "{}/{}/{}",
                req.base,
                text(q, "database"),
                crate::names::tilde_encode(&text(q, "name"))
            ),
            title: Some(text(q, "title"))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| text(q, "name")),
            name: text(q, "name"),
            database: text(q, "database"),
            description: text(q, "description"),
            is_private: q["is_private"].as_bool().unwrap_or(false),
            is_write: q["is_write"].as_bool().unwrap_or(false),
        })
        .collect();
    html(ListPage {
        chrome: Chrome::for_space(req).await?,
        database: body["database"].as_str().map(str::to_owned),
        queries,
        q: body["filters"]["q"].as_str().unwrap_or("").to_owned(),
        next_url: body["next_url"].as_str().map(str::to_owned),
    })
}
