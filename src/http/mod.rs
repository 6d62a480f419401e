//! The HTTP layer: [`router`] builds the whole app, for `serve` and for tests.

mod api_tokens;
mod audit;
mod auth;
mod cached;
mod csv;
mod database;
mod execute_write;
mod extra_names;
mod extra_values;
mod instance;
mod limits;
pub mod observe;
mod pages;
mod query;
mod routes;
mod row;
mod row_extras;
mod rows_json;
mod schema;
mod shape;
mod space;
mod table;
mod table_extras;
mod table_facets;
mod table_filters;
mod table_labels;
mod tenant;
pub(crate) mod ui;
mod write;
mod write_alter;
mod write_schema;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::app::App;
use crate::error::AppError;

/// The whole HTTP app. Instance routes are matched first; every other path is
/// `/{space}/…` (or, with a spaces domain, a `{space}.{domain}` host, which
/// the outer layer turns into that path before routing).
pub fn router(app: Arc<App>) -> Router {
    let inner = Router::new()
        .route("/-/health", get(health))
        .route("/metrics", get(observe::endpoint))
        .route("/", get(ui::spaces::home))
        .route("/-/login", get(ui::login::form).post(ui::login::submit))
        .route("/-/logout", post(ui::login::logout))
        .route("/-/auth-token", get(ui::login::auth_token))
        .route("/-/spaces", post(ui::spaces::create))
        .fallback(tenant::handle)
        .with_state(app.clone());
    Router::new()
        .fallback_service(inner)
        .layer(middleware::from_fn_with_state(app.clone(), cors))
        .layer(middleware::from_fn_with_state(app, tenant::host_to_path))
        .layer(middleware::from_fn(observe::observe))
}

async fn health() -> Response {
    let mut response = axum::Json(json!({"ok": true})).into_response();
    response
        .extensions_mut()
        .insert(observe::RouteLabel("/-/health"));
    response
}

/// Datasette's `--cors`: allow any origin, and answer preflights.
async fn cors(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if !app.config.cors {
        return next.run(request).await;
    }
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type",
        ),
        (header::ACCESS_CONTROL_EXPOSE_HEADERS, "Link"),
        (
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, HEAD, OPTIONS",
        ),
        (header::ACCESS_CONTROL_MAX_AGE, "3600"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
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
