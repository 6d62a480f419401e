//! Users and their argon2id password hashes.

use anyhow::{Result, anyhow, bail};
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use libsql::Connection;

use super::unix_now;
use crate::sqlite;

/// A user name: 1 to 64 characters of letters, digits, `_`, `-`, `.` and `@`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if !ok {
        bail!("a user name is 1 to 64 characters of letters, digits, '_', '-', '.' and '@'");
    }
    Ok(())
}

pub fn find_id(conn: &Connection, name: &str) -> Result<Option<i64>> {
    sqlite::query_one(conn, "select id from users where name = ?1", [name])?
        .map(|row| row.get(0))
        .transpose()
}

/// The user's id, creating the user without a password if missing.
pub fn ensure(conn: &Connection, name: &str) -> Result<i64> {
    validate_name(name)?;
    sqlite::execute(
        conn,
        "insert into users (name, created_at) values (?1, ?2) on conflict (name) do nothing",
        (name, unix_now()),
    )?;
    find_id(conn, name)?.ok_or_else(|| anyhow!("user '{name}' vanished"))
}

/// Creates a new user; an existing name is an error.
pub fn create(conn: &Connection, name: &str, password: Option<&str>) -> Result<i64> {
    validate_name(name)?;
    if find_id(conn, name)?.is_some() {
        bail!("user '{name}' already exists");
    }
    let id = ensure(conn, name)?;
    if let Some(password) = password {
        set_password(conn, name, password)?;
    }
    Ok(id)
}

pub fn set_password(conn: &Connection, name: &str, password: &str) -> Result<()> {
    if password.is_empty() {
        bail!("the password is empty");
    }
    let hash = hash_password(password)?;
    let changed = sqlite::execute(
        conn,
        "update users set password_hash = ?2 where name = ?1",
        (name, hash),
    )?;
    if changed == 0 {
        bail!("no user named '{name}'");
    }
    Ok(())
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow!("hashing password: {e}"))
}
