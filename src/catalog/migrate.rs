//! Applies `migrations/NNNN_*.sql` in order, recording the last one applied in
//! `PRAGMA user_version`; refuses a catalog written by a newer libsette.

use anyhow::{Result, bail};
use libsql::Connection;

use crate::sqlite;

/// Every migration, in order; the number is the file's prefix.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_catalog.sql",
        include_str!("../../migrations/0001_catalog.sql"),
    ),
    (
        2,
        "0002_login_codes.sql",
        include_str!("../../migrations/0002_login_codes.sql"),
    ),
    (
        3,
        "0003_sessions.sql",
        include_str!("../../migrations/0003_sessions.sql"),
    ),
    (
        4,
        "0004_token_parents.sql",
        include_str!("../../migrations/0004_token_parents.sql"),
    ),
    (
        5,
        "0005_cors_origins.sql",
        include_str!("../../migrations/0005_cors_origins.sql"),
    ),
    (
        6,
        "0006_stored_queries.sql",
        include_str!("../../migrations/0006_stored_queries.sql"),
    ),
];

/// The catalog version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// The catalog's current version.
pub fn current(conn: &Connection) -> Result<i64> {
    let row = sqlite::query_one(conn, "pragma user_version", ())?;
    Ok(row.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

/// Applies every pending migration, each in its own transaction; returns how many ran.
pub fn apply(conn: &Connection) -> Result<usize> {
    let version = current(conn)?;
    if version > latest() {
        bail!(
            "this catalog was written by a newer libsette (catalog version {version}, this build knows up to {}); upgrade libsette",
            latest()
        );
    }
    let mut applied = 0;
    for (number, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > version) {
        sqlite::write_transaction(conn, |conn| {
            // Another process may have migrated while we waited for the lock.
            if current(conn)? >= *number {
                return Ok(());
            }
            sqlite::execute_batch(conn, sql)
                .map_err(|e| e.context(format!("applying migration {name}")))?;
            sqlite::execute_batch(conn, &format!("pragma user_version = {number}"))?;
            applied += 1;
            Ok(())
        })?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Numbers are handed out ahead of parallel branches, so this branch may
    // skip some: each must increase, and every file must be listed.
    #[test]
    fn migration_numbers_match_file_names_and_increase() {
        for (i, (number, name, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*number, i as i64 + 1, "{name}");
            assert!(name.starts_with(&format!("{number:04}_")), "{name}");
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        for file in std::fs::read_dir(dir).unwrap() {
            let file = file.unwrap().file_name().into_string().unwrap();
            assert!(
                !file.ends_with(".sql") || MIGRATIONS.iter().any(|m| m.1 == file),
                "{file} is not in MIGRATIONS"
            );
        }
    }
}
