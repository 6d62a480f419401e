//! The audit log: writes and token events, one row each, and the paged,
//! filtered listing space owners read.

use anyhow::{Context, Result};
use libsql::{Connection, Value as SqlValue};
use serde_json::{Value, json};

use super::unix_now;
use crate::sqlite::{self, Own};

/// One audit event; `detail` is free-form JSON.
#[derive(Default)]
pub struct Event<'a> {
    pub space_id: Option<i64>,
    pub actor: Option<&'a str>,
    pub token_id: Option<i64>,
    pub event: &'a str,
    pub detail: Value,
    /// The database and table a write touched.
    pub database: Option<&'a str>,
    pub table: Option<&'a str>,
    /// Rows a write changed.
    pub rows_affected: Option<i64>,
}

/// Records `event` (its INSERT kept on a connection that keeps statements).
pub fn record(conn: &impl Own, event: Event<'_>) -> Result<()> {
    sqlite::execute_own(
        conn,
        "insert into audit_log
            (at, space_id, actor, token_id, event, detail, database_name, table_name, rows_affected)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        (
            unix_now(),
            event.space_id,
            event.actor,
            event.token_id,
            event.event,
            event.detail.to_string(),
            event.database,
            event.table,
            event.rows_affected,
        ),
    )
    .context("recording an audit event")?;
    Ok(())
}

/// What to list: filters and the page.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub database: Option<String>,
    pub table: Option<String>,
    pub actor: Option<String>,
    pub event: Option<String>,
    /// Only events older than this id (the previous page's `next`).
    pub before: Option<i64>,
    pub limit: u64,
}

/// One page of a space's audit log, newest first, and the id to continue from.
pub fn list(
    conn: &Connection,
    space_id: i64,
    filter: &Filter,
) -> Result<(Vec<Value>, Option<i64>)> {
    let text = |v: &Option<String>| v.clone().map(SqlValue::Text).unwrap_or(SqlValue::Null);
    let limit = filter.limit.clamp(1, 1000);
    let rows = sqlite::query_all(
        conn,
        "select id, at, event, actor, token_id, database_name, table_name, rows_affected, detail
         from audit_log
         where space_id = :space
           and (:db is null or database_name = :db)
           and (:tbl is null or table_name = :tbl)
           and (:actor is null or actor = :actor)
           and (:event is null or event = :event)
           and (:before is null or id < :before)
         order by id desc
         limit :limit",
        vec![
            (":space".to_owned(), SqlValue::Integer(space_id)),
            (":db".to_owned(), text(&filter.database)),
            (":tbl".to_owned(), text(&filter.table)),
            (":actor".to_owned(), text(&filter.actor)),
            (":event".to_owned(), text(&filter.event)),
            (
                ":before".to_owned(),
                filter
                    .before
                    .map(SqlValue::Integer)
                    .unwrap_or(SqlValue::Null),
            ),
            (":limit".to_owned(), SqlValue::Integer(limit as i64 + 1)),
        ],
    )?;
    let mut events = Vec::with_capacity(rows.len());
    let mut next = None;
    for (i, row) in rows.iter().enumerate() {
        let id: i64 = row.get(0)?;
        if i as u64 == limit {
            break;
        }
        if i as u64 + 1 == limit && rows.len() as u64 > limit {
            next = Some(id);
        }
        let detail = sqlite::text(row, 8)?
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
            .unwrap_or(Value::Null);
        events.push(json!({
            "id": id,
            "at": row.get::<i64>(1)?,
            "event": row.get::<String>(2)?,
            "actor": row.get::<Option<String>>(3)?,
            "token_id": row.get::<Option<i64>>(4)?,
            "database": row.get::<Option<String>>(5)?,
            "table": row.get::<Option<String>>(6)?,
            "rows_affected": row.get::<Option<i64>>(7)?,
            "detail": detail,
        }));
    }
    Ok((events, next))
}

/// A write's audit row, owned, waiting to be recorded.
pub struct WriteEvent {
    pub space_id: i64,
    pub actor: Option<String>,
    pub token_id: Option<i64>,
    pub event: &'static str,
    pub detail: Value,
    pub database: String,
    pub table: Option<String>,
    pub rows_affected: Option<i64>,
}

/// Where a waiting row's id (or why it was not recorded) goes.
type Reply = tokio::sync::oneshot::Sender<std::result::Result<i64, String>>;

/// Audit rows of writes that arrive together share one catalog transaction
/// (one `fsync` for all, as tenant writes share theirs): every write used to
/// wait for a commit of its own on the one catalog, whichever space it was in.
#[derive(Default)]
pub struct Recorder {
    waiting: std::sync::Mutex<Vec<(WriteEvent, Reply)>>,
    turn: tokio::sync::Mutex<()>,
}

impl Recorder {
    /// Records `event`, returning its row's id once it is committed.
    pub async fn record(&self, catalog: &super::Catalog, event: WriteEvent) -> Result<i64> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.waiting
            .lock()
            .expect("audit queue")
            .push((event, reply));
        // The holder records everything waiting, this row too unless an
        // earlier holder took it; it waits for the disk after letting the
        // next holder commit.
        let turn = self.turn.lock().await;
        let batch: Vec<_> = self
            .waiting
            .lock()
            .expect("audit queue")
            .drain(..)
            .collect();
        if !batch.is_empty() {
            let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let committed = catalog
                .call_synced(move |conn| {
                    sqlite::write_transaction(conn, |_| {
                        events
                            .iter()
                            .map(|e| {
                                record(conn, e.as_event())?;
                                Ok(conn.last_insert_rowid())
                            })
                            .collect::<Result<Vec<i64>>>()
                    })
                })
                .await;
            drop(turn);
            let result = match committed {
                Ok((ids, synced)) => synced.wait().await.map(|()| ids),
                Err(err) => Err(err),
            }
            .map_err(|err| format!("{err:#}"));
            for (i, reply) in replies.into_iter().enumerate() {
                let _ = reply.send(result.as_ref().map(|ids| ids[i]).map_err(Clone::clone));
            }
        } else {
            drop(turn);
        }
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the audit row was abandoned"))?
            .map_err(anyhow::Error::msg)
    }

    /// Takes back the row `id` recorded for a write that then failed to
    /// commit (see `http::write::write_recorded`).
    pub async fn forget(&self, catalog: &super::Catalog, id: i64) -> Result<()> {
        catalog
            .call(move |conn| {
                sqlite::execute(conn, "delete from audit_log where id = ?1", [id])?;
                Ok(())
            })
            .await
    }
}

impl WriteEvent {
    fn as_event(&self) -> Event<'_> {
        Event {
            space_id: Some(self.space_id),
            actor: self.actor.as_deref(),
            token_id: self.token_id,
            event: self.event,
            detail: self.detail.clone(),
            database: Some(&self.database),
            table: self.table.as_deref(),
            rows_affected: self.rows_affected,
        }
    }
}
