//! Serving reads from the result cache: table, row and query JSON are kept
//! under (space, database, file stamp, actor, request, URL base). The actor's
//! permission is checked again before every hit (decisions are cached for at
//! most a second), and an `If-None-Match` naming the key's ETag is answered
//! with 304. A hit opens no database and never leaves the async worker: the
//! stamp is two `stat` calls.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::cache::{CacheKey, not_modified};
use crate::catalog::databases::DatabaseRow;
use crate::error::AppResult;
use crate::http::routes::{Format, SpaceRoute};
use crate::http::tenant::{SpaceRequest, dispatch};
use crate::permissions::Resource;
use crate::read::args::Args;

/// The action and resource whose permission guards a cacheable route.
fn guard(route: &SpaceRoute, db: &str) -> Option<(&'static str, Resource)> {
    match route {
        SpaceRoute::Table(_, table, Format::Json) | SpaceRoute::Row(_, table, _, Format::Json) => {
            Some(("view-table", Resource::Table(db.to_owned(), table.clone())))
        }
        SpaceRoute::Query(_, Format::Json) => {
            Some(("execute-sql", Resource::Database(db.to_owned())))
        }
        _ => None,
    }
}

/// Answers `route` from the cache when it can; `database` is the database
/// the route names, as the router found it.
pub async fn serve(
    req: &SpaceRequest,
    route: &SpaceRoute,
    database: Option<&DatabaseRow>,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let Some(database) = database else {
        return dispatch(req, route).await;
    };
    let Some((action, resource)) = guard(route, &database.name) else {
        return dispatch(req, route).await;
    };
    let args = Args::parse(req.query.as_deref());
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
    // Taken before the answer is computed: a write after it can only make the
    // stored answer newer than its key, never older.
    let file = req
        .app
        .data
        .database_file(&req.space.space.name, &database.name);
    let Some(version) = crate::stamp::take(&file) else {
        return dispatch(req, route).await; // changed just now: read afresh
    };
    let _ = req.stamp.set((database.name.clone(), version));
    let key = CacheKey {
        space_id: req.space_id(),
        database: database.name.clone(),
        version,
        actor: (req.actor.user_id, req.actor.token.as_ref().map(|t| t.id)),
        request: format!("{route:?}?{}", req.query.as_deref().unwrap_or("")),
        url_base: format!("{}{}", req.origin, req.base),
    };
    // The ETag names the key: a match means the client holds this very
    // answer (`*` matches too once the answer is known to exist).
    let etag = key.etag();
    let hit = req.app.results.get(&key);
    if not_modified(headers, &etag, hit.is_some()) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(value) = HeaderValue::from_str(&etag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        return Ok(response);
    }
    if let Some(hit) = hit {
        return Ok(hit.response());
    }
    let (response, work) = crate::meter::metered(dispatch(req, route)).await;
    Ok(req.app.results.store(key, response?, work).await)
}
