//! The members page of a space, `/{space}/-/members`, for its owners: add a
//! user with a role, change roles, remove members (a space always keeps one
//! owner). Adding a name no user has yet invites it (the membership applies
//! once an admin creates that user), so an owner cannot learn which user
//! names exist: known and unknown names get the same answers.

use askama::Template;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, check_form_token, field, html_status, read_form, see_other};
use crate::catalog::{audit, spaces, users};
use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;

const ROLES: [&str; 3] = ["owner", "editor", "viewer"];

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    chrome: Chrome,
    members: Vec<(String, String)>,
    roles: [&'static str; 3],
    error: Option<String>,
}

async fn require_owner(req: &SpaceRequest) -> AppResult<Chrome> {
    let chrome = Chrome::for_space(req).await?;
    if !chrome.owner {
        return Err(AppError::Forbidden(
            "Only the space's owners may manage its members".into(),
        ));
    }
    Ok(chrome)
}

async fn render(
    req: &SpaceRequest,
    status: StatusCode,
    error: Option<String>,
) -> AppResult<Response> {
    let chrome = require_owner(req).await?;
    let space_id = req.space_id();
    let members = req
        .app
        .catalog
        .call(move |conn| spaces::members(conn, space_id))
        .await?;
    html_status(
        status,
        MembersPage {
            chrome,
            members,
            roles: ROLES,
            error,
        },
    )
}

/// `GET /-/members`
pub async fn page(req: &SpaceRequest) -> AppResult<Response> {
    render(req, StatusCode::OK, None).await
}

/// `POST /-/members`: `op` is `add`, `change` or `remove`.
pub async fn change(req: &SpaceRequest, body: Body) -> AppResult<Response> {
    require_owner(req).await?;
    let form = read_form(body).await?;
    check_form_token(req, &form)?;
    let op = field(&form, "op").unwrap_or("").to_owned();
    let user = field(&form, "user").unwrap_or("").trim().to_owned();
    let role = field(&form, "role").unwrap_or("viewer").to_owned();
    if op != "remove" && !ROLES.contains(&role.as_str()) {
        return render(req, StatusCode::BAD_REQUEST, Some("Unknown role".into())).await;
    }
    let space_id = req.space_id();
    let actor = req.actor.name.clone();
    let result = req
        .app
        .catalog
        .call(move |conn| {
            let user_id = match op.as_str() {
                "add" => Some(users::invite(conn, &user)?),
                _ => users::find_id(conn, &user)?,
            };
            let member = match user_id {
                Some(id) => spaces::role_of(conn, space_id, id)?.map(|_| id),
                None => None,
            };
            match (op.as_str(), member, user_id) {
                ("add", Some(_), _) => anyhow::bail!("{user} is already a member"),
                ("add", None, Some(id)) => spaces::set_member(conn, space_id, id, &role)?,
                ("change" | "remove", None, _) => anyhow::bail!("{user} is not a member"),
                ("change", Some(id), _) => spaces::change_role(conn, space_id, id, &role)?,
                ("remove", Some(id), _) => spaces::remove_member(conn, space_id, id)?,
                _ => anyhow::bail!("Unknown operation"),
            }
            audit::record(
                conn,
                audit::Event {
                    space_id: Some(space_id),
                    actor: actor.as_deref(),
                    token_id: None,
                    event: "member-changed",
                    detail: serde_json::json!({"op": op, "user": user, "role": role}),
                    ..Default::default()
                },
            )?;
            Ok(())
        })
        .await;
    match result {
        Ok(()) => Ok(see_other(&format!("{}/-/members", req.base))),
        Err(err) => render(req, StatusCode::BAD_REQUEST, Some(format!("{err:#}"))).await,
    }
}
