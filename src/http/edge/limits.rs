//! The request rate limits of a space's routes: per token, per signed-in
//! user, and per client address for anonymous requests (429 with
//! `Retry-After`, counted in `/metrics`).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::Extensions;

use crate::app::{App, SpaceInfo};
use crate::error::{AppError, AppResult};
use crate::http::edge::auth::Resolved;
use crate::rate_limit::{Caller, retry_after_secs};

/// Counts this request against its caller's limit in `space`.
pub fn check_rate(
    app: &App,
    space: &SpaceInfo,
    resolved: &Resolved,
    extensions: &Extensions,
) -> AppResult<()> {
    let token = resolved.actor.token.as_ref().map(|t| t.id);
    check_caller(app, space, token, resolved.actor.user_id, extensions)
}

/// [`check_rate`] for the caller with this token or user (neither: anonymous).
pub fn check_caller(
    app: &App,
    space: &SpaceInfo,
    token: Option<i64>,
    user: Option<i64>,
    extensions: &Extensions,
) -> AppResult<()> {
    let settings = &space.settings;
    let (caller, per_minute) = match (token, user) {
        (Some(token), _) => (
            Caller::Token(token),
            settings.int("rate_limit_token_per_minute"),
        ),
        (None, Some(user)) => (
            Caller::User(user),
            settings.int("rate_limit_token_per_minute"),
        ),
        (None, None) => {
            // Without a peer address (in-process tests) there is no one to count.
            let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() else {
                return Ok(());
            };
            (
                Caller::address(space.space.id, peer.ip()),
                settings.int("rate_limit_anonymous_per_minute"),
            )
        }
    };
    let scope = caller.scope();
    app.rate.check(caller, per_minute).map_err(|wait| {
        crate::metrics::metrics()
            .rate_limited
            .with_label_values(&[scope])
            .inc();
        AppError::TooMany(
            "Too many requests: slow down and try again later".into(),
            retry_after_secs(wait),
        )
    })
}
