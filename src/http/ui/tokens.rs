//! The API tokens page of a space, `/{space}/-/tokens`, like Datasette
//! Cloud's: create a token (name, expiry, restrictions picked with
//! checkboxes), see its secret once, list tokens, revoke with one click.
//! The rules live in [`crate::http::api_tokens`], shared with the JSON API.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, check_form_token, field, html_status, read_form, see_other, utc};
use crate::catalog::tokens::TokenInfo;
use crate::catalog::unix_now;
use crate::error::{AppError, AppResult};
use crate::http::database;
use crate::http::meta::api_tokens::{self, TokenRequest};
use crate::http::tenant::SpaceRequest;
use crate::names::{tilde_decode, tilde_encode};
use crate::permissions::Resource;
use crate::sqlite;

/// One checkbox: an action on a scope.
struct ActionBox {
    name: String,
    value: String,
}

struct TableBoxes {
    name: String,
    actions: Vec<ActionBox>,
}

struct DatabaseBoxes {
    name: String,
    actions: Vec<ActionBox>,
    tables: Vec<TableBoxes>,
}

struct TokenRow {
    id: i64,
    name: String,
    actor: String,
    restrictions: String,
    created: String,
    last_used: String,
    expires: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    enabled: bool,
    allow_never: bool,
    max_ttl: u64,
    all: Vec<ActionBox>,
    databases: Vec<DatabaseBoxes>,
    tokens: Vec<TokenRow>,
    show_actor: bool,
    new_secret: Option<String>,
    error: Option<String>,
}

/// Datasette's actions as (name, abbreviation, level), in a stable order.
async fn actions(req: &SpaceRequest) -> AppResult<Vec<(String, String, String)>> {
    Ok(req
        .app
        .catalog
        .call(|conn| {
            sqlite::query_all(
                conn,
                "select name, abbr, level from actions
                 order by case level when 'instance' then 0 when 'database' then 1 else 2 end, name",
                (),
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .collect()
        })
        .await?)
}

/// The checkboxes the actor may tick: only actions they hold, where they hold them.
async fn boxes(
    req: &SpaceRequest,
    actions: &[(String, String, String)],
) -> AppResult<(Vec<ActionBox>, Vec<DatabaseBoxes>)> {
    let mut held: HashMap<&str, Vec<Resource>> = HashMap::new();
    for (name, _, _) in actions {
        let resources = req
            .app
            .allowed_resources(req.space_id(), &req.actor, name)
            .await?;
        held.insert(name, resources);
    }
    let checkbox = |name: &str, value: String| ActionBox {
        name: name.to_owned(),
        value,
    };
    let all = actions
        .iter()
        .filter(|(name, _, _)| !held[name.as_str()].is_empty())
        .map(|(name, abbr, _)| checkbox(name, format!("all:{abbr}")))
        .collect();
    let mut databases = Vec::new();
    for view in database::visible_databases(req, database::Counts::Skip).await? {
        let db = view.name.clone();
        let on_db = |name: &str| {
            held[name].iter().any(|r| match r {
                Resource::Database(d) | Resource::Table(d, _) => *d == db,
                Resource::Space => false,
            })
        };
        let db_actions = actions
            .iter()
            .filter(|(name, _, level)| level != "instance" && on_db(name))
            .map(|(name, abbr, _)| checkbox(name, format!("database:{}:{abbr}", tilde_encode(&db))))
            .collect();
        let tables = view
            .tables
            .iter()
            .filter(|t| !t.hidden)
            .map(|t| TableBoxes {
                name: t.name.clone(),
                actions: actions
                    .iter()
                    .filter(|(name, _, level)| {
                        level == "table"
                            && held[name.as_str()]
                                .contains(&Resource::Table(db.clone(), t.name.clone()))
                    })
                    .map(|(name, abbr, _)| {
                        checkbox(
                            name,
                            format!(
                                "resource:{}:{}:{abbr}",
                                tilde_encode(&db),
                                tilde_encode(&t.name)
                            ),
                        )
                    })
                    .collect(),
            })
            .collect();
        databases.push(DatabaseBoxes {
            name: db,
            actions: db_actions,
            tables,
        });
    }
    Ok((all, databases))
}

/// `all: view-table · library: execute-sql · library/books: view-table`
fn describe_restrictions(r: &Option<serde_json::Value>, names: &HashMap<String, String>) -> String {
    let Some(r) = r else {
        return "Everything you may do".into();
    };
    let list = |v: &serde_json::Value| -> String {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(|x| names.get(x).cloned().unwrap_or_else(|| x.to_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    if let Some(a) = r.get("a") {
        parts.push(format!("all: {}", list(a)));
    }
    if let Some(d) = r.get("d").and_then(|d| d.as_object()) {
        for (db, acts) in d {
            parts.push(format!("{db}: {}", list(acts)));
        }
    }
    if let Some(dbs) = r.get("r").and_then(|d| d.as_object()) {
        for (db, tables) in dbs {
            for (table, acts) in tables.as_object().into_iter().flatten() {
                parts.push(format!("{db}/{table}: {}", list(acts)));
            }
        }
    }
    parts.join(" · ")
}

fn rows(tokens: Vec<TokenInfo>, names: &HashMap<String, String>) -> Vec<TokenRow> {
    let now = unix_now();
    let mut rows: Vec<TokenRow> = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name.clone().unwrap_or_else(|| format!("Token {}", t.id)),
            restrictions: describe_restrictions(&t.restrictions, names),
            created: utc(t.created_at),
            last_used: t.last_used_at.map(utc).unwrap_or_else(|| "never".into()),
            expires: t.expires_at.map(utc).unwrap_or_else(|| "never".into()),
            state: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            },
            actor: t.actor,
        })
        .collect();
    rows.reverse();
    rows
}

async fn render(
    req: &SpaceRequest,
    status: StatusCode,
    new_secret: Option<String>,
    error: Option<String>,
) -> AppResult<Response> {
    let chrome = Chrome::for_space(req).await?;
    let tokens = api_tokens::visible(req).await?;
    let actions = actions(req).await?;
    let names: HashMap<String, String> = actions
        .iter()
        .map(|(name, abbr, _)| (abbr.clone(), name.clone()))
        .collect();
    let (all, databases) = boxes(req, &actions).await?;
    let settings = &req.space.settings;
    let max_ttl = settings.int("max_signed_tokens_ttl");
    html_status(
        status,
        TokensPage {
            show_actor: chrome.owner,
            chrome,
            enabled: settings.flag("allow_signed_tokens"),
            allow_never: max_ttl == 0,
            max_ttl,
            all,
            databases,
            tokens: rows(tokens, &names),
            new_secret,
            error,
        },
    )
}

/// `GET /-/tokens`
pub async fn page(req: &SpaceRequest) -> AppResult<Response> {
    render(req, StatusCode::OK, None, None).await
}

/// The token request a submitted form describes.
fn parse_form(form: &[(String, String)]) -> Result<TokenRequest, String> {
    let expires_after = match field(form, "expires").unwrap_or("never") {
        "never" => None,
        "custom" => {
            let amount: i64 = field(form, "custom_amount")
                .unwrap_or("")
                .trim()
                .parse()
                .map_err(|_| "Give the custom expiry as a whole number".to_owned())?;
            let unit = match field(form, "custom_unit").unwrap_or("days") {
                "minutes" => 60,
                "hours" => 3600,
                _ => 86_400,
            };
            // Checked: a huge amount must be refused, not wrap or saturate.
            let seconds = amount
                .checked_mul(unit)
                .ok_or_else(|| "The custom expiry is too long".to_owned())?;
            Some(seconds)
        }
        seconds => Some(seconds.parse().map_err(|_| "Unknown expiry".to_owned())?),
    };
    let mut request = TokenRequest {
        name: field(form, "name").map(str::to_owned),
        expires_after,
        ..TokenRequest::default()
    };
    let mut databases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in form {
        if key != "restrict" {
            continue;
        }
        let parts: Vec<&str> = value.split(':').collect();
        let decode = |s: &str| tilde_decode(s).ok_or_else(|| "Bad restriction".to_owned());
        match parts.as_slice() {
            ["all", action] => request.restrict_all.push((*action).to_owned()),
            ["database", db, action] => databases
                .entry(decode(db)?)
                .or_default()
                .push((*action).to_owned()),
            ["resource", db, table, action] => request
                .restrict_resource
                .entry(decode(db)?)
                .or_default()
                .entry(decode(table)?)
                .or_default()
                .push((*action).to_owned()),
            _ => return Err("Bad restriction".into()),
        }
    }
    request.restrict_database = databases;
    Ok(request)
}

/// `POST /-/tokens`: creates a token and shows its secret, once.
pub async fn create(req: &SpaceRequest, body: Body) -> AppResult<Response> {
    let form = read_form(body).await?;
    check_form_token(req, &form)?;
    let request = match parse_form(&form) {
        Ok(request) => request,
        Err(message) => return render(req, StatusCode::BAD_REQUEST, None, Some(message)).await,
    };
    match api_tokens::issue(req, request).await {
        Ok((_, secret)) => {
            render(
                req,
                StatusCode::CREATED,
                Some(secret.expose().to_owned()),
                None,
            )
            .await
        }
        Err(AppError::BadRequest(message)) | Err(AppError::Forbidden(message))
            if req.actor.user_id.is_some() =>
        {
            render(req, StatusCode::BAD_REQUEST, None, Some(message)).await
        }
        Err(err) => Err(err),
    }
}

/// `POST /-/tokens/{id}/revoke`
pub async fn revoke(req: &SpaceRequest, id: i64, body: Body) -> AppResult<Response> {
    let form = read_form(body).await?;
    check_form_token(req, &form)?;
    api_tokens::revoke_token(req, id).await?;
    Ok(see_other(&format!("{}/-/tokens", req.base)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn forms_become_token_requests() {
        let request = parse_form(&pairs(&[
            ("name", "ci"),
            ("expires", "custom"),
            ("custom_amount", "2"),
            ("custom_unit", "hours"),
            ("restrict", "all:vi"),
            ("restrict", "database:my~3Adb:es"),
            ("restrict", "resource:db:a+b~3A:vt"),
        ]))
        .unwrap();
        assert_eq!(request.name.as_deref(), Some("ci"));
        assert_eq!(request.expires_after, Some(7200));
        assert_eq!(request.restrict_all, ["vi"]);
        assert_eq!(request.restrict_database["my:db"], ["es"]);
        assert_eq!(request.restrict_resource["db"]["a b:"], ["vt"]);
        assert_eq!(
            parse_form(&pairs(&[("expires", "never")]))
                .unwrap()
                .expires_after,
            None
        );
        assert!(parse_form(&pairs(&[("restrict", "nope")])).is_err());
        let huge = parse_form(&pairs(&[
            ("expires", "custom"),
            ("custom_amount", &i64::MAX.to_string()),
            ("custom_unit", "days"),
        ]));
        assert_eq!(huge.unwrap_err(), "The custom expiry is too long");
    }
}
