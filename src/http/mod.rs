//! The HTTP layer: [`router`] builds the whole app, for `serve` and for tests.

mod cached;
mod database;
pub(crate) mod edge;
pub(crate) mod front;
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
use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::error::AppError;

/// The whole HTTP app. Instance routes are matched first; every other path is
/// `/{space}/…` (or, with a spaces domain, a `{space}.{domain}` host, which
/// the outer layer turns into that path before routing).
pub fn router(app: Arc<App>) -> Router {
    let inner = Router::new()
        .route("/-/health", get(meta::health))
        .route("/metrics", get(edge::observe::endpoint))
        .route("/-/tls-ask", get(meta::tls_ask::ask))
        .route("/", get(ui::spaces::home))
        .route("/-/login", get(ui::login::form).post(ui::login::submit))
        .route("/-/logout", post(ui::login::logout))
        .route("/-/auth-token", get(ui::login::auth_token))
        .route("/-/spaces", post(ui::spaces::create))
        .fallback(tenant::handle)
        .with_state(app.clone());
    Router::new()
        .fallback_service(inner)
        .layer(middleware::from_fn_with_state(app, edge::layer))
}

/// What Datasette says of answers outside its stable API.
pub(crate) const UNSTABLE: &str =
    "This API is not part of Datasette's stable interface and may change at any time";

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
