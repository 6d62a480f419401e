//! API tokens: the secret's format, its SHA-256 (the only thing stored),
//! Datasette-style restrictions, expiry, revocation and last use.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, anyhow, bail};
use libsql::Connection;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{audit, unix_now, users};
use crate::sqlite;

/// Every libsette token starts with this, so scanners and people recognise one.
pub const PREFIX: &str = "lstok_";
const RANDOM_BYTES: usize = 20; // 160 bits
const CHECK_HEX: usize = 8;

/// A token secret. It is shown once and never printed by `Debug`.
pub struct Secret(String);

impl Secret {
    fn generate() -> Secret {
        let mut random = [0u8; RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let body = hex::encode(random);
        let check = checksum(&body);
        Secret(format!("{PREFIX}{body}{check}"))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

fn checksum(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..CHECK_HEX / 2])
}

/// Whether `text` has the shape of a libsette token, checksum included.
/// Lets a mistyped or truncated token be told apart from an unknown one.
pub fn is_well_formed(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != RANDOM_BYTES * 2 + CHECK_HEX || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let (body, check) = rest.split_at(RANDOM_BYTES * 2);
    checksum(body) == check
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A token's restrictions in Datasette's `_r` shape, with abbreviated actions:
/// `a` for every resource, `d` per database, `r` per database and table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Restrictions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub a: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub d: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub r: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Restrictions {
    pub fn is_empty(&self) -> bool {
        self.a.is_empty() && self.d.is_empty() && self.r.is_empty()
    }

    /// Adds `action` (full name or abbreviation) for everything.
    pub fn allow_all(&mut self, conn: &Connection, action: &str) -> Result<()> {
        let abbr = abbreviate(conn, action)?;
        push_unique(&mut self.a, abbr);
        Ok(())
    }

    pub fn allow_database(&mut self, conn: &Connection, db: &str, action: &str) -> Result<()> {
        let abbr = abbreviate(conn, action)?;
        push_unique(self.d.entry(db.to_owned()).or_default(), abbr);
        Ok(())
    }

    pub fn allow_resource(
        &mut self,
        conn: &Connection,
        db: &str,
        resource: &str,
        action: &str,
    ) -> Result<()> {
        let abbr = abbreviate(conn, action)?;
        let tables = self.r.entry(db.to_owned()).or_default();
        push_unique(tables.entry(resource.to_owned()).or_default(), abbr);
        Ok(())
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The abbreviation of an action given by name or abbreviation.
fn abbreviate(conn: &Connection, action: &str) -> Result<String> {
    let row = sqlite::query_one(
        conn,
        "select abbr from actions where name = ?1 or abbr = ?1",
        [action],
    )?;
    match row {
        Some(row) => Ok(row.get(0)?),
        None => bail!("unknown action '{action}'"),
    }
}

/// What a request needs to know about the token it carries.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub id: i64,
    pub space_id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub restrictions: Option<Restrictions>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub struct NewToken<'a> {
    pub space_id: i64,
    pub actor: &'a str,
    pub name: Option<&'a str>,
    pub restrictions: Option<Restrictions>,
    pub expires_after: Option<i64>,
    /// The token that minted this one: the child dies with it.
    pub parent_id: Option<i64>,
}

/// The token minting a child was revoked or expired since the request began.
#[derive(Debug, thiserror::Error)]
#[error("the parent token is no longer valid")]
pub struct ParentGone;

/// The longest lifetime a token may be given: past this, leave the expiry out.
pub const MAX_EXPIRES_AFTER: i64 = 100 * 365 * 86_400;

/// Why `seconds` is not a usable lifetime, if it is not.
pub fn check_expires_after(seconds: i64) -> std::result::Result<(), String> {
    if seconds <= 0 {
        return Err("The expiry must be a positive number of seconds".into());
    }
    if seconds > MAX_EXPIRES_AFTER {
        return Err(format!(
            "The expiry may be at most {MAX_EXPIRES_AFTER} seconds (100 years); leave it out for a token that never expires"
        ));
    }
    Ok(())
}

/// When a token made at `now` ends: its own lifetime, never past its parent's end.
fn expires_at(
    now: i64,
    expires_after: Option<i64>,
    parent_end: Option<i64>,
) -> Result<Option<i64>> {
    let own = match expires_after {
        Some(seconds) => {
            check_expires_after(seconds).map_err(|e| anyhow!(e))?;
            Some(
                now.checked_add(seconds)
                    .ok_or_else(|| anyhow!("the expiry is too far in the future"))?,
            )
        }
        None => None,
    };
    Ok(match (own, parent_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Creates a token and returns its id and secret (the only time the secret exists).
pub fn create(conn: &Connection, new: NewToken<'_>) -> Result<(i64, Secret)> {
    let restrictions = match new.restrictions {
        Some(r) if !r.is_empty() => Some(serde_json::to_string(&r)?),
        _ => None,
    };
    sqlite::write_transaction(conn, |conn| {
        let user_id = users::ensure(conn, new.actor)?;
        let secret = Secret::generate();
        let now = unix_now();
        let parent_end = match new.parent_id {
            Some(parent) => {
                let chain = chain_state(conn, parent)?;
                if chain.revoked_at.is_some() || chain.expires_at.is_some_and(|e| e <= now) {
                    return Err(ParentGone.into());
                }
                chain.expires_at
            }
            None => None,
        };
        let expires_at = expires_at(now, new.expires_after, parent_end)?;
        sqlite::execute(
            conn,
            "insert into tokens (space_id, user_id, name, secret_hash, restrictions, created_at, expires_at, parent_id)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            (
                new.space_id,
                user_id,
                new.name,
                hash(secret.expose()),
                restrictions.clone(),
                now,
                expires_at,
                new.parent_id,
            ),
        )?;
        let id = conn.last_insert_rowid();
        audit::record(
            conn,
            audit::Event {
                space_id: Some(new.space_id),
                actor: Some(new.actor),
                token_id: Some(id),
                event: "token-created",
                detail: serde_json::json!({"name": new.name, "restrictions": restrictions, "expires_after": new.expires_after, "parent_id": new.parent_id}),
                ..Default::default()
            },
        )?;
        Ok((id, secret))
    })
}

/// A token's effective end and revocation: the earliest over it and its ancestors.
struct ChainState {
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// Token `id` and its ancestors, as a recursive CTE named `chain` (`union`,
/// so even a damaged catalog with a cycle ends).
const CHAIN: &str = "with recursive chain(id, parent_id, expires_at, revoked_at) as (
        select id, parent_id, expires_at, revoked_at from tokens where id = ?1
        union
        select p.id, p.parent_id, p.expires_at, p.revoked_at
          from tokens p join chain c on p.id = c.parent_id
    )";

fn chain_state(conn: &Connection, id: i64) -> Result<ChainState> {
    let row = sqlite::query_one(
        conn,
        &format!("{CHAIN} select min(expires_at), min(revoked_at) from chain"),
        [id],
    )?
    .ok_or_else(|| anyhow!("token {id} vanished"))?;
    Ok(ChainState {
        expires_at: row.get(0)?,
        revoked_at: row.get(1)?,
    })
}

/// Token `id` and every token minted from it, directly or not.
pub fn descendants(conn: &Connection, id: i64) -> Result<Vec<i64>> {
    sqlite::query_all(
        conn,
        "with recursive tree(id) as (
            select ?1
            union
            select t.id from tokens t join tree on t.parent_id = tree.id
        ) select id from tree order by id",
        [id],
    )?
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// The token whose secret is `secret`, whatever its state. Its expiry and
/// revocation are the earliest of its chain: a child dies with its parent
/// even if the cascade at revocation missed it.
pub fn find_by_secret(conn: &Connection, secret: &str) -> Result<Option<TokenRecord>> {
    // The lookup is by SHA-256, so comparing secrets never happens byte by byte in our code.
    let row = sqlite::query_one(
        conn,
        "select t.id, t.space_id, u.name, t.restrictions, t.expires_at, t.revoked_at, t.last_used_at, u.id
         from tokens t join users u on u.id = t.user_id
         where t.secret_hash = ?1",
        [hash(secret)],
    )?;
    let Some(row) = row else { return Ok(None) };
    let restrictions: Option<String> = row.get(3)?;
    let id: i64 = row.get(0)?;
    let chain = chain_state(conn, id)?;
    Ok(Some(TokenRecord {
        id,
        space_id: row.get(1)?,
        user_id: row.get(7)?,
        user_name: row.get(2)?,
        restrictions: restrictions.map(|r| serde_json::from_str(&r)).transpose()?,
        expires_at: chain.expires_at,
        revoked_at: chain.revoked_at,
        last_used_at: row.get(6)?,
    }))
}

/// A token as listed to its space's owners.
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: Option<String>,
    pub actor: String,
    pub restrictions: Option<serde_json::Value>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The token that minted this one, if a token did.
    pub parent_id: Option<i64>,
}

pub fn list(conn: &Connection, space_id: i64) -> Result<Vec<TokenInfo>> {
    sqlite::query_all(
        conn,
        "select t.id, t.name, u.name, t.restrictions, t.created_at, t.last_used_at, t.expires_at, t.revoked_at, t.parent_id
         from tokens t join users u on u.id = t.user_id
         where t.space_id = ?1 order by t.id",
        [space_id],
    )?
    .iter()
    .map(|row| {
        let restrictions: Option<String> = row.get(3)?;
        Ok(TokenInfo {
            id: row.get(0)?,
            name: row.get(1)?,
            actor: row.get(2)?,
            restrictions: restrictions.map(|r| serde_json::from_str(&r)).transpose()?,
            created_at: row.get(4)?,
            last_used_at: row.get(5)?,
            expires_at: row.get(6)?,
            revoked_at: row.get(7)?,
            parent_id: row.get(8)?,
        })
    })
    .collect()
}

/// Revokes a token of the space, named by its id or by the secret itself.
/// Returns the token's id; revoking twice is not an error.
pub fn revoke(conn: &Connection, space_id: i64, id_or_secret: &str) -> Result<i64> {
    let id: Option<i64> = if id_or_secret.starts_with(PREFIX) {
        find_by_secret(conn, id_or_secret)?
            .filter(|t| t.space_id == space_id)
            .map(|t| t.id)
    } else {
        let id: i64 = id_or_secret
            .parse()
            .map_err(|_| anyhow!("'{id_or_secret}' is neither a token id nor a token"))?;
        sqlite::query_one(
            conn,
            "select id from tokens where id = ?1 and space_id = ?2",
            (id, space_id),
        )?
        .map(|row| row.get(0))
        .transpose()?
    };
    let Some(id) = id else {
        bail!("no such token in this space");
    };
    sqlite::write_transaction(conn, |conn| {
        // Children die with their parent: the whole tree below goes too.
        let tree = descendants(conn, id)?;
        let now = unix_now();
        for token in &tree {
            sqlite::execute(
                conn,
                "update tokens set revoked_at = ?2 where id = ?1 and revoked_at is null",
                (*token, now),
            )?;
        }
        audit::record(
            conn,
            audit::Event {
                space_id: Some(space_id),
                actor: None,
                token_id: Some(id),
                event: "token-revoked",
                detail: if tree.len() > 1 {
                    serde_json::json!({ "with_descendants": &tree[1..] })
                } else {
                    serde_json::Value::Null
                },
                ..Default::default()
            },
        )
    })?;
    Ok(id)
}

/// Records a use of the token; callers do this at most once a minute per token.
pub fn touch(conn: &Connection, id: i64, at: i64) -> Result<()> {
    sqlite::execute(
        conn,
        "update tokens set last_used_at = ?2 where id = ?1",
        (id, at),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_well_formed_and_distinct() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(is_well_formed(a.expose()));
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(format!("{a:?}"), "Secret(…)");
    }

    #[test]
    fn lifetimes_are_checked_and_never_outlive_the_parent() {
        let now = 1_700_000_000;
        assert_eq!(expires_at(now, None, None).unwrap(), None);
        assert_eq!(expires_at(now, Some(60), None).unwrap(), Some(now + 60));
        // A child asking for longer, or for no end, ends with its parent.
        assert_eq!(
            expires_at(now, Some(600), Some(now + 60)).unwrap(),
            Some(now + 60)
        );
        assert_eq!(
            expires_at(now, None, Some(now + 60)).unwrap(),
            Some(now + 60)
        );
        assert_eq!(
            expires_at(now, Some(30), Some(now + 60)).unwrap(),
            Some(now + 30)
        );
        for bad in [0, -1, i64::MIN, MAX_EXPIRES_AFTER + 1, i64::MAX] {
            assert!(expires_at(now, Some(bad), None).is_err(), "{bad}");
        }
        assert!(
            expires_at(i64::MAX - 10, Some(60), None).is_err(),
            "overflow"
        );
        assert!(check_expires_after(MAX_EXPIRES_AFTER).is_ok());
    }

    #[test]
    fn malformed_secrets_are_recognised() {
        let good = Secret::generate();
        let good = good.expose();
        let mut flipped = good.to_owned().into_bytes();
        let last = flipped.len() - 10;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            "",
            "lstok_",
            "dstok_abc",
            &good[..good.len() - 1],
            &flipped,
            &good.replace(PREFIX, "xxtok_"),
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }
}
