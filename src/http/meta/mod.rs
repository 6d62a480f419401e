//! Instance and space meta endpoints: health, actor, versions, settings,
//! threads, the space index, the audit log and the tokens API.

pub(crate) mod api_tokens;
pub(crate) mod audit;
pub(crate) mod instance;
pub(crate) mod space;
pub(crate) mod tls_ask;

use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `/-/health`: the process answers (instance level, no space involved).
pub async fn health() -> Response {
    let mut response = axum::Json(json!({"ok": true})).into_response();
    response
        .extensions_mut()
        .insert(crate::http::edge::observe::RouteLabel("/-/health"));
    response
}
