//! The front index: answers the result cache keeps, found again from the raw
//! request. A cached hit on the full path still resolves the token, the
//! space, the database and two permissions through their caches, and builds
//! the result cache's key, before it can answer; here one lookup by the
//! request's path, query and credentials finds the finished answer.
//!
//! An entry answers only while everything the full path checked holds as
//! the full path would judge it:
//! - the catalog answers those checks used (token, space, database,
//!   permissions) are still current, by their caches' own rule
//!   ([`crate::catalog_cache::Basis`]): a revocation or grant made anywhere
//!   applies within a second, as it does on the full path;
//! - the token has not expired;
//! - the database file's stamp is unchanged, as for any cached answer;
//! - the result cache still keeps the answer (an entry holds it weakly).
//!
//! The request still counts against its caller's rate limit. Requests with
//! cookies or conditional headers, other methods than GET, and every request
//! of a replicated node take the full path.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::edge::observe::RouteLabel;
use super::tenant::{SpaceBase, SpaceRequest};
use crate::app::{App, SpaceInfo};
use crate::cache::{Cached, Kept, Version};
use crate::catalog_cache::Basis;
use crate::stamp::{HeldFile, Stamp};

/// SHA-256 of what the answer depends on in the raw request: no secret is
/// kept in memory, and comparing keys tells nothing of a secret.
pub type Key = [u8; 32];

/// What the full path learned about an answer the result cache keeps: the
/// file whose stamp it was computed at.
#[derive(Clone)]
pub struct Ticket {
    kept: Weak<Cached>,
    stamp: Stamp,
    file: PathBuf,
}

/// Who asked, as the full path found them: what a later request with the
/// same credentials is counted and checked as.
#[derive(Clone)]
struct Caller {
    space: Arc<SpaceInfo>,
    user: Option<i64>,
    token: Option<TokenUse>,
}

#[derive(Clone, Copy)]
struct TokenUse {
    id: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

struct Entry {
    kept: Weak<Cached>,
    /// The answer's headers as the full path finished them.
    headers: HeaderMap,
    stamp: Stamp,
    file: PathBuf,
    /// The file's directory and names, while [`App::stamps`] holds them.
    held: Weak<HeldFile>,
    basis: Basis,
    caller: Caller,
    route: &'static str,
}

/// Entries by [`Key`], bounded by the bytes of their headers and keys (the
/// bodies belong to the result cache).
#[derive(Clone)]
pub struct FrontIndex {
    entries: crate::cache::Moka<Key, Arc<Entry>>,
}

impl FrontIndex {
    pub fn new(max_bytes: u64) -> FrontIndex {
        FrontIndex {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_: &Key, entry: &Arc<Entry>| {
                    let headers = crate::cache::headers_weight(&entry.headers);
                    let size = headers + entry.file.as_os_str().len() + 256;
                    size.min(u32::MAX as usize) as u32
                })
                // As long as the result cache keeps an answer at most.
                .time_to_live(std::time::Duration::from_secs(300))
                .build_with_hasher(crate::cache::CacheHasher::new()),
        }
    }
}

/// The key of a request the index may answer, or `None`.
pub fn key(app: &App, request: &Request) -> Option<Key> {
    let headers = request.headers();
    if request.method() != Method::GET
        || app.data.replication().is_some()
        || headers.contains_key(header::COOKIE)
        || headers.contains_key(header::IF_NONE_MATCH)
        || headers.contains_key(header::IF_MODIFIED_SINCE)
    {
        return None;
    }
    // Reached by its own host or by path: the answer's links differ.
    let by_host = request
        .extensions()
        .get::<SpaceBase>()
        .is_some_and(|b| b.0.is_empty());
    let mut hash = Sha256::new();
    hash.update([by_host as u8]);
    hash.update(request.uri().path_and_query()?.as_str());
    for value in headers.get_all(header::AUTHORIZATION) {
        hash.update([0]);
        hash.update(value.as_bytes());
    }
    Some(hash.finalize().into())
}

/// The answer for `key`, if the index has one that still holds.
pub fn answer(app: &App, key: &Key, request: &Request) -> Option<Response> {
    let entry = app.front.entries.get(key)?;
    let cached = entry.kept.upgrade()?;
    if !app.catalog_watch.holds(&entry.basis) {
        return None;
    }
    let now = crate::catalog::unix_now();
    if let Some(TokenUse {
        expires_at: Some(at),
        ..
    }) = entry.caller.token
        && at <= now
    {
        return None;
    }
    let stamp = match entry.held.upgrade() {
        Some(held) => held.take(),
        None => crate::stamp::take(&entry.file),
    };
    if stamp != Some(entry.stamp) {
        return None;
    }
    let caller = &entry.caller;
    let token = caller.token.map(|t| t.id);
    let counted = super::edge::limits::check_caller(
        app,
        &caller.space,
        token,
        caller.user,
        request.extensions(),
    );
    tracing::Span::current().record("space", caller.space.space.name.as_str());
    let mut response = match counted {
        Ok(()) => {
            if let Some(token) = caller.token {
                app.touch_token(token.id, token.last_used_at);
            }
            let m = crate::metrics::metrics();
            m.cache_event("results", "hit");
            m.cache_event("front", "hit");
            let mut response = Response::new(Body::from(cached.body()));
            *response.status_mut() = cached.status();
            *response.headers_mut() = entry.headers.clone();
            response
        }
        Err(err) => err.into_response(),
    };
    response.extensions_mut().insert(RouteLabel(entry.route));
    Some(response)
}

/// Marks `response` as kept by the result cache under a file's stamp.
pub fn ticket(mut response: Response, version: Version, file: Option<PathBuf>) -> Response {
    let kept = response.extensions().get::<Kept>().map(|k| k.0.clone());
    if let (Some(kept), Version::Files(stamp), Some(file)) = (kept, version, file) {
        response
            .extensions_mut()
            .insert(Ticket { kept, stamp, file });
    }
    response
}

/// Notes who asked on an answer the index may keep (one with a ticket):
/// the actor of `req`, whose token was last used at `token_last_used`.
pub fn note_caller(response: &mut Response, req: &SpaceRequest, token_last_used: Option<i64>) {
    if response.extensions().get::<Ticket>().is_none() {
        return;
    }
    let caller = Caller {
        space: req.space.clone(),
        user: req.actor.user_id,
        token: req.actor.token.as_ref().map(|t| TokenUse {
            id: t.id,
            expires_at: t.expires_at,
            last_used_at: token_last_used,
        }),
    };
    response.extensions_mut().insert(caller);
}

/// Keeps a finished answer of the full path under `key`, when it is one the
/// result cache keeps and nothing in it is for this response alone.
pub fn remember(app: &App, key: Key, basis: Option<Basis>, response: &Response) {
    let extensions = response.extensions();
    let (Some(ticket), Some(caller), Some(basis), Some(route)) = (
        extensions.get::<Ticket>(),
        extensions.get::<Caller>(),
        basis,
        extensions.get::<RouteLabel>(),
    ) else {
        return;
    };
    if response.headers().contains_key(header::SET_COOKIE) {
        return;
    }
    let entry = Entry {
        kept: ticket.kept.clone(),
        headers: response.headers().clone(),
        stamp: ticket.stamp,
        file: ticket.file.clone(),
        held: app.stamps.weak(&ticket.file),
        basis,
        caller: caller.clone(),
        route: route.0,
    };
    app.front.entries.insert(key, Arc::new(entry));
}
