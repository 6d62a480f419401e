//! One space's catalog rows, as a one-space backup carries them to another
//! server (`space.json`): the space, its settings, CORS origins, databases,
//! members and grants. Users are named, not numbered (ids differ between
//! servers); tokens, sessions and the audit log stay behind: they are
//! credentials and history of the server that issued them.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use libsql::Connection;
use serde::{Deserialize, Serialize};

use crate::catalog::{databases, spaces, unix_now, users};
use crate::names::SpaceName;
use crate::sqlite::{self, SqlRow};

#[derive(Debug, Serialize, Deserialize)]
pub struct SpaceRows {
    pub name: String,
    pub public: bool,
    pub created_at: i64,
    /// The space's own settings (`space set --setting`).
    pub settings: BTreeMap<String, String>,
    pub cors_origins: Vec<String>,
    pub databases: Vec<Database>,
    pub members: Vec<Member>,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    pub created_at: i64,
    /// An immutable database's URL hash, kept so its URLs stay the same.
    pub immutable_hash: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Member {
    pub user: String,
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Grant {
    /// `None`: every actor, anonymous included.
    pub user: Option<String>,
    pub database: Option<String>,
    pub table: Option<String>,
    pub action: String,
    pub allow: bool,
    pub reason: String,
}

/// What an import did with the users the space names.
#[derive(Debug, Default)]
pub struct Imported {
    /// Users this server already had, taken as the same people.
    pub existing: Vec<String>,
    /// Users created as invitations: no password, no login until an admin
    /// runs `libsette user create NAME`.
    pub invited: Vec<String>,
}

/// The rows of space `name`, read in one transaction (one moment).
pub fn export(conn: &Connection, name: &str) -> Result<SpaceRows> {
    sqlite::execute_batch(conn, "begin")?;
    let rows = read(conn, name);
    let _ = sqlite::execute_batch(conn, "commit");
    rows
}

fn read(conn: &Connection, name: &str) -> Result<SpaceRows> {
    let space = spaces::require(conn, name)?;
    let created_at: i64 = one_int(
        conn,
        "select created_at from spaces where id = ?1",
        space.id,
    )?;
    let databases = sqlite::query_all(
        conn,
        "select name, created_at, case when immutable = 1 then content_hash end
         from databases where space_id = ?1 order by name",
        [space.id],
    )?
    .iter()
    .map(|r| {
        Ok(Database {
            name: r.get(0)?,
            created_at: r.get(1)?,
            immutable_hash: r.get(2)?,
        })
    })
    .collect::<Result<_>>()?;
    let members = spaces::members(conn, space.id)?
        .into_iter()
        .map(|(user, role)| Member { user, role })
        .collect();
    let grants = sqlite::query_all(
        conn,
        "select u.name, g.database_name, g.table_name, g.action, g.allow, g.reason
         from grants g left join users u on u.id = g.user_id
         where g.space_id = ?1 order by g.id",
        [space.id],
    )?
    .iter()
    .map(grant_of)
    .collect::<Result<_>>()?;
    Ok(SpaceRows {
        created_at,
        settings: spaces::settings(conn, space.id)?.into_iter().collect(),
        cors_origins: spaces::cors_origins(conn, space.id)?,
        databases,
        members,
        grants,
        name: space.name,
        public: space.public,
    })
}

fn grant_of(r: &SqlRow) -> Result<Grant> {
    Ok(Grant {
        user: r.get(0)?,
        database: r.get(1)?,
        table: r.get(2)?,
        action: r.get(3)?,
        allow: r.get::<i64>(4)? != 0,
        reason: r.get(5)?,
    })
}

fn one_int(conn: &Connection, sql: &str, id: i64) -> Result<i64> {
    sqlite::query_one(conn, sql, [id])?
        .context("the row just read")?
        .get(0)
}

/// Writes the rows as space `name` (which must not exist yet) inside the
/// caller's transaction, without its databases (the caller registers those
/// once their files are in place). Returns the new space's id.
pub fn import(
    conn: &Connection,
    name: &SpaceName,
    rows: &SpaceRows,
    users_seen: &mut Imported,
) -> Result<i64> {
    if spaces::find(conn, name.as_str())?.is_some() {
        bail!("space '{name}' already exists: restore under another name with --space NAME");
    }
    sqlite::execute(
        conn,
        "insert into spaces (name, public, created_at) values (?1, ?2, ?3)",
        (
            name.as_str(),
            rows.public as i64,
            rows.created_at.min(unix_now()),
        ),
    )?;
    let space = spaces::require(conn, name.as_str())?;
    for (setting, value) in &rows.settings {
        let value = crate::settings::validate(setting, value).map_err(anyhow::Error::msg)?;
        spaces::set_setting(conn, space.id, setting, &value)?;
    }
    let origins = rows
        .cors_origins
        .iter()
        .map(|o| crate::origin::Origin::parse(o).map(|o| o.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    spaces::change_cors_origins(conn, space.id, false, &origins)?;
    for member in &rows.members {
        let user = user_id(conn, &member.user, users_seen)?;
        spaces::set_member(conn, space.id, user, &member.role)
            .with_context(|| format!("adding member {} as {}", member.user, member.role))?;
    }
    for grant in &rows.grants {
        let user = match &grant.user {
            Some(name) => Some(user_id(conn, name, users_seen)?),
            None => None,
        };
        crate::catalog::grants::add(
            conn,
            crate::catalog::grants::Grant {
                space_id: space.id,
                user_id: user,
                database: grant.database.as_deref(),
                table: grant.table.as_deref(),
                action: &grant.action,
                allow: grant.allow,
                reason: &grant.reason,
            },
        )
        .with_context(|| format!("adding a grant of {}", grant.action))?;
    }
    Ok(space.id)
}

/// The id of user `name` here, inviting them (a user without a password)
/// when this server has no such user.
fn user_id(conn: &Connection, name: &str, seen: &mut Imported) -> Result<i64> {
    let known = seen.existing.iter().chain(&seen.invited).any(|u| u == name);
    match users::find_id(conn, name)? {
        Some(id) => {
            if !known {
                seen.existing.push(name.to_owned());
            }
            Ok(id)
        }
        None => {
            seen.invited.push(name.to_owned());
            users::invite(conn, name)
        }
    }
}

/// Registers a database whose file is in place, keeping its creation time.
pub fn register_database(conn: &Connection, space_id: i64, db: &Database) -> Result<i64> {
    let row = databases::register(conn, space_id, &db.name)?;
    sqlite::execute(
        conn,
        "update databases set created_at = ?2 where id = ?1",
        (row.id, db.created_at),
    )?;
    Ok(row.id)
}
