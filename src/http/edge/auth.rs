//! Resolves the actor of a request from its `Authorization: Bearer` header
//! or, without one, its signed session cookie. Nothing is anonymous; a bearer
//! value that is not a usable token is a 401, never a silent fall-back to
//! anonymous; a cookie that does not verify, has expired or whose server-side
//! session has ended (logout, password change) is anonymous.

use axum::http::{HeaderMap, header};

use crate::actor::{Actor, TokenGrant};
use crate::app::App;
use crate::catalog::{audit, tokens, unix_now};
use crate::error::{AppError, AppResult};
use crate::session::{self, Session};

/// The actor, and the space its token is bound to (if it came with one).
pub struct Resolved {
    pub actor: Actor,
    pub token_space: Option<i64>,
    /// Set when the actor came from a session cookie (its POSTs need CSRF checks).
    pub session: Option<Session>,
    /// When the actor's token was last used, as the catalog had it.
    pub token_last_used: Option<i64>,
}

/// The session of a request's cookie, if it verifies, has not expired and
/// has not been ended on the server.
pub async fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    let session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| session::cookie_value(v, session::COOKIE))
        .and_then(|value| Session::verify(value, &app.config.secret, unix_now()))?;
    match app.session_is_live(&session).await {
        Ok(true) => Some(session),
        Ok(false) => None,
        Err(err) => {
            // Fail closed: a session that cannot be checked is no session.
            tracing::warn!(error = ?err, "checking a session failed");
            None
        }
    }
}

pub async fn resolve(app: &App, headers: &HeaderMap) -> AppResult<Resolved> {
    let anonymous = Resolved {
        actor: Actor::anonymous(),
        token_space: None,
        session: None,
        token_last_used: None,
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(match session(app, headers).await {
            Some(session) => Resolved {
                actor: Actor {
                    user_id: Some(session.user_id),
                    name: Some(session.name.clone()),
                    token: None,
                },
                token_space: None,
                session: Some(session),
                token_last_used: None,
            },
            None => anonymous,
        });
    };
    let value = value
        .to_str()
        .map_err(|_| AppError::InvalidToken("Invalid token"))?;
    let Some((scheme, secret)) = value.split_once(' ').or(Some((value, ""))) else {
        return Ok(anonymous);
    };
    // Other schemes (Basic…) are not ours to judge, as in Datasette.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(anonymous);
    }
    let secret = secret.trim();
    let refusals = &crate::metrics::metrics().token_refusals;
    // A secret seen within the cache's time was well formed then: its
    // checksum (a second hash) is checked only before asking the catalog.
    let hash = tokens::hash(secret);
    let known = match app.known_token(&hash) {
        Some(known) => known,
        None if !tokens::is_well_formed(secret) => {
            refusals.with_label_values(&["malformed"]).inc();
            return Err(AppError::InvalidToken("Invalid token signature"));
        }
        None => app.token(secret, hash).await?,
    };
    let Some(token) = known else {
        refusals.with_label_values(&["unknown"]).inc();
        return Err(AppError::InvalidToken("Invalid token"));
    };
    let now = unix_now();
    if token.revoked_at.is_some() {
        refusals.with_label_values(&["revoked"]).inc();
        refused(app, &token, "revoked");
        return Err(AppError::InvalidToken("Token has been revoked"));
    }
    if token.expires_at.is_some_and(|at| at <= now) {
        refusals.with_label_values(&["expired"]).inc();
        refused(app, &token, "expired");
        return Err(AppError::InvalidToken("Token has expired"));
    }
    app.touch_token(token.id, token.last_used_at);
    Ok(Resolved {
        actor: Actor {
            user_id: Some(token.user_id),
            name: Some(token.user_name.clone()),
            token: Some(TokenGrant {
                id: token.id,
                restrictions: token.restrictions.clone(),
                expires_at: token.expires_at,
            }),
        },
        token_space: Some(token.space_id),
        session: None,
        token_last_used: token.last_used_at,
    })
}

/// Audits a refused token, at most once a minute per token so a client
/// retrying in a loop cannot flood the log.
fn refused(app: &App, token: &tokens::TokenRecord, reason: &'static str) {
    if !app.first_refusal_in_a_while(token.id) {
        return;
    }
    let catalog = app.catalog.clone();
    let (space_id, token_id, actor) = (token.space_id, token.id, token.user_name.clone());
    tokio::spawn(async move {
        let result = catalog
            .call(move |conn| {
                audit::record(
                    conn,
                    audit::Event {
                        space_id: Some(space_id),
                        actor: Some(&actor),
                        token_id: Some(token_id),
                        event: "token-refused",
                        detail: serde_json::json!({ "reason": reason }),
                        ..Default::default()
                    },
                )
            })
            .await;
        if let Err(err) = result {
            tracing::warn!(error = ?err, "auditing a refused token failed");
        }
    });
}
