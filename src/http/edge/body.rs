//! A request body read under `max_post_body_bytes`, counted while it
//! streams: the one way write endpoints and forms take their bodies.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt;
use serde_json::Value as Json;

use crate::error::{AppError, AppResult};
use crate::settings::Settings;
use crate::write::json as body_json;

/// A request body not yet read, and the most it may hold.
pub struct Body {
    body: axum::body::Body,
    declared: Option<u64>,
    /// Sent as `application/json`.
    json: bool,
    /// 0: no limit.
    limit: u64,
}

impl Body {
    pub fn new(body: axum::body::Body, headers: &HeaderMap, settings: &Settings) -> Body {
        Body {
            body,
            declared: headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            json: is_json(headers),
            limit: settings.int("max_post_body_bytes"),
        }
    }

    /// A JSON body the server wrote itself (a UI form turned into the
    /// write API's body), under the same limit.
    pub fn from_json(body: &Json, settings: &Settings) -> Body {
        Body {
            body: axum::body::Body::from(body.to_string()),
            declared: None,
            json: true,
            limit: settings.int("max_post_body_bytes"),
        }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    fn too_large(&self) -> AppError {
        AppError::Errors(
            StatusCode::PAYLOAD_TOO_LARGE,
            vec![format!(
                "Request body exceeded maximum size of {} bytes",
                self.limit
            )],
        )
    }

    /// The whole body; 413 as soon as it passes the limit (before reading it
    /// at all when Content-Length already says so).
    pub async fn bytes(self) -> AppResult<Bytes> {
        if self.limit > 0 && self.declared.is_some_and(|n| n > self.limit) {
            return Err(self.too_large());
        }
        let too_large = self.too_large();
        let mut stream = self.body.into_data_stream();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| AppError::invalid_one(format!("Reading the body: {e}")))?;
            if self.limit > 0 && (out.len() + chunk.len()) as u64 > self.limit {
                return Err(too_large);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    /// The body parsed as JSON, whatever its Content-Type (as Datasette).
    pub async fn json(self) -> AppResult<Json> {
        let bytes = self.bytes().await?;
        body_json::parse(&bytes).map_err(AppError::invalid_one)
    }
}

/// Whether the body says it is JSON (else it is a form).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
