//! Users and their argon2id password hashes; invitations (a user row made
//! by the members form, without a password, until an admin creates the user).

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

/// The user's id, inviting (creating without a password, marked invited)
/// a name no user has yet. The caller cannot tell which it was.
pub fn invite(conn: &Connection, name: &str) -> Result<i64> {
    validate_name(name)?;
    sqlite::execute(
        conn,
        "insert into users (name, created_at, invited_at) values (?1, ?2, ?2)
         on conflict (name) do nothing",
        (name, unix_now()),
    )?;
    find_id(conn, name)?.ok_or_else(|| anyhow!("user '{name}' vanished"))
}

/// Creates a new user, or takes up an invitation under that name (keeping
/// its memberships); any other existing name is an error.
pub fn create(conn: &Connection, name: &str, password: Option<&str>) -> Result<i64> {
    validate_name(name)?;
    let claimed = sqlite::execute(
        conn,
        "update users set invited_at = null where name = ?1 and invited_at is not null",
        [name],
    )?;
    if claimed == 0 && find_id(conn, name)?.is_some() {
        bail!("user '{name}' already exists");
    }
    let id = ensure(conn, name)?;
    if let Some(password) = password {
        set_password(conn, name, password)?;
    }
    Ok(id)
}

/// Sets a user's password and ends every session they had: whoever knew
/// the old one is logged out everywhere. (An invited user becomes a user.)
pub fn set_password(conn: &Connection, name: &str, password: &str) -> Result<()> {
    if password.is_empty() {
        bail!("the password is empty");
    }
    let hash = hash_password(password)?;
    let change = |conn: &Connection| {
        let changed = sqlite::execute(
            conn,
            "update users set password_hash = ?2, invited_at = null where name = ?1",
            (name, hash.as_str()),
        )?;
        if changed == 0 {
            bail!("no user named '{name}'");
        }
        let id = find_id(conn, name)?.ok_or_else(|| anyhow!("user '{name}' vanished"))?;
        super::sessions::revoke_all(conn, id)?;
        Ok(())
    };
    // Both or neither, also when called inside a caller's transaction.
    if conn.is_autocommit() {
        sqlite::write_transaction(conn, change)
    } else {
        change(conn)
    }
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow!("hashing password: {e}"))
}
