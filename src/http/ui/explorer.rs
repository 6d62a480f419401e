//! The API explorer, `/{space}/-/api`: the JSON API's endpoints filled in
//! with the databases, tables and views the actor may see (the same
//! `visible_databases` the space page lists), write endpoints only where the
//! actor holds the right, and a form that sends a request from the page.
//! It names nothing the actor could not already list: a hidden space is
//! the router's 404 before this runs, and another space is never read.

use askama::Template;
use axum::response::Response;
use serde_json::json;

use super::{Chrome, html};
use crate::error::{AppError, AppResult};
use crate::http::database::{self, Counts};
use crate::http::tenant::SpaceRequest;
use crate::http::write::may;
use crate::names::tilde_encode;
use crate::permissions::Resource;

/// The most tables and views listed.
const MAX_TABLES: usize = 200;

/// One request the page offers.
pub struct Endpoint {
    pub method: &'static str,
    pub path: String,
    pub what: &'static str,
    /// An example JSON body (POST).
    pub body: String,
}

/// The endpoints of the space, or of one database.
pub struct Group {
    pub title: String,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Template)]
#[template(path = "api_explorer.html")]
struct ExplorerPage {
    chrome: Chrome,
    groups: Vec<Group>,
    /// The actor may send some POST.
    may_post: bool,
    first: String,
    truncated: bool,
}

fn get(path: String, what: &'static str) -> Endpoint {
    Endpoint {
        method: "GET",
        path,
        what,
        body: String::new(),
    }
}

fn post(path: String, what: &'static str, body: serde_json::Value) -> Endpoint {
    Endpoint {
        method: "POST",
        path,
        what,
        body: serde_json::to_string_pretty(&body).unwrap_or_default(),
    }
}

/// `GET /{space}/-/api`.
pub async fn page(req: &SpaceRequest) -> AppResult<Response> {
    req.require("view-instance", Resource::Space, "view-instance")
        .await?;
    let base = req.base.clone();
    let mut groups = vec![Group {
        title: "This space".into(),
        endpoints: vec![
            get(format!("{base}/.json"), "databases and their tables"),
            get(format!("{base}/-/databases.json"), "databases"),
            get(format!("{base}/-/actor.json"), "who you are"),
            get(format!("{base}/-/queries.json"), "stored queries"),
        ],
    }];
    let mut listed = 0;
    let mut truncated = false;
    for view in database::visible_databases(req, Counts::Skip).await? {
        let db = view.name.as_str();
        let db_path = format!("{base}/{}", tilde_encode(db));
        let mut endpoints = database_endpoints(req, db, &db_path).await?;
        for table in view.tables.iter().filter(|t| !t.hidden) {
            if listed == MAX_TABLES {
                truncated = true;
                break;
            }
            listed += 1;
            let path = format!("{db_path}/{}", tilde_encode(&table.name));
            endpoints.push(get(format!("{path}.json"), "rows"));
            if table.kind != "table" {
                continue;
            }
            endpoints.push(get(format!("{path}/-/schema.json"), "schema"));
            let row: serde_json::Map<String, serde_json::Value> = table
                .columns
                .iter()
                .map(|c| (c.clone(), serde_json::Value::Null))
                .collect();
            let insert = may(req, "insert-row", db, &table.name).await?;
            if insert {
                let body = json!({"rows": [row]});
                endpoints.push(post(format!("{path}/-/insert"), "insert rows", body));
            }
            if insert && may(req, "update-row", db, &table.name).await? {
                let body = json!({"rows": [row]});
                endpoints.push(post(format!("{path}/-/upsert"), "upsert rows", body));
            }
            if may(req, "drop-table", db, &table.name).await? {
                let body = json!({});
                endpoints.push(post(
                    format!("{path}/-/drop"),
                    "drop (asks to confirm)",
                    body,
                ));
            }
        }
        groups.push(Group {
            title: view.name.clone(),
            endpoints,
        });
    }
    let may_post = groups
        .iter()
        .flat_map(|g| &g.endpoints)
        .any(|e| e.method == "POST");
    html(ExplorerPage {
        chrome: Chrome::for_space(req).await?,
        first: format!("{base}/.json"),
        groups,
        may_post,
        truncated,
    })
}

/// A database's own endpoints the actor may use.
async fn database_endpoints(req: &SpaceRequest, db: &str, path: &str) -> AppResult<Vec<Endpoint>> {
    let allowed = |action: &'static str| {
        req.app.allowed(
            req.space_id(),
            &req.actor,
            action,
            Resource::Database(db.to_owned()),
        )
    };
    let mut endpoints = vec![get(format!("{path}.json"), "tables and views")];
    if allowed("execute-sql").await.map_err(AppError::from)?
        && req.space.settings.flag("default_allow_sql")
    {
        endpoints.push(get(
            format!("{path}.json?sql=select+sqlite_version()"),
            "read-only SQL",
        ));
    }
    if allowed("create-table").await.map_err(AppError::from)? {
        let body = json!({"table": "new_table", "columns": [
            {"name": "id", "type": "integer"}, {"name": "name", "type": "text"}], "pk": "id"});
        endpoints.push(post(format!("{path}/-/create"), "create a table", body));
    }
    if allowed("execute-write-sql").await.map_err(AppError::from)? {
        let body = json!({"sql": "update some_table set x = :x where id = :id", "params": {"x": 1, "id": 1}});
        endpoints.push(post(format!("{path}/-/execute-write"), "write SQL", body));
    }
    Ok(endpoints)
}
