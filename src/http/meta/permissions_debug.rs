//! Permission debugging, as Datasette 1.0a41 has it: `/-/check.json` (one
//! decision and why), `/-/rules.json` (the rules that apply) for those who
//! hold `permissions-debug` (a space's owners), and `/-/allowed.json` (the
//! resources an actor may act on) for anyone who may view the space, with
//! each resource's reasons for those who may debug. Rule sources are
//! libsette's own: role, public space, grant, token restriction.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::actor::{Actor, TokenGrant};
use crate::catalog::mirror;
use crate::catalog::tokens::Restrictions;
use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::{UNSTABLE, json_response};
use crate::permissions::explain::{self, ActionInfo};
use crate::permissions::{self, Resource};
use crate::read::args::Args;

/// Which of the three endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Check,
    Allowed,
    Rules,
}

impl View {
    pub fn template(self) -> &'static str {
        match self {
            View::Check => "/{space}/-/check.json",
            View::Allowed => "/{space}/-/allowed.json",
            View::Rules => "/{space}/-/rules.json",
        }
    }
}

pub async fn show(req: &SpaceRequest, view: View) -> AppResult<Response> {
    if view != View::Check {
        req.require("view-instance", Resource::Space, "view-instance")
            .await?;
    }
    let debugger = may_debug(req).await?;
    if view != View::Allowed && !debugger {
        return Err(AppError::Forbidden("permissions-debug".into()));
    }
    let args = req.args();
    let name = args.get("action").filter(|a| !a.is_empty());
    let name = name.ok_or_else(|| AppError::BadRequest("action parameter is required".into()))?;
    match view {
        View::Check => check(req, args, name).await,
        View::Allowed => allowed(req, args, name, debugger).await,
        View::Rules => rules(req, args, name).await,
    }
}

async fn may_debug(req: &SpaceRequest) -> AppResult<bool> {
    Ok(req
        .app
        .allowed(
            req.space_id(),
            &req.actor,
            "permissions-debug",
            Resource::Space,
        )
        .await?)
}

/// The action named `name`, or Datasette's 404.
async fn find_action(req: &SpaceRequest, name: &str) -> AppResult<ActionInfo> {
    let owned = name.to_owned();
    let found = req
        .app
        .catalog
        .call(move |conn| explain::find_action(conn, &owned))
        .await?;
    found.ok_or_else(|| {
        // Echo only what could be an action's name.
        let plain = name.len() <= 64 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        let message = match plain {
            true => format!("Unknown action: {name}"),
            false => "Unknown action".to_owned(),
        };
        AppError::Errors(StatusCode::NOT_FOUND, vec![message])
    })
}

/// `/-/check.json?action=&parent=&child=[&actor=]`: the decision for the
/// actor (or for the actor described by `actor`) and its explanation.
async fn check(req: &SpaceRequest, args: &Args, name: &str) -> AppResult<Response> {
    let parent = args.get("parent").filter(|p| !p.is_empty());
    let child = args.get("child").filter(|c| !c.is_empty());
    let actor = match args.get("actor") {
        Some(text) => described_actor(req, text).await?,
        None => req.actor.clone(),
    };
    let action = find_action(req, name).await?;
    if child.is_some() && parent.is_none() {
        return Err(AppError::BadRequest(
            "parent is required when child is provided".into(),
        ));
    }
    let resource = match (action.level.as_str(), parent, child) {
        ("instance", ..) | (_, None, _) => Resource::Space,
        ("table", Some(db), Some(table)) => Resource::Table(db.into(), table.into()),
        (_, Some(db), _) => Resource::Database(db.into()),
    };
    let space_id = req.space_id();
    let asked = actor.clone();
    // Decided afresh, past the cache: a debugging answer must be today's.
    let (allowed, explanation) = req
        .app
        .catalog
        .call(move |conn| {
            let allowed = permissions::allowed(conn, space_id, &asked, &action.name, &resource)?;
            let why = explain::explain(conn, space_id, &asked, &action, &resource)?;
            Ok((allowed, why))
        })
        .await?;
    let mut body = json!({
        "ok": true,
        "unstable": UNSTABLE,
        "action": name,
        "allowed": allowed,
        "actor": actor.to_json(),
        "resource": {"parent": parent, "child": child, "path": resource_path(parent, child)},
        "explanation": explanation,
    });
    if let Some(id) = &actor.name {
        body["actor_id"] = json!(id);
    }
    Ok(json_response(body))
}

/// The actor `?actor=` describes, as Datasette's actor JSON: `null` for
/// anonymous, `{"id": USER}` for a user by name, with `"_r"` for a token's
/// restrictions. An unknown name is a user without any role.
async fn described_actor(req: &SpaceRequest, text: &str) -> AppResult<Actor> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| AppError::BadRequest(format!("Invalid actor JSON: {e}")))?;
    let map = match value {
        Value::Null => return Ok(Actor::anonymous()),
        Value::Object(map) => map,
        _ => {
            return Err(AppError::BadRequest(
                "actor must be a JSON object or null".into(),
            ));
        }
    };
    let name = map.get("id").map(|id| match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let restrictions = match map.get("_r") {
        Some(r) => Some(
            serde_json::from_value::<Restrictions>(r.clone())
                .map_err(|_| AppError::BadRequest("_r must be Datasette's restrictions".into()))?,
        ),
        None => None,
    };
    let lookup = name.clone();
    let user_id = match lookup {
        Some(n) => {
            req.app
                .catalog
                .call(move |conn| crate::catalog::users::find_id(conn, &n))
                .await?
        }
        None => None,
    };
    Ok(Actor {
        user_id,
        name,
        token: restrictions.map(|r| TokenGrant {
            id: 0,
            restrictions: Some(r),
            expires_at: None,
        }),
    })
}

/// Datasette's path of a resource (names as they are, not encoded).
fn resource_path(parent: Option<&str>, child: Option<&str>) -> String {
    match (parent, child) {
        (None, _) => "/".into(),
        (Some(p), None) => format!("/{p}"),
        (Some(p), Some(c)) => format!("/{p}/{c}"),
    }
}

/// A page of items: `_page` (from 1) and `_size` (default 50, at most 200).
struct Page {
    number: usize,
    size: usize,
}

impl Page {
    fn from_args(args: &Args) -> AppResult<Page> {
        let number =
            match args.get("_page") {
                None => 1,
                Some(p) => p.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    AppError::BadRequest("_page must be a positive integer".into())
                })?,
            };
        let size = match args.get("_size") {
            None | Some("") => 50,
            Some("max") => 200,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n <= 200 => n,
                Ok(_) => return Err(AppError::BadRequest("_size must be <= 200".into())),
                Err(_) => {
                    return Err(AppError::BadRequest(
                        "_size must be a positive integer".into(),
                    ));
                }
            },
        };
        Ok(Page { number, size })
    }

    /// The answer for one page of `items`, with links (to `path` under the
    /// space) to its neighbours.
    fn answer(&self, path: String, args: &Args, head: Value, items: Vec<Value>) -> Value {
        let total = items.len();
        let offset = (self.number - 1).saturating_mul(self.size);
        let shown: Vec<Value> = items.into_iter().skip(offset).take(self.size).collect();
        let mut body = head;
        body["page"] = json!(self.number);
        body["page_size"] = json!(self.size);
        body["total"] = json!(total);
        body["items"] = json!(shown);
        let link = |number: usize| {
            let size = self.size.to_string();
            let query = args.replaced(
                &["_page", "_size"],
                &[("_page", &number.to_string()), ("_size", &size)],
            );
            format!("{path}?{query}")
        };
        if total > offset + self.size {
            body["next_url"] = json!(link(self.number + 1));
        }
        if self.number > 1 {
            body["previous_url"] = json!(link(self.number - 1));
        }
        body
    }
}

/// `/-/allowed.json?action=[&parent=&child=]`: the resources of the action's
/// level the actor may act on; with each one's reasons for debuggers.
async fn allowed(
    req: &SpaceRequest,
    args: &Args,
    name: &str,
    debugger: bool,
) -> AppResult<Response> {
    let action = find_action(req, name).await?;
    let parent = args.get("parent").filter(|p| !p.is_empty());
    let child = args.get("child").filter(|c| !c.is_empty());
    if child.is_some() && parent.is_none() {
        return Err(AppError::BadRequest(
            "parent must be provided when child is specified".into(),
        ));
    }
    let page = Page::from_args(args)?;
    let (space_id, actor) = (req.space_id(), req.actor.clone());
    let (mut resources, reasons) = req
        .app
        .catalog
        .call(move |conn| listed(conn, space_id, &actor, &action, debugger))
        .await?;
    resources.retain(|r| {
        let (db, tbl) = r.parts();
        parent.is_none_or(|p| db == Some(p)) && child.is_none_or(|c| tbl == Some(c))
    });
    let items: Vec<Value> = resources
        .iter()
        .map(|resource| {
            let (db, tbl) = resource.parts();
            let mut item = json!({"parent": db, "child": tbl, "resource": resource_path(db, tbl)});
            if debugger {
                item["reason"] = json!(reasons.get(resource).cloned().unwrap_or_default());
            }
            item
        })
        .collect();
    let head = json!({"ok": true, "action": name, "actor_id": req.actor.name});
    let path = format!("{}/-/allowed.json", req.base);
    Ok(json_response(page.answer(path, args, head, items)))
}

/// Each resource's allow rules, as `source: reason`.
type Reasons = HashMap<Resource, Vec<String>>;

/// The resources `/-/allowed.json` lists, and (for debuggers) the reasons of each.
fn listed(
    conn: &libsql::Connection,
    space_id: i64,
    actor: &Actor,
    action: &ActionInfo,
    debugger: bool,
) -> anyhow::Result<(Vec<Resource>, Reasons)> {
    let mut allowed = permissions::allowed_resources(conn, space_id, actor, &action.name)?;
    if action.level == "table" {
        // Tables backing virtual tables are no resources of their own (as Datasette).
        let tables: HashSet<(String, String)> = mirror::space_tables(conn, space_id)?
            .into_iter()
            .map(|(db, table, _)| (db, table))
            .collect();
        allowed.retain(|r| match r {
            Resource::Table(db, table) => tables.contains(&(db.clone(), table.clone())),
            _ => true,
        });
    }
    let mut reasons = Reasons::new();
    if !debugger {
        return Ok((
            viewable_only(conn, space_id, actor, &action.level, allowed)?,
            reasons,
        ));
    }
    for (resource, why) in explain::reasons(conn, space_id, actor, &action.name)? {
        reasons.entry(resource).or_default().push(why);
    }
    Ok((allowed, reasons))
}

/// Of `resources`, those the actor may also view: listing them tells
/// nobody of a table (or database) hidden from them, whatever the action.
fn viewable_only(
    conn: &libsql::Connection,
    space_id: i64,
    actor: &Actor,
    level: &str,
    resources: Vec<Resource>,
) -> anyhow::Result<Vec<Resource>> {
    let view = match level {
        "table" => "view-table",
        "database" => "view-database",
        _ => return Ok(resources),
    };
    let viewable: HashSet<Resource> = permissions::allowed_resources(conn, space_id, actor, view)?
        .into_iter()
        .collect();
    Ok(resources
        .into_iter()
        .filter(|r| viewable.contains(r))
        .collect())
}

/// `/-/rules.json?action=`: every rule for the action that applies to the actor.
async fn rules(req: &SpaceRequest, args: &Args, name: &str) -> AppResult<Response> {
    let action = find_action(req, name).await?;
    let page = Page::from_args(args)?;
    let (space_id, actor) = (req.space_id(), req.actor.clone());
    let rules = req
        .app
        .catalog
        .call(move |conn| explain::rules(conn, space_id, &actor, &action.name))
        .await?;
    let items: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "parent": r.parent,
                "child": r.child,
                "resource": resource_path(r.parent.as_deref(), r.child.as_deref()),
                "action": r.action,
                "allow": r.allow as i64,
                "reason": r.reason,
                "source_plugin": r.source,
            })
        })
        .collect();
    let head = json!({"ok": true, "action": name, "actor_id": req.actor.name});
    let path = format!("{}/-/rules.json", req.base);
    Ok(json_response(page.answer(path, args, head, items)))
}
