//! Server-side login sessions: created at login, looked up (through the
//! server's one-second cache) for each request that carries a session
//! cookie, revoked by logout, "log out everywhere" and password changes.

use anyhow::Result;
use libsql::Connection;
use sha2::{Digest, Sha256};

use super::unix_now;
use crate::sqlite;

/// A session as a request needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

impl SessionRecord {
    /// Whether the session still logs `user_id` in at `now`.
    pub fn is_live(&self, user_id: i64, now: i64) -> bool {
        !self.revoked && self.user_id == user_id && self.expires_at > now
    }
}

/// What the catalog keeps of a session id.
pub fn hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// Records a new session, dropping the user's sessions that have ended.
pub fn create(conn: &Connection, id: &str, user_id: i64, expires_at: i64) -> Result<()> {
    let now = unix_now();
    sqlite::execute(
        conn,
        "delete from sessions where user_id = ?1 and (expires_at <= ?2 or revoked_at is not null)",
        (user_id, now),
    )?;
    sqlite::execute(
        conn,
        "insert into sessions (id_hash, user_id, created_at, expires_at) values (?1, ?2, ?3, ?4)",
        (hash(id), user_id, now, expires_at),
    )?;
    Ok(())
}

pub fn find(conn: &Connection, id: &str) -> Result<Option<SessionRecord>> {
    find_by_hash(conn, &hash(id))
}

pub fn find_by_hash(conn: &Connection, id_hash: &[u8]) -> Result<Option<SessionRecord>> {
    sqlite::query_one(
        conn,
        "select user_id, expires_at, revoked_at is not null from sessions where id_hash = ?1",
        [id_hash.to_vec()],
    )?
    .map(|row| {
        Ok(SessionRecord {
            user_id: row.get(0)?,
            expires_at: row.get(1)?,
            revoked: row.get::<i64>(2)? != 0,
        })
    })
    .transpose()
}

/// Ends one session (logout).
pub fn revoke(conn: &Connection, id: &str) -> Result<()> {
    sqlite::execute(
        conn,
        "update sessions set revoked_at = ?2 where id_hash = ?1 and revoked_at is null",
        (hash(id), unix_now()),
    )?;
    Ok(())
}

/// Ends every session of a user; returns how many were live.
pub fn revoke_all(conn: &Connection, user_id: i64) -> Result<u64> {
    sqlite::execute(
        conn,
        "update sessions set revoked_at = ?2 where user_id = ?1 and revoked_at is null",
        (user_id, unix_now()),
    )
}
