//! The audit log: writes and token events, one row each.

use anyhow::Result;
use libsql::Connection;
use serde_json::Value;

use super::unix_now;
use crate::sqlite;

/// One audit event; `detail` is free-form JSON.
pub struct Event<'a> {
    pub space_id: Option<i64>,
    pub actor: Option<&'a str>,
    pub token_id: Option<i64>,
    pub event: &'a str,
    pub detail: Value,
}

pub fn record(conn: &Connection, event: Event<'_>) -> Result<()> {
    sqlite::execute(
        conn,
        "insert into audit_log (at, space_id, actor, token_id, event, detail)
         values (?1, ?2, ?3, ?4, ?5, ?6)",
        (
            unix_now(),
            event.space_id,
            event.actor,
            event.token_id,
            event.event,
            event.detail.to_string(),
        ),
    )?;
    Ok(())
}
