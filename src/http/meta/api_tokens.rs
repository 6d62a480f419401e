//! API tokens of a space over JSON, `/{space}/-/api/tokens` (list, create,
//! revoke), and the rules both it and the tokens page follow:
//! - a session (cookie login) of a member manages that user's tokens, an
//!   owner's session every token of the space;
//! - a token manages tokens only when its restrictions name `create-token`
//!   explicitly (`-a create-token`; Datasette lets no token create tokens),
//!   and then only itself and the tokens minted from it, directly or not;
//! - a token mints only tokens narrower than itself that end no later than it
//!   (a child asking for no expiry gets its parent's), and revoking a token
//!   revokes its descendants;
//! - an expiry is 1 s to 100 years, capped by `max_signed_tokens_ttl`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::actor::TokenGrant;
use crate::catalog::tokens::{self, NewToken, Restrictions, Secret, TokenInfo};
use crate::error::{AppError, AppResult};
use crate::http::json_response;
use crate::http::tenant::SpaceRequest;
use crate::http::ui;
use crate::permissions::Resource;

/// What a new token should be, before checks; actions by name or abbreviation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds until it expires; `None` for never.
    #[serde(default, alias = "expire_after", deserialize_with = "seconds")]
    pub expires_after: Option<i64>,
    #[serde(default)]
    pub restrict_all: Vec<String>,
    #[serde(default)]
    pub restrict_database: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub restrict_resource: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// A whole number of seconds; one too big for an i64 becomes `i64::MAX`, so
/// the range check (not the JSON parser) explains what is wrong with it.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_i64()
        .or_else(|| n.as_u64().map(|_| i64::MAX))
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("expires_after must be a whole number of seconds"))
}

/// Which tokens the actor may list and revoke.
enum Scope {
    /// An owner's session: every token of the space.
    Space,
    /// A member's session: the user's own tokens.
    User(String),
    /// A token holding `create-token`: itself and its descendants.
    Tree(i64),
}

/// Why the actor may manage tokens here and which ones, or a 403.
async fn manager(req: &SpaceRequest) -> AppResult<Scope> {
    let Some(name) = req.actor.name.clone() else {
        return Err(AppError::Forbidden(
            "Log in or use an API token to manage tokens".into(),
        ));
    };
    let Some(role) = ui::role(req).await? else {
        return Err(AppError::Forbidden(
            "Only members of this space may manage its tokens".into(),
        ));
    };
    let Some(token) = &req.actor.token else {
        return Ok(if role == "owner" {
            Scope::Space
        } else {
            Scope::User(name)
        });
    };
    // Unrestricted tokens hold create-token only implicitly: not enough.
    let explicit = req.actor.restrictions().is_some()
        && req
            .app
            .allowed(req.space_id(), &req.actor, "create-token", Resource::Space)
            .await?;
    if !explicit {
        return Err(AppError::Forbidden(
            "This token may not manage tokens: that needs a token created with -a create-token"
                .into(),
        ));
    }
    Ok(Scope::Tree(token.id))
}

/// Whether `new` grants nothing that `limit` does not (compared as abbreviations).
pub fn narrower(new: &Restrictions, limit: &Restrictions) -> bool {
    if new.is_empty() {
        return false;
    }
    let all = |a: &String| limit.a.contains(a);
    let db = |d: &str, a: &String| all(a) || limit.d.get(d).is_some_and(|l| l.contains(a));
    new.a.iter().all(all)
        && new.d.iter().all(|(d, acts)| acts.iter().all(|a| db(d, a)))
        && new.r.iter().all(|(d, tables)| {
            tables.iter().all(|(t, acts)| {
                acts.iter().all(|a| {
                    db(d, a)
                        || limit
                            .r
                            .get(d)
                            .and_then(|ts| ts.get(t))
                            .is_some_and(|l| l.contains(a))
                })
            })
        })
}

/// Checks and creates a token for the actor; returns it as listed and its secret.
pub async fn issue(req: &SpaceRequest, request: TokenRequest) -> AppResult<(TokenInfo, Secret)> {
    manager(req).await?;
    if !req.space.settings.flag("allow_signed_tokens") {
        return Err(AppError::Forbidden(
            "Creating tokens is turned off (allow_signed_tokens)".into(),
        ));
    }
    let TokenRequest {
        name,
        expires_after: asked,
        restrict_all,
        restrict_database,
        restrict_resource,
    } = request;
    let expires_after = expiry(req, asked)?;
    let name = token_name(name)?;
    let created = restrictions(req, restrict_all, restrict_database, restrict_resource).await?;
    let parent = req.actor.token.clone();
    if let Some(parent) = &parent {
        within_parent(parent, &created, asked)?;
    }
    let new = Minted {
        name,
        restrictions: (!created.is_empty()).then_some(created),
        expires_after,
        parent_id: parent.as_ref().map(|p| p.id),
    };
    store(req, new).await
}

/// The expiry a new token gets: the one asked for if allowed, else the
/// longest `max_signed_tokens_ttl` allows (none when that is 0).
fn expiry(req: &SpaceRequest, asked: Option<i64>) -> AppResult<Option<i64>> {
    let max_ttl =
        i64::try_from(req.space.settings.int("max_signed_tokens_ttl")).unwrap_or(i64::MAX);
    if let Some(seconds) = asked {
        tokens::check_expires_after(seconds).map_err(AppError::BadRequest)?;
    }
    Ok(match asked {
        Some(s) if max_ttl > 0 && s > max_ttl => {
            return Err(AppError::BadRequest(format!(
                "Tokens may last at most {max_ttl} seconds (max_signed_tokens_ttl)"
            )));
        }
        None if max_ttl > 0 => Some(max_ttl.min(tokens::MAX_EXPIRES_AFTER)),
        other => other,
    })
}

/// The name trimmed (blank is none), at most 200 characters.
fn token_name(name: Option<String>) -> AppResult<Option<String>> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(AppError::BadRequest(
            "A token name is at most 200 characters".into(),
        ));
    }
    Ok(name)
}

/// The restrictions asked for, each action checked against the catalog;
/// an unknown action or abbreviation is a 400.
async fn restrictions(
    req: &SpaceRequest,
    all: Vec<String>,
    databases: BTreeMap<String, Vec<String>>,
    resources: BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> AppResult<Restrictions> {
    req.app
        .catalog
        .call(move |conn| {
            let mut r = Restrictions::default();
            for action in &all {
                r.allow_all(conn, action)?;
            }
            for (db, actions) in &databases {
                for action in actions {
                    r.allow_database(conn, db, action)?;
                }
            }
            for (db, tables) in &resources {
                for (table, actions) in tables {
                    for action in actions {
                        r.allow_resource(conn, db, table, action)?;
                    }
                }
            }
            Ok(r)
        })
        .await
        .map_err(|e| AppError::BadRequest(format!("{e:#}")))
}

/// A token minting a child: the child must be narrower and, when it asks
/// outright for a lifetime, end no later than its parent.
fn within_parent(parent: &TokenGrant, created: &Restrictions, asked: Option<i64>) -> AppResult<()> {
    if let Some(limit) = &parent.restrictions
        && !narrower(created, limit)
    {
        return Err(AppError::Forbidden(
            "A token may only create tokens narrower than itself".into(),
        ));
    }
    // Asking outright for more time than the parent has left is refused;
    // no expiry, or the default one, ends with the parent (clamped when stored).
    if let (Some(end), Some(s)) = (parent.expires_at, asked)
        && crate::catalog::unix_now().saturating_add(s) > end
    {
        return Err(AppError::Forbidden(
            "A token may only create tokens that expire no later than itself".into(),
        ));
    }
    Ok(())
}

/// A checked token, ready to be stored for the actor.
struct Minted {
    name: Option<String>,
    restrictions: Option<Restrictions>,
    expires_after: Option<i64>,
    parent_id: Option<i64>,
}

/// Stores the token and reads it back as the listing shows it.
async fn store(req: &SpaceRequest, new: Minted) -> AppResult<(TokenInfo, Secret)> {
    let (space_id, actor) = (
        req.space_id(),
        req.actor.name.clone().expect("members have names"),
    );
    let (info, secret) = req
        .app
        .catalog
        .call(move |conn| {
            let (id, secret) = tokens::create(
                conn,
                NewToken {
                    space_id,
                    actor: &actor,
                    name: new.name.as_deref(),
                    restrictions: new.restrictions,
                    expires_after: new.expires_after,
                    parent_id: new.parent_id,
                },
            )?;
            let info = tokens::list(conn, space_id)?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or_else(|| anyhow::anyhow!("token {id} vanished"))?;
            Ok((info, secret))
        })
        .await
        .map_err(|e| match e.downcast_ref::<tokens::ParentGone>() {
            // Revoked within the second the token lookup is cached: a 401, not a 500.
            Some(_) => AppError::InvalidToken("Token has been revoked"),
            None => e.into(),
        })?;
    Ok((info, secret))
}

/// The tokens the actor may see and revoke (see the module's rules).
pub async fn visible(req: &SpaceRequest) -> AppResult<Vec<TokenInfo>> {
    let scope = manager(req).await?;
    let space_id = req.space_id();
    let tree = match scope {
        Scope::Tree(id) => Some(id),
        _ => None,
    };
    let (all, tree) = req
        .app
        .catalog
        .call(move |conn| {
            let tree = tree.map(|id| tokens::descendants(conn, id)).transpose()?;
            Ok((tokens::list(conn, space_id)?, tree))
        })
        .await?;
    Ok(all
        .into_iter()
        .filter(|t| match &scope {
            Scope::Space => true,
            Scope::User(me) => t.actor == *me,
            Scope::Tree(_) => tree.as_ref().is_some_and(|ids| ids.contains(&t.id)),
        })
        .collect())
}

/// Revokes token `id` if the actor may see it; otherwise it does not exist.
pub async fn revoke_token(req: &SpaceRequest, id: i64) -> AppResult<()> {
    if !visible(req).await?.iter().any(|t| t.id == id) {
        return Err(AppError::NotFound("Token not found"));
    }
    let space_id = req.space_id();
    req.app
        .catalog
        .call(move |conn| tokens::revoke(conn, space_id, &id.to_string()))
        .await?;
    Ok(())
}

/// `GET /-/api/tokens`
pub async fn list(req: &SpaceRequest) -> AppResult<Response> {
    let tokens = visible(req).await?;
    Ok(json_response(json!({"ok": true, "tokens": tokens})))
}

/// `POST /-/api/tokens` with a JSON [`TokenRequest`].
pub async fn create(req: &SpaceRequest, body: Body) -> AppResult<Response> {
    let bytes = ui::read_body(body).await?;
    let request: TokenRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| AppError::BadRequest(format!("Invalid JSON: {e}")))?
    };
    let (info, secret) = issue(req, request).await?;
    let mut response = json_response(json!({
        "ok": true,
        "token": secret.expose(),
        "token_info": info,
    }));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `POST /-/api/tokens/{id}/revoke`
pub async fn revoke(req: &SpaceRequest, id: i64) -> AppResult<Response> {
    revoke_token(req, id).await?;
    Ok(json_response(json!({"ok": true, "id": id, "revoked": true})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(json: serde_json::Value) -> Restrictions {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn narrowing() {
        let limit = r(json!({"a": ["vi"], "d": {"db": ["vt"]}, "r": {"db": {"t": ["ir"]}}}));
        assert!(narrower(&r(json!({"a": ["vi"]})), &limit));
        assert!(narrower(&r(json!({"d": {"db": ["vt", "vi"]}})), &limit));
        assert!(narrower(
            &r(json!({"r": {"db": {"t": ["ir", "vt"], "u": ["vt"]}}})),
            &limit
        ));
        assert!(!narrower(&r(json!({"a": ["vt"]})), &limit), "wider level");
        assert!(!narrower(&r(json!({"d": {"other": ["vt"]}})), &limit));
        assert!(!narrower(&r(json!({"r": {"db": {"u": ["ir"]}}})), &limit));
        assert!(!narrower(&Restrictions::default(), &limit), "unrestricted");
    }
}
