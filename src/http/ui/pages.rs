//! HTML pages of a space's root, a database and a query, rendered with
//! askama from `templates/` (values are escaped). The table and row pages
//! live in [`crate::http::ui`].

use askama::Template;
use axum::response::Response;

use crate::catalog::spaces;
use crate::error::{AppError, AppResult};
use crate::http::database::{DatabaseView, require_database};
use crate::http::tenant::SpaceRequest;
use crate::http::ui::{Cell, Chrome, html, human_size};
use crate::names::tilde_encode;
use crate::permissions::Resource;

struct TableLink {
    name: String,
    path: String,
    rows: Option<String>,
    columns: String,
    private: bool,
}

struct DatabaseSummary {
    name: String,
    size: String,
    tables: Vec<TableLink>,
    views: Vec<TableLink>,
    private: bool,
}

fn summary(base: &str, view: &DatabaseView) -> DatabaseSummary {
    let link = |t: &crate::http::database::TableView| TableLink {
        name: t.name.clone(),
        path: format!("{base}/{}/{}", view.name, tilde_encode(&t.name)),
        // Datasette's "Many rows" / ">10,000 rows".
        rows: match t.count {
            None => None,
            Some(n) if t.count_truncated => Some(format!(">{}", n - 1)),
            Some(n) => Some(n.to_string()),
        },
        columns: t.columns.join(", "),
        private: t.private,
    };
    DatabaseSummary {
        name: view.name.clone(),
        size: human_size(view.size),
        tables: view
            .tables
            .iter()
            .filter(|t| !t.hidden && t.kind == "table")
            .map(link)
            .collect(),
        views: view
            .tables
            .iter()
            .filter(|t| t.kind == "view")
            .map(link)
            .collect(),
        private: view.private,
    }
}

#[derive(Template)]
#[template(path = "space.html")]
struct SpacePage {
    chrome: Chrome,
    databases: Vec<DatabaseSummary>,
    members: Vec<(String, String)>,
}

pub async fn space(req: &SpaceRequest, views: &[DatabaseView]) -> AppResult<Response> {
    let chrome = Chrome::for_space(req).await?;
    let members = if chrome.member {
        let space_id = req.space_id();
        req.app
            .catalog
            .call(move |conn| spaces::members(conn, space_id))
            .await?
    } else {
        Vec::new()
    };
    html(SpacePage {
        databases: views.iter().map(|v| summary(&req.base, v)).collect(),
        chrome,
        members,
    })
}

#[derive(Template)]
#[template(path = "database.html")]
struct DatabasePage {
    chrome: Chrome,
    database: DatabaseSummary,
    allow_sql: bool,
    /// The actor holds `execute-write-sql` here (a link to that page).
    allow_write_sql: bool,
    /// The actor holds `create-table` here (a link to that form).
    allow_create_table: bool,
    /// Stored queries the actor may view: (title or name, path).
    queries: Vec<(String, String)>,
}

pub async fn database(
    req: &SpaceRequest,
    view: &DatabaseView,
    allow_sql: bool,
) -> AppResult<Response> {
    let stored = crate::http::query::stored_list::visible(req, &req.actor, Some(&view.name));
    let queries = stored
        .await?
        .iter()
        .map(|q| {
            let title = q.title.clone().filter(|t| !t.is_empty());
            let path = crate::http::query::stored::query_path(req, q);
            (title.unwrap_or_else(|| q.name.clone()), path)
        })
        .collect();
    let write_sql = Resource::Database(view.name.clone());
    let allow_write_sql = req
        .app
        .allowed(req.space_id(), &req.actor, "execute-write-sql", write_sql)
        .await?;
    html(DatabasePage {
        chrome: Chrome::for_space(req).await?,
        allow_write_sql,
        allow_create_table: super::tables::may_create(req, &view.name).await?,
        queries,
        database: summary(&req.base, view),
        allow_sql: allow_sql && req.space.settings.flag("default_allow_sql"),
    })
}

#[derive(Template)]
#[template(path = "query.html")]
struct QueryPage {
    chrome: Chrome,
    database: String,
    sql: String,
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
    truncated: bool,
    error: Option<String>,
    json_url: String,
    csv_url: String,
    ran: bool,
    /// The actor may store this SQL as a query ("Save this query").
    may_store: bool,
}

/// `/{db}/-/query?sql=`: the SQL editor and the result of its read-only query.
pub async fn query(req: &SpaceRequest, db: &str) -> AppResult<Response> {
    let args = req.args();
    let sql = args.get("sql").unwrap_or("").trim().to_owned();
    let database = require_database(req, db).await?;
    req.require(
        "execute-sql",
        Resource::Database(database.name.clone()),
        "You do not have permission to run SQL on this database",
    )
    .await?;
    if !req.space.settings.flag("default_allow_sql") {
        return Err(AppError::Forbidden("execute-sql".into()));
    }
    let limit = req.space.settings.int("truncate_cells_html");
    let (mut columns, mut rows, mut truncated, mut error) = (vec![], vec![], false, None);
    if !sql.is_empty() {
        match crate::http::query::run_user_sql_text(req, db, args).await {
            Ok(Ok(result)) => {
                rows = result
                    .rows
                    .to_values()
                    .iter()
                    .map(|r| r.iter().map(|v| Cell::value(v, limit)).collect())
                    .collect();
                columns = result.columns;
                truncated = result.truncated;
            }
            Ok(Err(message)) => error = Some(message),
            Err(AppError::BadRequest(message)) => error = Some(message),
            Err(other) => return Err(other),
        }
    }
    let query = req.query().unwrap_or_default().to_owned();
    let path = format!("{}/{}/-/query", req.base, database.name);
    let may_store = req
        .app
        .allowed(
            req.space_id(),
            &req.actor,
            "store-query",
            Resource::Database(database.name.clone()),
        )
        .await?;
    html(QueryPage {
        chrome: Chrome::for_space(req).await?,
        json_url: format!("{path}.json?{query}"),
        csv_url: format!("{path}.csv?{query}"),
        database: database.name,
        ran: !sql.is_empty(),
        may_store: may_store && error.is_none() && !sql.is_empty(),
        sql,
        columns,
        rows,
        truncated,
        error,
    })
}
