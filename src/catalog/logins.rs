//! What logging in needs from the catalog: a user's password hash, one-time
//! login codes (stored as SHA-256), the instance admin flag, and the spaces
//! a user belongs to.

use anyhow::{Result, bail};
use libsql::Connection;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::unix_now;
use crate::sqlite;

/// How long a one-time login link works.
pub const CODE_TTL_SECS: i64 = 24 * 3600;

/// A user as the login form sees them.
pub struct LoginUser {
    pub id: i64,
    pub name: String,
    /// Argon2id PHC string; `None` when the user has no password.
    pub password_hash: Option<String>,
}

pub fn find_user(conn: &Connection, name: &str) -> Result<Option<LoginUser>> {
    sqlite::query_one(
        conn,
        "select id, name, password_hash from users where name = ?1",
        [name],
    )?
    .map(|row| {
        Ok(LoginUser {
            id: row.get(0)?,
            name: row.get(1)?,
            password_hash: row.get(2)?,
        })
    })
    .transpose()
}

pub fn is_admin(conn: &Connection, user_id: i64) -> Result<bool> {
    Ok(
        sqlite::query_one(conn, "select is_admin from users where id = ?1", [user_id])?
            .map(|row| row.get::<i64>(0))
            .transpose()?
            == Some(1),
    )
}

pub fn set_admin(conn: &Connection, user_id: i64, admin: bool) -> Result<()> {
    sqlite::execute(
        conn,
        "update users set is_admin = ?2 where id = ?1",
        (user_id, admin as i64),
    )?;
    Ok(())
}

fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

/// A new single-use login code for `user_id`; only its hash is kept.
pub fn create_code(conn: &Connection, user_id: i64) -> Result<String> {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let code = hex::encode(bytes);
    let now = unix_now();
    sqlite::execute(
        conn,
        "insert into login_codes (code_hash, user_id, created_at, expires_at) values (?1, ?2, ?3, ?4)",
        (code_hash(&code), user_id, now, now + CODE_TTL_SECS),
    )?;
    Ok(code)
}

/// Uses up `code`: the user it logs in, or an error when unknown, used or expired.
pub fn consume_code(conn: &Connection, code: &str) -> Result<(i64, String)> {
    let now = unix_now();
    sqlite::write_transaction(conn, |conn| {
        let row = sqlite::query_one(
            conn,
            "select c.user_id, u.name from login_codes c join users u on u.id = c.user_id
             where c.code_hash = ?1 and c.used_at is null and c.expires_at > ?2",
            (code_hash(code), now),
        )?;
        let Some(row) = row else {
            bail!("this login link is unknown, used or expired");
        };
        sqlite::execute(
            conn,
            "update login_codes set used_at = ?2 where code_hash = ?1",
            (code_hash(code), now),
        )?;
        Ok((row.get(0)?, row.get(1)?))
    })
}

/// The spaces `user_id` is a member of, as (space name, role), by name.
pub fn spaces_of(conn: &Connection, user_id: i64) -> Result<Vec<(String, String)>> {
    sqlite::query_all(
        conn,
        "select s.name, m.role from memberships m join spaces s on s.id = m.space_id
         where m.user_id = ?1 order by s.name",
        [user_id],
    )?
    .iter()
    .map(|row| Ok((row.get(0)?, row.get(1)?)))
    .collect()
}
