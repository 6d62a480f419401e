//! A tenant database's single writer: one `BEGIN IMMEDIATE` transaction at
//! a time on one connection (or, on a replica, through it to the primary),
//! its size cap, and the WAL checkpoint at shutdown.

use anyhow::{Context, Result};
use libsql::Connection;

use super::{TenantDb, commits};
use crate::sqlite::{self, Closing, Kept, Pool};

/// Statements a writer keeps: the few a burst of inserts to one table
/// repeats (its INSERT for each batch size, its schema reads, the
/// transaction's own). A kept 100-row INSERT holds about 40 KB, so even 16
/// of them stay under the connection's own page cache (up to 2 MB).
const WRITER_KEPT: usize = 16;
use crate::sqlite_limit::Handle;

impl TenantDb {
    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the database's single
    /// writer, on the blocking pool: committed when `f` succeeds, rolled back
    /// (changing nothing) when it fails. Writers to one database queue here;
    /// reads use their own connections and never wait.
    ///
    /// Writes that queue while another commits share the next transaction
    /// ([`super::commits`]); on a replica each is its own, as the primary
    /// answers for it.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Kept) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        if self.replica.is_some() {
            return self.write_alone(f).await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .lock()
            .expect("write queue")
            .push(Box::new(commits::Queued {
                write: Some(f),
                result: None,
                reply,
            }));
        // Whoever holds the writer commits everything queued, this write
        // too unless an earlier holder already took it.
        let guard = self.writer.clone().lock_owned().await;
        let queued = !self.queue.lock().expect("write queue").is_empty();
        if queued {
            let (pool, queue) = (self.pool.clone(), self.queue.clone());
            let (max_value, max_bytes) = (self.max_value(), self.gate.max_bytes());
            let sync = self.sync.clone();
            sqlite::blocking(move || {
                let mut guard = guard;
                let writer = match ready_writer(&mut guard, &pool, max_value, max_bytes) {
                    Ok(writer) => writer,
                    Err(err) => return commits::fail_all(&queue, &err),
                };
                commits::drain(&queue, &writer.conn, Some(&sync));
                // The next writes may commit while this thread waits for the disk.
                drop(guard);
                sync.sync_here();
            })
            .await;
        } else {
            drop(guard);
        }
        answer
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the write was abandoned").into()))
    }

    /// One write in its own transaction (on a replica).
    async fn write_alone<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Kept) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        let guard = self.writer.clone().lock_owned().await;
        let pool = self.pool.clone();
        let max_value = self.max_value();
        let max_bytes = self.gate.max_bytes();
        let replica = self.replica.clone();
        let started = std::time::Instant::now();
        let written = sqlite::blocking(move || {
            let mut guard = guard;
            if guard.is_none() {
                let (conn, handle) = match &replica {
                    Some(replica) => {
                        let (conn, handle) = crate::sqlite_limit::caught(|| replica.writer())?;
                        // A replica's statements ignore reset(): none kept.
                        (Kept::new(Closing::replica(conn), 0), handle)
                    }
                    None => open_writer(&pool)?,
                };
                *guard = Some(Writer {
                    conn,
                    handle,
                    max_bytes: None,
                });
            }
            let writer = guard.as_mut().expect("writer just opened");
            // Writes run user SQL too (execute-write): the same cap on values.
            writer.handle.set_max_value(max_value);
            // (A replica's size is the primary's to keep.)
            if replica.is_none() && writer.max_bytes != Some(max_bytes) {
                limit_size(&writer.conn, max_bytes)?;
                writer.max_bytes = Some(max_bytes);
            }
            let result = transaction(&writer.conn, replica.is_some(), f);
            // A replica's connection may be left mid-transaction by a
            // primary that went away: the next write starts on a new one.
            if replica.is_some() && result.is_err() {
                *guard = None;
            }
            result
        })
        .await;
        if let Some(replica) = &self.replica {
            let m = &crate::metrics::metrics().replica;
            m.write_seconds.observe(started.elapsed().as_secs_f64());
            if let Some(frame) = replica.written_frame() {
                crate::replica::note_frame(frame);
            }
        }
        written
    }

    /// Moves everything in the WAL into the database file and empties the
    /// WAL (at shutdown), after the write in progress, if any; `false` when
    /// a reader kept it from finishing. An immutable file has no WAL.
    pub async fn checkpoint(&self) -> Result<bool> {
        // An immutable file has no WAL; a replica's is libsql's to manage.
        if !self.identity.is_empty() || self.replica.is_some() {
            return Ok(true);
        }
        let guard = self.writer.clone().lock_owned().await;
        let pool = self.pool.clone();
        sqlite::blocking(move || {
            let _guard = guard;
            let (conn, _) = pool.unpooled()?;
            sqlite::checkpoint(&conn)
        })
        .await
    }
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction on `conn`: committed when
/// it succeeds, rolled back when it fails. On a replica, BEGIN and COMMIT
/// are the primary's to answer: when they fail it is away (503, retry), not
/// broken (500).
fn transaction<T, E>(
    conn: &Kept,
    replica: bool,
    f: impl FnOnce(&Kept) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<anyhow::Error>,
{
    let away = |err: anyhow::Error| match replica {
        true => err.context(crate::replica::PrimaryUnavailable),
        false => err,
    };
    sqlite::execute_batch(conn, "begin immediate").map_err(away)?;
    match f(conn) {
        Ok(value) => match sqlite::execute_batch(conn, "commit") {
            Ok(()) => Ok(value),
            Err(err) => {
                let _ = sqlite::execute_batch(conn, "rollback");
                Err(away(err).into())
            }
        },
        Err(err) => {
            if !conn.is_autocommit() {
                let _ = sqlite::execute_batch(conn, "rollback");
            }
            Err(err)
        }
    }
}

/// The local writer, opened if need be, with the space's limits set on it.
fn ready_writer<'a>(
    guard: &'a mut Option<Writer>,
    pool: &Pool,
    max_value: u64,
    max_bytes: u64,
) -> Result<&'a mut Writer> {
    if guard.is_none() {
        let (conn, handle) = open_writer(pool)?;
        // Its commits are made durable behind it (`sqlite::WalSync`).
        sqlite::execute_batch(&conn, "pragma synchronous = normal")?;
        *guard = Some(Writer {
            conn,
            handle,
            max_bytes: None,
        });
    }
    let writer = guard.as_mut().expect("writer just opened");
    // Writes run user SQL too (execute-write): the same cap on values.
    writer.handle.set_max_value(max_value);
    if writer.max_bytes != Some(max_bytes) {
        limit_size(&writer.conn, max_bytes)?;
        writer.max_bytes = Some(max_bytes);
    }
    Ok(writer)
}

/// A database's writer connection, with the size limit set on it.
pub(super) struct Writer {
    conn: Kept,
    /// The raw handle, for SQLite's length limit.
    handle: Handle,
    /// The size cap last set with `max_page_count`.
    max_bytes: Option<u64>,
}

/// Caps the file at `max_bytes` (0: SQLite's own maximum): a transaction
/// that would grow it past that fails with SQLITE_FULL and rolls back whole.
/// (SQLite never sets the cap below the file's size: a file already past it
/// still takes writes that need no new page.)
fn limit_size(conn: &Connection, max_bytes: u64) -> Result<()> {
    let page_size: u64 = sqlite::query_one(conn, "pragma page_size", ())?
        .context("pragma page_size answers")?
        .get::<i64>(0)? as u64;
    let pages = match max_bytes {
        0 => 0xffff_fffe,
        bytes => (bytes / page_size.max(512)).clamp(1, 0xffff_fffe),
    };
    sqlite::query_one(conn, &format!("pragma max_page_count = {pages}"), ())?;
    Ok(())
}

/// The writer connection. Foreign keys are not enforced on writes, as in
/// Datasette: rows may arrive before the rows they point at, and rebuilding a
/// table for `/-/alter` must not cascade into other tables.
fn open_writer(pool: &Pool) -> Result<(Kept, Handle)> {
    let (conn, handle) = pool.unpooled()?;
    sqlite::execute_batch(&conn, "pragma foreign_keys = off")?;
    Ok((Kept::new(conn, WRITER_KEPT), handle))
}
