//! Explicit permission rules beside roles: allow or deny one action to one
//! user (or to everyone) on a space, a database or a table.

use anyhow::Result;
use libsql::Connection;

use crate::sqlite;

/// One rule. `user_id: None` means every actor, anonymous included.
pub struct Grant<'a> {
    pub space_id: i64,
    pub user_id: Option<i64>,
    pub database: Option<&'a str>,
    pub table: Option<&'a str>,
    pub action: &'a str,
    pub allow: bool,
    pub reason: &'a str,
}

pub fn add(conn: &Connection, grant: Grant<'_>) -> Result<i64> {
    sqlite::execute(
        conn,
        "insert into grants (space_id, user_id, database_name, table_name, action, allow, reason)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        (
            grant.space_id,
            grant.user_id,
            grant.database,
            grant.table,
            grant.action,
            grant.allow as i64,
            grant.reason,
        ),
    )?;
    Ok(conn.last_insert_rowid())
}
