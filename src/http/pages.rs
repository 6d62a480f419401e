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
