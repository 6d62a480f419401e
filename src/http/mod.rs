//! The HTTP layer: [`router`] builds the whole app, for `serve` and for tests.

mod cached;
mod database;
pub(crate) mod edge;
mod meta;
mod query;
pub(crate) mod render;
mod routes;
mod row;
mod table;
mod tenant;
pub(crate) mod ui;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::app::App;
use crate::conn::BodyDeadline;
use crate::error::AppError;

/// The whole HTTP app. Instance routes are matched first; every other path is
/// `/{space}/…` (or, with a spaces domain, a `{space}.{domain}` host, which
/// the outer layer turns into that path before routing).
pub fn router(app: Arc<App>) -> Router {
    let inner = Router::new()
        .route("/-/health", get(health))
        .route("/metrics", get(edge::observe::endpoint))
        .route("/", get(ui::spaces::home))
        .route("/-/login", get(ui::login::form).post(ui::login::submit))
        .route("/-/logout", post(ui::login::logout))
        .route("/-/auth-token", get(ui::login::auth_token))
        .route("/-/spaces", post(ui::spaces::create))
        .fallback(tenant::handle)
        .with_state(app.clone());
    Router::new()
        .fallback_service(inner)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            edge::cors::layer,
        ))
        .layer(middleware::from_fn_with_state(app, tenant::host_to_path))
        .layer(middleware::from_fn(edge))
        .layer(middleware::from_fn(edge::observe::observe))
}

/// The layer inside the metrics, one for both concerns (each layer costs every
/// request): browsers must take every answer (JSON, CSV, HTML, errors) as
/// the type it says it is, never sniff it into HTML or script; and a body
/// that did not arrive in time (see `crate::conn`) is answered 408 whatever
/// the handler made of the cut-off body (it never read it whole, so it
/// wrote nothing), closing the connection: the rest may still trickle in.
async fn edge(request: Request, next: Next) -> Response {
    let deadline = request.extensions().get::<BodyDeadline>().cloned();
    let mut response = next.run(request).await;
    if deadline.is_some_and(|d| d.passed()) {
        response = too_late(response);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The 408 for a body past its deadline, under the route the handler named.
fn too_late(response: Response) -> Response {
    let route = response
        .extensions()
        .get::<edge::observe::RouteLabel>()
        .copied();
    let mut response = AppError::Errors(
        StatusCode::REQUEST_TIMEOUT,
        vec!["The request body took too long to arrive".into()],
    )
    .into_response();
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn health() -> Response {
    let mut response = axum::Json(json!({"ok": true})).into_response();
    response
        .extensions_mut()
        .insert(edge::observe::RouteLabel("/-/health"));
    response
}

/// A JSON answer with Datasette's content type.
pub(crate) fn json_response(body: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// The 404 for paths that are no route at all.
pub(crate) fn not_found() -> Response {
    AppError::NotFound("Not found").into_response()
}
