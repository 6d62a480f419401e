//! HTML pages, rendered with askama from `templates/` (values are escaped).

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::database::{DatabaseView, TableView};
use super::tenant::SpaceRequest;
use crate::error::AppResult;

struct DatabaseSummary {
    name: String,
    tables_count: usize,
    rows: u64,
    private: bool,
}

#[derive(Template)]
#[template(path = "space.html")]
struct SpacePage<'a> {
    space: &'a str,
    base: &'a str,
    databases: Vec<DatabaseSummary>,
}

#[derive(Template)]
#[template(path = "database.html")]
struct DatabasePage<'a> {
    space: &'a str,
    base: &'a str,
    database: &'a str,
    tables: Vec<&'a TableView>,
}

fn html(page: impl Template) -> AppResult<Response> {
    let body = page.render().map_err(anyhow::Error::from)?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

pub fn space(req: &SpaceRequest, views: &[DatabaseView]) -> AppResult<Response> {
    let databases = views
        .iter()
        .map(|v| DatabaseSummary {
            name: v.name.clone(),
            tables_count: v
                .tables
                .iter()
                .filter(|t| !t.hidden && t.kind == "table")
                .count(),
            rows: v
                .tables
                .iter()
                .filter(|t| !t.hidden)
                .filter_map(|t| t.count)
                .sum(),
            private: v.private,
        })
        .collect();
    html(SpacePage {
        space: &req.space.space.name,
        base: &req.base,
        databases,
    })
}

pub fn database(req: &SpaceRequest, view: &DatabaseView) -> AppResult<Response> {
    html(DatabasePage {
        space: &req.space.space.name,
        base: &req.base,
        database: &view.name,
        tables: view.tables.iter().filter(|t| !t.hidden).collect(),
    })
}

/// Rows as a plain HTML table (the full table page comes with the web UI).
#[derive(Template)]
#[template(path = "rows.html")]
struct RowsPage<'a> {
    space: &'a str,
    base: &'a str,
    title: &'a str,
    sql: Option<&'a str>,
    columns: &'a [String],
    rows: Vec<Vec<String>>,
}

fn cells(rows: &[Vec<libsql::Value>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(crate::read::values::to_text).collect())
        .collect()
}

pub fn table(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    columns: &[String],
    rows: &[Vec<libsql::Value>],
) -> AppResult<Response> {
    let title = format!("{db}: {table}");
    html(RowsPage {
        space: &req.space.space.name,
        base: &req.base,
        title: &title,
        sql: None,
        columns,
        rows: cells(rows),
    })
}

pub fn query(
    req: &SpaceRequest,
    db: &str,
    sql: &str,
    columns: &[String],
    rows: &[Vec<libsql::Value>],
) -> AppResult<Response> {
    html(RowsPage {
        space: &req.space.space.name,
        base: &req.base,
        title: db,
        sql: Some(sql),
        columns,
        rows: cells(rows),
    })
}
