//! Why a decision came out as it did, for the permission-debugging endpoints
//! (`/-/check.json`, `/-/allowed.json`, `/-/rules.json`): the same rules and
//! the same tests as the decision in [`super`], listed instead of combined.
//! Each rule names its source: `role`, `public space`, `grant`, and a token's
//! narrowing is `token restriction`.

use anyhow::Result;
use libsql::Connection;
use serde::Serialize;

use super::{Resource, TARGETS, params};
use crate::actor::Actor;
use crate::sqlite;

/// The action asked and the child actions that imply it on a parent.
const VIA: &str = "via(action, implied) as (
    select :action, 0
    union all
    select i.action, 1 from action_implies i where i.implied = :action
), ";

/// An allow rule `r` (reached through `v`) that covers the resource `(db, tbl)`,
/// as the decision tests it.
const ALLOW_COVERS: &str = "r.allow = 1
    and (r.db is null or r.db = {db} or (v.implied and {db} is null))
    and (r.tbl is null or r.tbl = {tbl} or v.implied)";

fn allow_covers(db: &str, tbl: &str) -> String {
    ALLOW_COVERS.replace("{db}", db).replace("{tbl}", tbl)
}

/// One of libsette's actions.
#[derive(Clone, Debug)]
pub struct ActionInfo {
    pub name: String,
    /// `instance`, `database` or `table`.
    pub level: String,
    pub also_requires: Option<String>,
}

/// The action named `name`, if there is one.
pub fn find_action(conn: &Connection, name: &str) -> Result<Option<ActionInfo>> {
    let row = sqlite::query_one(
        conn,
        "select name, level, also_requires from actions where name = ?1",
        [name],
    )?;
    row.map(|r| {
        Ok(ActionInfo {
            name: r.get(0)?,
            level: r.get(1)?,
            also_requires: r.get(2)?,
        })
    })
    .transpose()
}

/// A rule that bears on the actor and action.
#[derive(Clone, Debug, Serialize)]
pub struct Rule {
    pub parent: Option<String>,
    pub child: Option<String>,
    /// The rule's own action: a child action that implies the one asked, or that one.
    pub action: String,
    pub allow: bool,
    pub source: String,
    pub reason: String,
}

impl Rule {
    /// Datasette's name for how much of the resource the rule names.
    fn scope(&self) -> &'static str {
        match (&self.parent, &self.child) {
            (None, _) => "global",
            (Some(_), None) => "parent",
            (Some(_), Some(_)) => "resource",
        }
    }

    fn specificity(&self) -> u8 {
        self.parent.is_some() as u8 + self.child.is_some() as u8
    }
}

fn rule_of(row: &sqlite::SqlRow) -> Result<Rule> {
    Ok(Rule {
        parent: row.get(0)?,
        child: row.get(1)?,
        action: row.get(2)?,
        allow: row.get::<i64>(3)? == 1,
        source: row.get(4)?,
        reason: row.get(5)?,
    })
}

/// Every rule for `action` that applies to `actor`: its allows, the allows
/// of child actions that imply it, and its denies; allows first, broadest first.
pub fn rules(conn: &Connection, space_id: i64, actor: &Actor, action: &str) -> Result<Vec<Rule>> {
    let sql = format!(
        "with {VIA}{}
         select r.db, r.tbl, r.action, r.allow, r.source, r.reason
           from rules r join via v on v.action = r.action
          where r.allow = 1 or not v.implied
          order by r.allow desc, r.db is not null, r.db, r.tbl, r.tbl is not null,
                   v.implied, r.source, r.reason",
        rules_cte!()
    );
    sqlite::query_all(conn, &sql, params(space_id, actor, action))?
        .iter()
        .map(rule_of)
        .collect()
}

/// For each resource of the action's level, the allow rules that cover it
/// (`source: reason`), as `/-/allowed.json` shows them.
pub fn reasons(
    conn: &Connection,
    space_id: i64,
    actor: &Actor,
    action: &str,
) -> Result<Vec<(Resource, String)>> {
    let sql = format!(
        "with {TARGETS}, {VIA}{}
         select t.db, t.tbl, r.source || ': ' || r.reason
                || case when v.implied then ' (' || r.action || ' implies ' || :action || ')'
                   else '' end
           from target t, rules r join via v on v.action = r.action
          where {}
          order by t.db, t.tbl, v.implied, r.source, r.reason",
        rules_cte!(),
        allow_covers("t.db", "t.tbl")
    );
    sqlite::query_all(conn, &sql, params(space_id, actor, action))?
        .iter()
        .map(|row| Ok((Resource::from_parts(row.get(0)?, row.get(1)?), row.get(2)?)))
        .collect()
}

/// The rules that match one resource: allows that cover it, denies on it or a parent.
fn matched(
    conn: &Connection,
    space_id: i64,
    actor: &Actor,
    action: &str,
    resource: &Resource,
) -> Result<Vec<Rule>> {
    let sql = format!(
        "with {VIA}{}
         select r.db, r.tbl, r.action, r.allow, r.source, r.reason
           from rules r join via v on v.action = r.action
          where ({})
             or (r.allow = 0 and not v.implied
                 and (r.db is null or r.db = :db) and (r.tbl is null or r.tbl = :tbl))",
        rules_cte!(),
        allow_covers(":db", ":tbl")
    );
    let mut params = params(space_id, actor, action);
    params.extend(resource.params());
    sqlite::query_all(conn, &sql, params)?
        .iter()
        .map(rule_of)
        .collect()
}

/// Whether the token's restrictions cover the resource; `None` without a restricted token.
fn restricted(
    conn: &Connection,
    space_id: i64,
    actor: &Actor,
    action: &str,
    resource: &Resource,
) -> Result<Option<bool>> {
    if actor.restrictions().is_none() {
        return Ok(None);
    }
    let sql = format!(
        "with {VIA}{}
         select exists (
           select 1 from restriction r join via v on v.action = r.action
            where (r.db is null or r.db = :db or (v.implied and :db is null))
              and (r.tbl is null or r.tbl = :tbl or v.implied))",
        rules_cte!()
    );
    let mut params = params(space_id, actor, action);
    params.extend(resource.params());
    let row = sqlite::query_one(conn, &sql, params)?;
    Ok(Some(row.map(|r| r.get::<i64>(0)).transpose()? == Some(1)))
}

/// A matched rule as `/-/check.json` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct MatchedRule {
    pub scope: &'static str,
    pub effect: &'static str,
    pub action: String,
    pub source: String,
    pub reason: String,
    pub decisive: bool,
    pub ignored_because: Option<&'static str>,
}

/// A token restriction's verdict on the resource.
#[derive(Clone, Debug, Serialize)]
pub struct RestrictionCheck {
    pub source: &'static str,
    pub allowed: bool,
    pub reason: &'static str,
}

/// Why `action` is or is not allowed on a resource, in the shape of
/// Datasette's explanation.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub action: String,
    pub rule_allowed: bool,
    pub restriction_allowed: bool,
    pub winning_scope: Option<&'static str>,
    pub matched_rules: Vec<MatchedRule>,
    pub restrictions: Vec<RestrictionCheck>,
    /// The explanation of the action this one also requires (as `execute-sql`
    /// requires `view-database`), if any.
    pub required_actions: Vec<Explanation>,
    pub allowed: bool,
    pub summary: String,
}

/// Explains `actor`'s decision on `action` (which must exist) and the
/// actions it also requires.
pub fn explain(
    conn: &Connection,
    space_id: i64,
    actor: &Actor,
    action: &ActionInfo,
    resource: &Resource,
) -> Result<Explanation> {
    let mut rules = matched(conn, space_id, actor, &action.name, resource)?;
    // Most specific first, denies before allows, as Datasette lists them.
    rules.sort_by(|a, b| {
        b.specificity()
            .cmp(&a.specificity())
            .then_with(|| (a.allow, &a.source, &a.reason).cmp(&(b.allow, &b.source, &b.reason)))
    });
    let denied = rules.iter().any(|r| !r.allow);
    let rule_allowed = !rules.is_empty() && !denied;
    // A deny wins at every scope, so denies decide when there are any; else every allow does.
    let matched_rules: Vec<MatchedRule> = rules
        .iter()
        .map(|r| MatchedRule {
            scope: r.scope(),
            effect: if r.allow { "allow" } else { "deny" },
            action: r.action.clone(),
            source: r.source.clone(),
            reason: r.reason.clone(),
            decisive: !(denied && r.allow),
            ignored_because: (denied && r.allow).then_some("A deny rule matched: a deny wins"),
        })
        .collect();
    let winning_scope = matched_rules.iter().find(|r| r.decisive).map(|r| r.scope);
    let restrictions: Vec<RestrictionCheck> =
        restricted(conn, space_id, actor, &action.name, resource)?
            .map(|allowed| RestrictionCheck {
                source: "token restriction",
                allowed,
                reason: if allowed {
                    "The token's restrictions include this resource"
                } else {
                    "The token's restrictions do not include this resource"
                },
            })
            .into_iter()
            .collect();
    let restriction_allowed = restrictions.iter().all(|r| r.allowed);
    let required_actions = match &action.also_requires {
        Some(name) => match find_action(conn, name)? {
            Some(required) => vec![explain(conn, space_id, actor, &required, resource)?],
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let allowed = rule_allowed && restriction_allowed && required_actions.iter().all(|r| r.allowed);
    let mut explanation = Explanation {
        action: action.name.clone(),
        rule_allowed,
        restriction_allowed,
        winning_scope,
        matched_rules,
        restrictions,
        required_actions,
        allowed,
        summary: String::new(),
    };
    explanation.summary = summary(&explanation);
    Ok(explanation)
}

fn summary(e: &Explanation) -> String {
    if let Some(denied) = e.required_actions.iter().find(|r| !r.allowed) {
        return format!(
            "Denied because {} also requires {}, which was denied.",
            e.action, denied.action
        );
    }
    let scope = e.winning_scope.unwrap_or("global");
    if e.matched_rules.is_empty() {
        "Denied because no permission rule matched this actor and resource.".into()
    } else if !e.rule_allowed {
        format!("Denied by a {scope}-level rule: a deny wins over every allow, at any scope.")
    } else if !e.restriction_allowed {
        "Denied because the resource is not included in the token's restrictions.".into()
    } else {
        format!("Allowed by the matching {scope}-level rule.")
    }
}
