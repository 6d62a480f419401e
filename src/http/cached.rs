//! Serving reads from the result cache: table, row and query JSON are kept
//! under (space, database, change counter, actor, request). The actor's
//! permission is checked again before every hit (decisions are cached for at
//! most a second), and `If-None-Match` is answered with 304.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::database::{open_counted, require_database};
use super::routes::{Format, SpaceRoute};
use super::tenant::{SpaceRequest, dispatch};
use crate::cache::{CacheKey, not_modified};
use crate::error::AppResult;
use crate::permissions::Resource;
use crate::read::args::Args;

/// The database, action and resource whose permission guards a cacheable route.
fn guard(route: &SpaceRoute) -> Option<(&str, &'static str, Resource)> {
    match route {
        SpaceRoute::Table(db, table, Format::Json)
        | SpaceRoute::Row(db, table, _, Format::Json) => {
            Some((db, "view-table", Resource::Table(db.clone(), table.clone())))
        }
        SpaceRoute::Query(db, Format::Json) => {
            Some((db, "execute-sql", Resource::Database(db.clone())))
        }
        _ => None,
    }
}

pub async fn serve(
    req: &SpaceRequest,
    route: &SpaceRoute,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let args = Args::parse(req.query.as_deref());
    let Some((db, action, resource)) = guard(route) else {
        return dispatch(req, route).await;
    };
    // Answers that must be fresh or that carry per-request detail are never cached.
    if args.has("_trace") || args.has("_stream") {
        return dispatch(req, route).await;
    }
    if !req
        .app
        .allowed(req.space_id(), &req.actor, action, resource)
        .await?
    {
        return dispatch(req, route).await; // the handler answers the refusal
    }
    let Ok(database) = require_database(req, db).await else {
        return dispatch(req, route).await;
    };
    let version = open_counted(req, &database).await?;
    let key = CacheKey {
        space_id: req.space_id(),
        database: database.name.clone(),
        version,
        actor: (req.actor.user_id, req.actor.token.as_ref().map(|t| t.id)),
        request: format!("{route:?}?{}", req.query.as_deref().unwrap_or("")),
    };
    if let Some(hit) = req.app.results.get(&key).await {
        if not_modified(headers, &hit.etag) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(value) = HeaderValue::from_str(&hit.etag) {
                response.headers_mut().insert(header::ETAG, value);
            }
            return Ok(response);
        }
        return Ok(hit.response());
    }
    let response = dispatch(req, route).await?;
    Ok(req.app.results.store(key, response).await)
}
