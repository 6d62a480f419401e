//! Serving reads: with `?_trace=1` (and `trace_debug` on) the answer lists
//! the statements run; otherwise from the result cache: table, row and query JSON are kept
//! under (space, database, file stamp, actor, request, URL base). The actor's
//! permission is checked again before every hit (decisions are cached for at
//! most a second), and an `If-None-Match` naming the key's ETag is answered
//! with 304. A hit opens no database and never leaves the async worker: the
//! stamp is two `stat` calls, or none within a millisecond of the last
//! (`stamp::REUSE`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::cache::{CacheKey, Version, not_modified};
use crate::catalog::databases::DatabaseRow;
use crate::error::AppResult;
use crate::http::routes::read as dispatch;
use crate::http::routes::{Format, SpaceRoute};
use crate::http::tenant::SpaceRequest;
use crate::permissions::Resource;

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
    if tracing_sql(req) {
        let trace = crate::read::trace::Trace::default();
        let response = trace.collect(dispatch(req, route)).await?;
        return Ok(with_trace(response, &trace).await);
    }
    let Some(database) = database else {
        return dispatch(req, route).await;
    };
    let Some((action, resource)) = guard(route, &database.name) else {
        return dispatch(req, route).await;
    };
    let args = req.args();
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
    let mut file = None;
    let version = match crate::http::database::replica_frame(req, database).await? {
        // A replica: the frame it holds, once brought to where this request
        // may read it. Frames only move forward.
        Some(frame) => Version::Frame(frame),
        None => {
            let path = req
                .app
                .data
                .database_file(&req.space.space.name, &database.name);
            let Some(stamp) = req.app.stamps.take(&path) else {
                return dispatch(req, route).await; // changed just now: read afresh
            };
            let _ = req.stamp.set((database.name.clone(), stamp));
            file = Some(path);
            Version::Files(stamp)
        }
    };
    let key = CacheKey {
        space_id: req.space_id(),
        database: database.name.clone(),
        version,
        actor: (req.actor.user_id, req.actor.token.as_ref().map(|t| t.id)),
        request: format!("{route:?}?{}", req.query().unwrap_or("")),
        url_base: format!("{}{}", req.origin, req.base),
    };
    // The ETag names the key: a match means the client holds this very
    // answer (`*` matches too once the answer is known to exist).
    let (fingerprint, etag) = key.tag();
    let hit = req.app.results.get(&key);
    if not_modified(headers, &etag, hit.is_some()) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(value) = HeaderValue::from_str(&etag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        return Ok(response);
    }
    let response = match hit {
        Some(hit) => hit.response(),
        None => {
            let (response, work) = crate::meter::metered(dispatch(req, route)).await;
            req.app
                .results
                .store(key, fingerprint, response?, work)
                .await
        }
    };
    Ok(crate::http::front::ticket(response, version, file))
}

/// `?_trace=1` with the `trace_debug` setting on.
fn tracing_sql(req: &SpaceRequest) -> bool {
    req.space.settings.flag("trace_debug")
        && req
            .args()
            .get("_trace")
            .is_some_and(|v| !v.is_empty() && v != "0")
}

/// Adds the statements run to a JSON object answer, as `_trace`.
async fn with_trace(response: Response, trace: &crate::read::trace::Trace) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("_trace".into(), trace.to_json());
            let mut response = Response::from_parts(
                parts,
                axum::body::Body::from(serde_json::Value::Object(map).to_string()),
            );
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        _ => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}
