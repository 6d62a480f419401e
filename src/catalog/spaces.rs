//! Spaces (tenants), their members and their per-space settings.

use anyhow::{Result, bail};
use libsql::Connection;

use super::{unix_now, users};
use crate::names::SpaceName;
use crate::sqlite::{self, Sql};

#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub id: i64,
    pub name: String,
    pub public: bool,
}

fn from_row(row: &crate::sqlite::SqlRow) -> Result<Space> {
    Ok(Space {
        id: row.get(0)?,
        name: row.get(1)?,
        public: row.get::<i64>(2)? != 0,
    })
}

/// Creates a space owned by `owner` (created without a password if missing).
pub fn create(conn: &Connection, name: &SpaceName, owner: &str, public: bool) -> Result<Space> {
    sqlite::write_transaction(conn, |conn| {
        if find(conn, name.as_str())?.is_some() {
            bail!("space '{name}' already exists");
        }
        let owner_id = users::ensure(conn, owner)?;
        sqlite::execute(
            conn,
            "insert into spaces (name, public, created_at) values (?1, ?2, ?3)",
            (name.as_str(), public as i64, unix_now()),
        )?;
        let space = find(conn, name.as_str())?.expect("space just inserted");
        set_member(conn, space.id, owner_id, "owner")?;
        Ok(space)
    })
}

pub fn find(conn: &impl Sql, name: &str) -> Result<Option<Space>> {
    conn.one(
        "select id, name, public from spaces where name = ?1",
        [name],
    )?
    .map(|row| from_row(&row))
    .transpose()
}

/// Like [`find`], but a missing space is an error that names it (for the CLI).
pub fn require(conn: &Connection, name: &str) -> Result<Space> {
    match find(conn, name)? {
        Some(space) => Ok(space),
        None => bail!("no space named '{name}'"),
    }
}

pub fn list(conn: &Connection) -> Result<Vec<Space>> {
    sqlite::query_all(
        conn,
        "select id, name, public from spaces order by name",
        (),
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Removes the space and everything the catalog holds for it.
pub fn delete(conn: &Connection, space: &Space) -> Result<()> {
    sqlite::execute(conn, "delete from spaces where id = ?1", [space.id])?;
    Ok(())
}

pub fn set_public(conn: &Connection, space: &Space, public: bool) -> Result<()> {
    sqlite::execute(
        conn,
        "update spaces set public = ?2 where id = ?1",
        (space.id, public as i64),
    )?;
    Ok(())
}

/// Adds a member or changes their role.
pub fn set_member(conn: &Connection, space_id: i64, user_id: i64, role: &str) -> Result<()> {
    sqlite::execute(
        conn,
        "insert into memberships (space_id, user_id, role) values (?1, ?2, ?3)
         on conflict (space_id, user_id) do update set role = excluded.role",
        (space_id, user_id, role),
    )?;
    Ok(())
}

/// Members as (user name, role), owners first.
pub fn members(conn: &Connection, space_id: i64) -> Result<Vec<(String, String)>> {
    sqlite::query_all(
        conn,
        "select u.name, m.role from memberships m join users u on u.id = m.user_id
         where m.space_id = ?1
         order by case m.role when 'owner' then 0 when 'editor' then 1 else 2 end, u.name",
        [space_id],
    )?
    .iter()
    .map(|row| Ok((row.get(0)?, row.get(1)?)))
    .collect()
}

pub fn settings(conn: &impl Sql, space_id: i64) -> Result<Vec<(String, String)>> {
    conn.all(
        "select name, value from space_settings where space_id = ?1 order by name",
        [space_id],
    )?
    .iter()
    .map(|row| Ok((row.get(0)?, row.get(1)?)))
    .collect()
}

pub fn set_setting(conn: &Connection, space_id: i64, name: &str, value: &str) -> Result<()> {
    sqlite::execute(
        conn,
        "insert into space_settings (space_id, name, value) values (?1, ?2, ?3)
         on conflict (space_id, name) do update set value = excluded.value",
        (space_id, name, value),
    )?;
    Ok(())
}

/// The role of `user_id` in the space, if they are a member.
pub fn role_of(conn: &Connection, space_id: i64, user_id: i64) -> Result<Option<String>> {
    sqlite::query_one(
        conn,
        "select role from memberships where space_id = ?1 and user_id = ?2",
        (space_id, user_id),
    )?
    .map(|row| row.get(0))
    .transpose()
}

/// Removes a member; refuses to remove or demote the space's last owner.
pub fn remove_member(conn: &Connection, space_id: i64, user_id: i64) -> Result<()> {
    sqlite::write_transaction(conn, |conn| {
        guard_last_owner(conn, space_id, user_id)?;
        sqlite::execute(
            conn,
            "delete from memberships where space_id = ?1 and user_id = ?2",
            (space_id, user_id),
        )?;
        Ok(())
    })
}

/// Changes a member's role, keeping at least one owner.
pub fn change_role(conn: &Connection, space_id: i64, user_id: i64, role: &str) -> Result<()> {
    sqlite::write_transaction(conn, |conn| {
        if role != "owner" {
            guard_last_owner(conn, space_id, user_id)?;
        }
        set_member(conn, space_id, user_id, role)
    })
}

fn guard_last_owner(conn: &Connection, space_id: i64, user_id: i64) -> Result<()> {
    let owners: i64 = sqlite::query_one(
        conn,
        "select count(*) from memberships where space_id = ?1 and role = 'owner' and user_id != ?2",
        (space_id, user_id),
    )?
    .map(|row| row.get(0))
    .transpose()?
    .unwrap_or(0);
    if owners == 0 && role_of(conn, space_id, user_id)?.as_deref() == Some("owner") {
        bail!("a space keeps at least one owner");
    }
    Ok(())
}

/// The origins allowed to call the space cross-origin (normalised, sorted);
/// empty when the space keeps `serve --cors`'s behaviour.
pub fn cors_origins(conn: &impl Sql, space_id: i64) -> Result<Vec<String>> {
    conn.all(
        "select origin from space_cors_origins where space_id = ?1 order by origin",
        [space_id],
    )?
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// Empties the space's CORS list first when `clear`, then adds `origins`
/// (validated and normalised by the caller), in one transaction.
pub fn change_cors_origins(
    conn: &Connection,
    space_id: i64,
    clear: bool,
    origins: &[String],
) -> Result<()> {
    sqlite::write_transaction(conn, |conn| {
        if clear {
            sqlite::execute(
                conn,
                "delete from space_cors_origins where space_id = ?1",
                [space_id],
            )?;
        }
        for origin in origins {
            sqlite::execute(
                conn,
                "insert into space_cors_origins (space_id, origin) values (?1, ?2)
                 on conflict do nothing",
                (space_id, origin.as_str()),
            )?;
        }
        Ok(())
    })
}
