//! Instance and space meta endpoints: health, actor, versions, settings,
//! config, threads, the space index, the audit log, the tokens API,
//! permission debugging, the whole space's schema and the jump menu.

pub(crate) mod api_tokens;
pub(crate) mod audit;
pub(crate) mod instance;
pub(crate) mod jump;
pub(crate) mod permissions_debug;
pub(crate) mod space;
pub(crate) mod space_schema;
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
