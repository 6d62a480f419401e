//! The tenant databases each space owns (one row per file).

use anyhow::{Result, bail};
use libsql::Connection;

use super::unix_now;
use crate::sqlite;

#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseRow {
    pub id: i64,
    pub name: String,
    pub schema_version: Option<i64>,
}

fn from_row(row: &crate::sqlite::SqlRow) -> Result<DatabaseRow> {
    Ok(DatabaseRow {
        id: row.get(0)?,
        name: row.get(1)?,
        schema_version: row.get(2)?,
    })
}

pub fn register(conn: &Connection, space_id: i64, name: &str) -> Result<DatabaseRow> {
    if find(conn, space_id, name)?.is_some() {
        bail!("database '{name}' already exists in this space");
    }
    sqlite::execute(
        conn,
        "insert into databases (space_id, name, created_at) values (?1, ?2, ?3)",
        (space_id, name, unix_now()),
    )?;
    Ok(find(conn, space_id, name)?.expect("database just inserted"))
}

pub fn find(conn: &Connection, space_id: i64, name: &str) -> Result<Option<DatabaseRow>> {
    sqlite::query_one(
        conn,
        "select id, name, schema_version from databases where space_id = ?1 and name = ?2",
        (space_id, name),
    )?
    .map(|row| from_row(&row))
    .transpose()
}

pub fn list(conn: &Connection, space_id: i64) -> Result<Vec<DatabaseRow>> {
    sqlite::query_all(
        conn,
        "select id, name, schema_version from databases where space_id = ?1 order by name",
        [space_id],
    )?
    .iter()
    .map(from_row)
    .collect()
}
