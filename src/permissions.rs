//! Permissions as SQL over the catalog. Rules come from roles (membership ×
//! role_actions), a public space (role 'public' for everyone) and explicit
//! grants; a deny wins; a token's restrictions can only narrow; holding an
//! action on a child implies its parents' view actions (view-table ⇒
//! view-database ⇒ view-instance). Two operations, each a single query:
//! [`allowed`] and [`allowed_resources`]; [`explain`] tells why, for the
//! debugging endpoints.

use anyhow::Result;
use libsql::{Connection, Value};

use crate::actor::Actor;
use crate::sqlite::{self, Sql};

/// A resource in a space: the space itself, a database, or a table of one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Space,
    Database(String),
    Table(String, String),
}

impl Resource {
    /// The database and table the resource names, if any.
    pub fn parts(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Resource::Space => (None, None),
            Resource::Database(db) => (Some(db), None),
            Resource::Table(db, table) => (Some(db), Some(table)),
        }
    }

    fn from_parts(db: Option<String>, tbl: Option<String>) -> Resource {
        match (db, tbl) {
            (Some(db), Some(tbl)) => Resource::Table(db, tbl),
            (Some(db), None) => Resource::Database(db),
            _ => Resource::Space,
        }
    }

    /// The resource as the `:db` and `:tbl` parameters of a query.
    fn params(&self) -> [(String, Value); 2] {
        let text = |s: Option<&str>| s.map(|s| Value::Text(s.into())).unwrap_or(Value::Null);
        let (db, tbl) = self.parts();
        [(":db".into(), text(db)), (":tbl".into(), text(tbl))]
    }
}

/// The rules that bear on the actor in the space, each with its source
/// (`role`, `public space`, `grant`) and reason; and the token's `_r`
/// restrictions as rows (none when there is no restricted token). A macro so
/// that the decision and the explanations ([`explain`]) share one text.
macro_rules! rules_cte {
    () => {
        "rules(db, tbl, action, allow, source, reason) as (
    select null, null, ra.action, 1, 'role', 'role ' || m.role
      from memberships m join role_actions ra on ra.role = m.role
     where m.space_id = :space and m.user_id = :user
    union all
    select null, null, ra.action, 1, 'public space', 'anyone may do this in a public space'
      from spaces s join role_actions ra on ra.role = 'public'
     where s.id = :space and s.public = 1
    union all
    select g.database_name, g.table_name, g.action, g.allow, 'grant', g.reason
      from grants g
     where g.space_id = :space and (g.user_id is null or g.user_id = :user)
    union all
    -- a member may change and delete the stored queries they stored
    select d.name, sq.name, o.action, 1, 'query owner', 'the member who stored this query'
      from stored_queries sq join databases d on d.id = sq.database_id
      join (select 'update-query' as action union all select 'delete-query') o
     where d.space_id = :space and sq.owner_user_id = :user
       and exists (select 1 from memberships m where m.space_id = :space and m.user_id = :user)
), restriction(db, tbl, action) as (
    select null, null, ac.name
      from json_each(:restrictions, '$.a') x join actions ac on x.value in (ac.abbr, ac.name)
    union all
    select d.key, null, ac.name
      from json_each(:restrictions, '$.d') d, json_each(d.value) x
      join actions ac on x.value in (ac.abbr, ac.name)
    union all
    select d.key, t.key, ac.name
      from json_each(:restrictions, '$.r') d, json_each(d.value) t, json_each(t.value) x
      join actions ac on x.value in (ac.abbr, ac.name)
)"
    };
}

pub mod explain;

/// The resources of the action's level in the space, as `target(db, tbl)`:
/// the space, its databases, or its tables and views.
const TARGETS: &str = "target(db, tbl) as (
    select null, null
     where (select level from actions where name = :action) = 'instance'
    union all
    select d.name, null from databases d
     where d.space_id = :space
       and (select level from actions where name = :action) = 'database'
    union all
    select d.name, mt.name from mirror_tables mt join databases d on d.id = mt.database_id
     where d.space_id = :space
       and (select level from actions where name = :action) = 'table'
       and :action not like '%-query'
    union all
    select d.name, sq.name from stored_queries sq join databases d on d.id = sq.database_id
     where d.space_id = :space and :action like '%-query'
)";

/// The decision, given the resources under question as `target(db, tbl)`.
/// An action is allowed when it and every action it also requires (as
/// `execute-sql` requires `view-database`) pass the three tests below.
const DECIDE: &str = concat!(
    "
, required(action) as (
    -- the action asked and, transitively, the actions it also requires
    select :action
    union
    select a.also_requires from actions a join required r on a.name = r.action
     where a.also_requires is not null
), via(asked, action, implied) as (
    -- each required action, and the child actions that imply it on a parent
    select action, action, 0 from required
    union all
    select r.action, i.action, 1 from required r join action_implies i on i.implied = r.action
), ",
    rules_cte!(),
    "
select t.db, t.tbl from target t
where not exists (
  select 1 from required q
  where not (
        -- an allow for the action, or for a child action on this path
        exists (
          select 1 from rules r join via v on v.action = r.action and v.asked = q.action
           where r.allow = 1
             and (r.db is null or r.db = t.db or (v.implied and t.db is null))
             and (r.tbl is null or r.tbl = t.tbl or v.implied))
        -- deny wins: a deny of the action on the resource or any parent of it
    and not exists (
          select 1 from rules r
           where r.allow = 0 and r.action = q.action
             and (r.db is null or r.db = t.db)
             and (r.tbl is null or r.tbl = t.tbl))
        -- restrictions narrow: one of them must cover the resource the same way
    and (:restrictions is null or exists (
          select 1 from restriction r join via v on v.action = r.action and v.asked = q.action
           where (r.db is null or r.db = t.db or (v.implied and t.db is null))
             and (r.tbl is null or r.tbl = t.tbl or v.implied)))))
  -- a private stored query is its owner's alone, whatever else allows it
  -- (the action compared in turn: an IN list is a temporary table each run)
  and not ((:action = 'view-query' or :action = 'update-query' or :action = 'delete-query') and exists (
        select 1 from stored_queries sq join databases d on d.id = sq.database_id
         where d.space_id = :space and d.name = t.db and sq.name = t.tbl and sq.is_private = 1
           and (:user is null or sq.owner_user_id is not :user)))"
);

fn params(space_id: i64, actor: &Actor, action: &str) -> Vec<(String, Value)> {
    let restrictions = actor
        .restrictions()
        .map(|r| Value::Text(serde_json::to_string(r).expect("restrictions serialise")))
        .unwrap_or(Value::Null);
    vec![
        (":space".into(), Value::Integer(space_id)),
        (
            ":user".into(),
            actor.user_id.map(Value::Integer).unwrap_or(Value::Null),
        ),
        (":restrictions".into(), restrictions),
        (":action".into(), Value::Text(action.into())),
    ]
}

/// May `actor` do `action` on `resource` in the space? (The statement is
/// kept with the connection: parsing it is most of a decision's cost.)
pub fn allowed(
    conn: &sqlite::Pooled,
    space_id: i64,
    actor: &Actor,
    action: &str,
    resource: &Resource,
) -> Result<bool> {
    let sql = format!("with target(db, tbl) as (select :db, :tbl){DECIDE}");
    let mut params = params(space_id, actor, action);
    params.extend(resource.params());
    Ok(conn.one(&sql, params)?.is_some())
}

/// Every resource of the action's level in the space on which `actor` may do
/// `action`: databases for database actions, tables and views for table actions.
pub fn allowed_resources(
    conn: &Connection,
    space_id: i64,
    actor: &Actor,
    action: &str,
) -> Result<Vec<Resource>> {
    let sql = format!("with {TARGETS}{DECIDE} order by t.db, t.tbl");
    sqlite::query_all(conn, &sql, params(space_id, actor, action))?
        .iter()
        .map(|row| Ok(Resource::from_parts(row.get(0)?, row.get(1)?)))
        .collect()
}
