//! The result cache: whole JSON answers of table, row and query reads, kept
//! under a key that holds the database's file stamp, so any write — from this
//! process, the CLI or another process — makes old entries unreachable at
//! once. Bounded by bytes, with a TTL. Answers of user SQL that calls
//! `random()` or asks for the time 'now' are never kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::hash::{Hash, Hasher};

use crate::meter::Work;

/// Answers larger than this are never cached.
const MAX_ENTRY_BYTES: usize = 1 << 20;

/// One cached answer.
pub struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// Marks an answer made from a kept entry, for as long as the cache keeps it.
#[derive(Clone)]
pub struct Kept(pub std::sync::Weak<Cached>);

impl Cached {
    pub fn response(self: &Arc<Self>) -> Response {
        let mut response = (self.status, self.body.clone()).into_response();
        *response.headers_mut() = self.headers.clone();
        response.extensions_mut().insert(Kept(Arc::downgrade(self)));
        response
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn body(&self) -> Bytes {
        self.body.clone()
    }
}

/// What a cached answer's database looked like: a local file's stamp, or
/// the frame a replica held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    Files(crate::stamp::Stamp),
    Frame(u64),
}

/// Everything that makes one answer differ from another.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct CacheKey {
    pub space_id: i64,
    pub database: String,
    /// The database's state when the answer was computed: any commit moves it.
    pub version: Version,
    /// Who asked: answers may differ by actor (permissions, labels).
    pub actor: (Option<i64>, Option<i64>),
    /// Method, path and query string.
    pub request: String,
    /// The URL prefix links in the answer start with (`{origin}{base}`): a
    /// space reached by its own host and by path must not share answers.
    pub url_base: String,
}

impl CacheKey {
    /// A 64-bit hash of the key. `DefaultHasher::new` has fixed keys, so the
    /// same content keeps its ETag across restarts of a build.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }

    /// The ETag of the answer under this key.
    pub fn etag(&self) -> String {
        self.tag().1
    }

    /// The key's fingerprint and the ETag it makes, from one hash.
    pub fn tag(&self) -> (u64, String) {
        let fingerprint = self.fingerprint();
        (fingerprint, etag_of(fingerprint))
    }
}

/// An answer whose reads took this much CPU time is stored the first time:
/// storing costs some tens of microseconds, a small part of it. (CPU time,
/// not elapsed time: under load every answer waits in queues.)
pub const STORE_AT_ONCE: Duration = Duration::from_micros(250);

/// The hasher of the in-memory caches looked up on every request: keyed at
/// random per process (keys come from requests), and cheaper than std's
/// SipHash on their short keys. Fingerprints keep std's fixed-key hasher,
/// since ETags must not change with a restart.
pub type CacheHasher = ahash::RandomState;

/// A bounded in-memory cache (moka) with [`CacheHasher`].
pub type Moka<K, V> = moka::sync::Cache<K, V, CacheHasher>;

/// Slots remembering recently asked-for keys by fingerprint.
const SEEN_SLOTS: usize = 1 << 16;

/// Fingerprints of keys asked for recently, one per slot (a newer key takes
/// an older one's slot): lock-free and a fixed half megabyte.
struct Seen(Box<[AtomicU64]>);

impl Seen {
    fn new() -> Seen {
        Seen((0..SEEN_SLOTS).map(|_| AtomicU64::new(0)).collect())
    }

    /// Remembers `fingerprint`; true if it was remembered already.
    fn again(&self, fingerprint: u64) -> bool {
        let slot = &self.0[(fingerprint as usize) % SEEN_SLOTS];
        slot.swap(fingerprint, Ordering::Relaxed) == fingerprint
    }
}

#[derive(Clone)]
pub struct ResultCache {
    entries: Moka<CacheKey, Arc<Cached>>,
    seen: Arc<Seen>,
}

impl ResultCache {
    pub fn new(max_bytes: u64, ttl: Duration) -> ResultCache {
        ResultCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                // What an entry really holds: body, key, headers and the
                // cache's own bookkeeping.
                .weigher(|key: &CacheKey, value: &Arc<Cached>| {
                    let headers = headers_weight(&value.headers);
                    let size =
                        value.body.len() + key.request.len() + key.url_base.len() + headers + 512;
                    size.min(u32::MAX as usize) as u32
                })
                .time_to_live(ttl)
                .eviction_listener(|_, _, cause| {
                    if cause.was_evicted() {
                        crate::metrics::metrics().cache_event("results", "eviction");
                    }
                })
                .build_with_hasher(crate::cache::CacheHasher::new()),
            seen: Arc::new(Seen::new()),
        }
    }

    pub fn get(&self, key: &CacheKey) -> Option<Arc<Cached>> {
        let found = self.entries.get(key);
        let event = if found.is_some() { "hit" } else { "miss" };
        crate::metrics::metrics().cache_event("results", event);
        found
    }

    /// Gives a successful answer its ETag (from the key's `fingerprint`,
    /// taken once for the ETag and the store), and keeps it (reading its
    /// body) when its key was asked for before or its reads took much CPU
    /// time. An answer from volatile reads gets neither: the next may differ.
    pub async fn store(
        &self,
        key: CacheKey,
        fingerprint: u64,
        mut response: Response,
        work: Work,
    ) -> Response {
        if response.status() != StatusCode::OK || work.volatile {
            return response;
        }
        let etag = etag_of(fingerprint);
        if let Ok(value) = HeaderValue::from_str(&etag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        if !self.seen.again(fingerprint) && work.cpu < STORE_AT_ONCE {
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
        let cached = Arc::new(Cached {
            status: parts.status,
            headers: parts.headers,
            body,
        });
        self.entries.insert(key, cached.clone());
        cached.response()
    }
}

/// The ETag of answers under keys with this fingerprint.
fn etag_of(fingerprint: u64) -> String {
    format!("\"{fingerprint:016x}\"")
}

/// The bytes a kept header map holds, bookkeeping included, for weighers.
pub fn headers_weight(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, v)| name.as_str().len() + v.len() + 64)
        .sum()
}

/// True when `If-None-Match` names `etag`, or is `*` and the answer `exists`.
pub fn not_modified(request_headers: &HeaderMap, etag: &str, exists: bool) -> bool {
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            (candidate == "*" && exists) || candidate.trim_start_matches("W/") == etag
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(request: &str) -> CacheKey {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.db");
        std::fs::write(&file, b"x").unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(5);
        CacheKey {
            space_id: 1,
            database: "db".into(),
            version: Version::Files(crate::stamp::take_at(&file, later).unwrap()),
            actor: (None, None),
            request: request.into(),
            url_base: "http://localhost/s".into(),
        }
    }

    fn answer() -> Response {
        (StatusCode::OK, "{}").into_response()
    }

    fn cpu(cpu: Duration) -> Work {
        Work {
            cpu,
            volatile: false,
        }
    }

    #[tokio::test]
    async fn a_cheap_answer_is_kept_the_second_time_and_a_costly_one_at_once() {
        let cache = ResultCache::new(1 << 20, Duration::from_secs(60));
        let cheap = key("cheap");
        let first = cache
            .store(
                cheap.clone(),
                cheap.fingerprint(),
                answer(),
                cpu(Duration::ZERO),
            )
            .await;
        assert_eq!(first.headers()[header::ETAG], cheap.etag().as_str());
        assert!(cache.get(&cheap).is_none(), "kept on its first request");
        cache
            .store(
                cheap.clone(),
                cheap.fingerprint(),
                answer(),
                cpu(Duration::ZERO),
            )
            .await;
        assert!(cache.get(&cheap).is_some());

        let costly = key("costly");
        cache
            .store(
                costly.clone(),
                costly.fingerprint(),
                answer(),
                cpu(STORE_AT_ONCE),
            )
            .await;
        assert!(cache.get(&costly).is_some());
    }

    #[tokio::test]
    async fn a_volatile_answer_is_never_kept_nor_tagged() {
        let cache = ResultCache::new(1 << 20, Duration::from_secs(60));
        let now = key("now");
        let volatile = Work {
            cpu: STORE_AT_ONCE,
            volatile: true,
        };
        for _ in 0..3 {
            let answer = cache
                .store(now.clone(), now.fingerprint(), answer(), volatile)
                .await;
            assert!(answer.headers().get(header::ETAG).is_none());
        }
        assert!(cache.get(&now).is_none());
    }

    #[test]
    fn etags_differ_with_the_key_and_not_otherwise() {
        let (a, b) = (key("a"), key("b"));
        assert_eq!(a.etag(), a.clone().etag());
        assert_ne!(a.etag(), b.etag());
    }
}
