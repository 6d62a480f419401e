//! The result cache: whole JSON answers of table, row and query reads, kept
//! under a key that holds the database's file stamp, so any write — from this
//! process, the CLI or another process — makes old entries unreachable at
//! once. Bounded by bytes, with a TTL.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Answers larger than this are never cached.
const MAX_ENTRY_BYTES: usize = 1 << 20;

/// One cached answer.
pub struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// Strong validator for `If-None-Match`.
    pub etag: String,
}

impl Cached {
    pub fn response(&self) -> Response {
        let mut response = (self.status, self.body.clone()).into_response();
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// Everything that makes one answer differ from another.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct CacheKey {
    pub space_id: i64,
    pub database: String,
    /// The database's files when the answer was computed: any commit moves it.
    pub version: crate::stamp::Stamp,
    /// Who asked: answers may differ by actor (permissions, labels).
    pub actor: (Option<i64>, Option<i64>),
    /// Method, path and query string.
    pub request: String,
}

impl CacheKey {
    /// The ETag of the answer under this key.
    pub fn etag(&self) -> String {
        let digest = Sha256::digest(format!("{self:?}").as_bytes());
        format!("\"{}\"", hex::encode(&digest[..12]))
    }
}

#[derive(Clone)]
pub struct ResultCache {
    entries: moka::future::Cache<CacheKey, Arc<Cached>>,
}

impl ResultCache {
    pub fn new(max_bytes: u64, ttl: Duration) -> ResultCache {
        ResultCache {
            entries: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &CacheKey, value: &Arc<Cached>| {
                    (value.body.len() + key.request.len() + 256).min(u32::MAX as usize) as u32
                })
                .time_to_live(ttl)
                .eviction_listener(|_, _, cause| {
                    if cause.was_evicted() {
                        crate::metrics::metrics().cache_event("results", "eviction");
                    }
                })
                .build(),
        }
    }

    pub async fn get(&self, key: &CacheKey) -> Option<Arc<Cached>> {
        let found = self.entries.get(key).await;
        let event = if found.is_some() { "hit" } else { "miss" };
        crate::metrics::metrics().cache_event("results", event);
        found
    }

    /// Keeps a successful answer (reading its body) and gives it back.
    pub async fn store(&self, key: CacheKey, response: Response) -> Response {
        if response.status() != StatusCode::OK {
            return response;
        }
        // Only whole bodies of known, modest size: streams pass through untouched.
        let size = http_body::Body::size_hint(response.body()).exact();
        if size.is_none_or(|n| n > MAX_ENTRY_BYTES as u64) {
            return response;
        }
        let (parts, body) = response.into_parts();
        let Ok(body) = axum::body::to_bytes(body, MAX_ENTRY_BYTES).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let etag = key.etag();
        let mut headers = parts.headers;
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        let cached = Arc::new(Cached {
            status: parts.status,
            headers,
            body,
            etag,
        });
        self.entries.insert(key, cached.clone()).await;
        cached.response()
    }
}

/// True when `If-None-Match` names `etag`.
pub fn not_modified(request_headers: &HeaderMap, etag: &str) -> bool {
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/") == etag
        })
}
