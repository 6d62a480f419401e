//! Small endpoints every space has: `/-/actor.json`, `/-/versions.json`,
//! `/-/settings.json`, `/-/threads.json`.

use axum::response::Response;
use serde_json::json;

use crate::error::AppResult;
use crate::http::json_response;
use crate::http::tenant::SpaceRequest;
use crate::sqlite;

pub fn actor(req: &SpaceRequest) -> AppResult<Response> {
    Ok(json_response(
        json!({"ok": true, "actor": req.actor.to_json()}),
    ))
}

/// `/-/threads.json`: for those with `permissions-debug` (owners), the
/// runtime's worker threads and live tasks.
pub async fn threads(req: &SpaceRequest) -> AppResult<Response> {
    req.require(
        "permissions-debug",
        crate::permissions::Resource::Space,
        "permissions-debug",
    )
    .await?;
    let metrics = tokio::runtime::Handle::current().metrics();
    Ok(json_response(json!({
        "ok": true,
        "num_threads": metrics.num_workers(),
        "threads": [],
        "num_tasks": metrics.num_alive_tasks(),
        "tasks": [],
    })))
}

pub fn settings(req: &SpaceRequest) -> AppResult<Response> {
    let mut body = req.space.settings.to_json();
    body["ok"] = json!(true);
    Ok(json_response(body))
}

/// libsette's version, the Datasette API level it speaks, and its SQLite.
pub async fn versions(req: &SpaceRequest) -> AppResult<Response> {
    let catalog = req.app.catalog.clone();
    let (sqlite_version, compile_options) = catalog
        .call(|conn| {
            let version = sqlite::query_one(conn, "select sqlite_version()", ())?
                .map(|r| r.get::<String>(0))
                .transpose()?
                .unwrap_or_default();
            let options = sqlite::query_all(conn, "pragma compile_options", ())?
                .iter()
                .map(|r| r.get::<String>(0))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok((version, options))
        })
        .await?;
    let fts: Vec<&str> = ["FTS5", "FTS4", "FTS3"]
        .into_iter()
        .filter(|v| compile_options.iter().any(|o| o == &format!("ENABLE_{v}")))
        .collect();
    Ok(json_response(json!({
        "ok": true,
        "libsette": {"version": env!("CARGO_PKG_VERSION")},
        "datasette": {"version": crate::DATASETTE_API_VERSION},
        "sqlite": {
            "version": sqlite_version,
            "fts_versions": fts,
            "extensions": {"json1": true},
            "compile_options": compile_options,
        },
    })))
}
