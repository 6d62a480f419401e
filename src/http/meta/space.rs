//! A space's root: `/{space}/.json` (its databases and their biggest tables)
//! and `/{space}/-/databases.json`.

use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::http::database::{self, DatabaseView, TableView};
use crate::http::json_response;
use crate::http::routes::Format;
use crate::http::tenant::SpaceRequest;
use crate::http::ui::pages;
use crate::permissions::Resource;

/// How many tables `/.json` shows per database, as Datasette.
const TRUNCATE_TABLES: usize = 5;

/// Datasette's colour for a database: a stable function of its name.
fn color(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..3])
}

pub async fn index(req: &SpaceRequest, format: Format) -> AppResult<Response> {
    if !req
        .app
        .allowed(req.space_id(), &req.actor, "view-instance", Resource::Space)
        .await?
    {
        return Err(AppError::Forbidden("view-instance".into()));
    }
    let views = database::visible_databases(req, database::Counts::Index).await?;
    if format == Format::Html {
        return pages::space(req, &views).await;
    }
    let databases: Vec<Value> = views.iter().map(|v| summary(req, v)).collect();
    Ok(json_response(json!({
        "ok": true,
        "unstable": "This API is not part of Datasette's stable interface and may change at any time",
        "databases": databases,
        "metadata": {},
    })))
}

fn summary(req: &SpaceRequest, view: &DatabaseView) -> Value {
    let visible: Vec<_> = view
        .tables
        .iter()
        .filter(|t| !t.hidden && t.kind == "table")
        .collect();
    let hidden: Vec<_> = view
        .tables
        .iter()
        .filter(|t| t.hidden && t.kind == "table")
        .collect();
    let views_count = view.tables.iter().filter(|t| t.kind == "view").count();
    // As Datasette: one count that ran out of time drops them all, and the
    // biggest tables are then the most connected.
    let counted = view
        .tables
        .iter()
        .filter(|t| t.kind == "table")
        .all(|t| t.count.is_some());
    let count = |t: &TableView| if counted { t.count } else { None };
    let relationships = |t: &TableView| t.incoming.len() + t.outgoing.len();
    let mut biggest = visible.clone();
    if counted {
        biggest.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    } else {
        biggest.sort_by(|a, b| {
            relationships(b)
                .cmp(&relationships(a))
                .then_with(|| a.name.cmp(&b.name))
        });
    }
    let truncated: Vec<Value> = biggest
        .iter()
        .take(TRUNCATE_TABLES)
        .map(|t| {
            json!({
                "name": t.name,
                "columns": t.columns,
                "primary_keys": t.primary_keys,
                "count": count(t),
                "hidden": false,
                "fts_table": t.fts_table,
                "num_relationships_for_sorting": relationships(t),
                "private": t.private,
            })
        })
        .collect();
    json!({
        "name": view.name,
        "hash": null,
        "color": color(&view.name),
        "path": format!("{}/{}", req.base, view.name),
        "tables_and_views_truncated": truncated,
        "tables_and_views_more": visible.len() + views_count > TRUNCATE_TABLES,
        "tables_count": visible.len(),
        "table_rows_sum": visible.iter().filter_map(|t| count(t)).sum::<u64>(),
        "show_table_row_counts": counted,
        "hidden_table_rows_sum": hidden.iter().filter_map(|t| count(t)).sum::<u64>(),
        "hidden_tables_count": hidden.len(),
        "views_count": views_count,
        "private": view.private,
    })
}

pub async fn databases(req: &SpaceRequest) -> AppResult<Response> {
    if !req
        .app
        .allowed(req.space_id(), &req.actor, "view-instance", Resource::Space)
        .await?
    {
        return Err(AppError::Forbidden("view-instance".into()));
    }
    let names = database::visible_database_names(req).await?;
    let rows = req.app.databases(req.space_id()).await?;
    let hash = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .and_then(|r| r.immutable_hash.clone())
    };
    let space = req.space.space.name.clone();
    let databases: Vec<Value> = names
        .iter()
        .map(|name| {
            let hash = hash(name);
            let size = std::fs::metadata(req.app.data.database_file(&space, name))
                .map(|m| m.len())
                .unwrap_or(0);
            json!({
                "name": name,
                "route": name,
                "path": format!("{name}.db"),
                "size": size,
                "is_mutable": hash.is_none(),
                "is_memory": false,
                "hash": hash,
            })
        })
        .collect();
    Ok(json_response(json!({"ok": true, "databases": databases})))
}
