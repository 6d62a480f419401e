//! API tokens of a space over JSON, `/{space}/-/api/tokens` (list, create,
//! revoke), and the rules both it and the tokens page follow: members create
//! tokens for themselves; an expiry is capped by `max_signed_tokens_ttl`; a
//! token may only create tokens narrower than itself; members see and revoke
//! their own tokens, owners every token of the space.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::json_response;
use super::tenant::SpaceRequest;
use super::ui;
use crate::catalog::tokens::{self, NewToken, Restrictions, Secret, TokenInfo};
use crate::error::{AppError, AppResult};

/// What a new token should be, before checks; actions by name or abbreviation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds until it expires; `None` for never.
    #[serde(default, alias = "expire_after")]
    pub expires_after: Option<i64>,
    #[serde(default)]
    pub restrict_all: Vec<String>,
    #[serde(default)]
    pub restrict_database: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub restrict_resource: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The actor's user id and role, or why they may not manage tokens here.
async fn member(req: &SpaceRequest) -> AppResult<(i64, String)> {
    let Some(user_id) = req.actor.user_id else {
        return Err(AppError::Forbidden(
            "Log in or use an API token to manage tokens".into(),
        ));
    };
    match ui::role(req).await? {
        Some(role) => Ok((user_id, role)),
        None => Err(AppError::Forbidden(
            "Only members of this space may manage its tokens".into(),
        )),
    }
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
    let (_, _role) = member(req).await?;
    let settings = &req.space.settings;
    if !settings.flag("allow_signed_tokens") {
        return Err(AppError::Forbidden(
            "Creating tokens is turned off (allow_signed_tokens)".into(),
        ));
    }
    let max_ttl = settings.int("max_signed_tokens_ttl") as i64;
    let mut expires_after = request.expires_after;
    if let Some(seconds) = expires_after
        && seconds <= 0
    {
        return Err(AppError::BadRequest(
            "The expiry must be a positive number of seconds".into(),
        ));
    }
    if max_ttl > 0 {
        match expires_after {
            None => expires_after = Some(max_ttl),
            Some(s) if s > max_ttl => {
                return Err(AppError::BadRequest(format!(
                    "Tokens may last at most {max_ttl} seconds (max_signed_tokens_ttl)"
                )));
            }
            _ => {}
        }
    }
    let name = request
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(AppError::BadRequest(
            "A token name is at most 200 characters".into(),
        ));
    }
    let parent = req.actor.token.clone();
    let (space_id, actor) = (
        req.space_id(),
        req.actor.name.clone().expect("members have names"),
    );
    let created = req
        .app
        .catalog
        .call(move |conn| {
            let mut r = Restrictions::default();
            for action in &request.restrict_all {
                r.allow_all(conn, action)?;
            }
            for (db, actions) in &request.restrict_database {
                for action in actions {
                    r.allow_database(conn, db, action)?;
                }
            }
            for (db, tables) in &request.restrict_resource {
                for (table, actions) in tables {
                    for action in actions {
                        r.allow_resource(conn, db, table, action)?;
                    }
                }
            }
            Ok(r)
        })
        .await
        .map_err(|e| AppError::BadRequest(format!("{e:#}")))?;
    if let Some(parent) = &parent {
        let now = crate::catalog::unix_now();
        if let Some(limit) = &parent.restrictions
            && !narrower(&created, limit)
        {
            return Err(AppError::Forbidden(
                "A token may only create tokens narrower than itself".into(),
            ));
        }
        if let Some(end) = parent.expires_at {
            let left = end - now;
            match expires_after {
                Some(s) if s <= left => {}
                _ => {
                    return Err(AppError::Forbidden(
                        "A token may only create tokens that expire no later than itself".into(),
                    ));
                }
            }
        }
    }
    let restrictions = (!created.is_empty()).then_some(created);
    let (info, secret) = req
        .app
        .catalog
        .call(move |conn| {
            let (id, secret) = tokens::create(
                conn,
                NewToken {
                    space_id,
                    actor: &actor,
                    name: name.as_deref(),
                    restrictions,
                    expires_after,
                },
            )?;
            let info = tokens::list(conn, space_id)?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or_else(|| anyhow::anyhow!("token {id} vanished"))?;
            Ok((info, secret))
        })
        .await?;
    Ok((info, secret))
}

/// The tokens the actor may see: their own, or every one for an owner.
pub async fn visible(req: &SpaceRequest) -> AppResult<Vec<TokenInfo>> {
    let (_, role) = member(req).await?;
    let space_id = req.space_id();
    let all = req
        .app
        .catalog
        .call(move |conn| tokens::list(conn, space_id))
        .await?;
    let me = req.actor.name.clone();
    let owner = role == "owner" && req.actor.restrictions().is_none();
    Ok(all
        .into_iter()
        .filter(|t| owner || Some(&t.actor) == me.as_ref())
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
