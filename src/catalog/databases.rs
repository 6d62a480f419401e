//! The tenant databases each space owns (one row per file).

use anyhow::{Result, bail};
use libsql::Connection;

use super::unix_now;
use crate::sqlite::{self, Sql};

#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseRow {
    pub id: i64,
    pub name: String,
    pub schema_version: Option<i64>,
    /// For an immutable database, the hash its URLs carry.
    pub immutable_hash: Option<String>,
}

const COLUMNS: &str = "id, name, schema_version, case when immutable = 1 then content_hash end";

fn from_row(row: &crate::sqlite::SqlRow) -> Result<DatabaseRow> {
    Ok(DatabaseRow {
        id: row.get(0)?,
        name: row.get(1)?,
        schema_version: row.get(2)?,
        immutable_hash: row.get(3)?,
    })
}

/// Marks a database immutable with the hash of its file, or mutable again.
pub fn set_immutable(conn: &Connection, id: i64, hash: Option<&str>) -> Result<()> {
    sqlite::execute(
        conn,
        "update databases set immutable = ?2, content_hash = ?3 where id = ?1",
        (id, hash.is_some() as i64, hash),
    )?;
    Ok(())
}

/// Stores each table's row count, counted once for an immutable database.
pub fn set_row_counts(conn: &Connection, id: i64, counts: &[(String, i64)]) -> Result<()> {
    sqlite::write_transaction(conn, |conn| {
        for (table, count) in counts {
            sqlite::execute(
                conn,
                "update mirror_tables set row_count = ?3 where database_id = ?1 and name = ?2",
                (id, table.as_str(), *count),
            )?;
        }
        Ok(())
    })
}

/// Stored row counts of an immutable database's tables.
pub fn row_counts(conn: &Connection, id: i64) -> Result<Vec<(String, i64)>> {
    sqlite::query_all(
        conn,
        "select name, row_count from mirror_tables where database_id = ?1 and row_count is not null",
        [id],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
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
        &format!("select {COLUMNS} from databases where space_id = ?1 and name = ?2"),
        (space_id, name),
    )?
    .map(|row| from_row(&row))
    .transpose()
}

pub fn list(conn: &impl Sql, space_id: i64) -> Result<Vec<DatabaseRow>> {
    conn.all(
        &format!("select {COLUMNS} from databases where space_id = ?1 order by name"),
        [space_id],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Removes a database's row; its mirror and stored queries go with it.
pub fn delete(conn: &Connection, id: i64) -> Result<()> {
    sqlite::execute(conn, "delete from databases where id = ?1", [id])?;
    Ok(())
}
