//! `/{space}/-/audit.json`: the space's audit log, newest first, for its
//! owners — paged with `?_next=`, filtered by `database`, `table`, `actor`
//! and `event`, `_size` rows a page (default 100, at most 1000).

use axum::response::Response;
use serde_json::json;

use crate::catalog::audit::{self, Filter};
use crate::error::{AppError, AppResult};
use crate::http::json_response;
use crate::http::tenant::SpaceRequest;

pub async fn show(req: &SpaceRequest) -> AppResult<Response> {
    // Owners hold permissions-debug; other roles do not.
    if req.actor.user_id.is_none()
        || !req
            .app
            .allowed(
                req.space_id(),
                &req.actor,
                "permissions-debug",
                crate::permissions::Resource::Space,
            )
            .await?
    {
        return Err(AppError::Forbidden(
            "Permission denied: only space owners may read the audit log".into(),
        ));
    }
    let args = req.args();
    let text = |k: &str| args.get(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let filter = Filter {
        database: text("database"),
        table: text("table"),
        actor: text("actor"),
        event: text("event"),
        before: match text("_next") {
            Some(n) => Some(
                n.parse()
                    .map_err(|_| AppError::BadRequest("_next must be an integer".into()))?,
            ),
            None => None,
        },
        limit: match text("_size") {
            Some(n) => n
                .parse()
                .map_err(|_| AppError::BadRequest("_size must be a positive integer".into()))?,
            None => 100,
        },
    };
    let space_id = req.space_id();
    let query_filter = filter.clone();
    let (events, next) = req
        .app
        .catalog
        .call(move |conn| audit::list(conn, space_id, &query_filter))
        .await?;
    let next_url = next.map(|n| {
        let query = args.replaced(&["_next"], &[("_next", &n.to_string())]);
        req.absolute_url(&format!("{}/-/audit.json?{query}", req.base))
    });
    Ok(json_response(json!({
        "ok": true,
        "events": events,
        "next": next.map(|n| n.to_string()),
        "next_url": next_url,
    })))
}
