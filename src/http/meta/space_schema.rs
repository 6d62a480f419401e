//! `/{space}/-/schema.json` and `/-/schema.md`: the schema of every database
//! of the space the actor may view, each as `/{db}/-/schema.json` shows it.

use axum::response::Response;
use serde_json::json;

use crate::error::AppResult;
use crate::http::database::schema::{database_sql, markdown_response, markdown_section};
use crate::http::database::visible_database_names;
use crate::http::json_response;
use crate::http::tenant::SpaceRequest;

pub async fn show(req: &SpaceRequest, markdown: bool) -> AppResult<Response> {
    let rows = req.app.databases(req.space_id()).await?;
    let mut schemas = Vec::new();
    // By name, as the databases the actor may view are listed.
    for name in visible_database_names(req).await? {
        if let Some(row) = rows.iter().find(|r| r.name == name) {
            schemas.push((name, database_sql(req, row).await?));
        }
    }
    if markdown {
        // Unlike a single database's, the whole space's Markdown has no final newline (as Datasette).
        let parts: Vec<String> = schemas
            .iter()
            .map(|(name, schema)| markdown_section(name, schema))
            .collect();
        return Ok(markdown_response(parts.join("\n\n")));
    }
    let schemas: Vec<_> = schemas
        .into_iter()
        .map(|(database, schema)| json!({"database": database, "schema": schema}))
        .collect();
    Ok(json_response(json!({"ok": true, "schemas": schemas})))
}
