//! A small pool of connections to one database file, each keeping the
//! statements it prepared last.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use libsql::params::IntoParams;
use libsql::{Connection, Database};

use super::raw::{RawKept, RawStatement};
use super::{Kept, Own, Sql, SqlRow, connect, execute_batch, now};
use crate::sqlite_limit::Handle;

/// A small pool of connections to one database file.
#[derive(Clone)]
pub struct Pool {
    db: Arc<Database>,
    idle: Arc<Mutex<Vec<Idle>>>,
    max_idle: usize,
    /// SQL run on each new connection of the pool.
    setup: Option<Arc<str>>,
    /// A replica's connections: no pragmas of ours (see [`Pool::replica`]).
    replica: bool,
    /// Its connections keep the `-wal` and `-shm` files (see [`Pool::keeping_wal_files`]).
    keep_wal_files: bool,
    /// Prepared statements kept per connection (see [`Kept::with_kept`]).
    kept: usize,
}

/// An idle connection with the statements it keeps (the raw ones declared
/// first: fields drop in order, and they must be finalized before it closes).
struct Idle {
    raw: RawKept,
    conn: Kept,
    /// Its raw handle, for its length limit.
    handle: Handle,
}

/// Prepared statements kept per pooled connection, unless the pool says.
const KEPT_STATEMENTS: usize = 4;

impl Pool {
    pub fn new(db: Database, max_idle: usize) -> Self {
        Pool::on(Arc::new(db), max_idle, false)
    }

    fn on(db: Arc<Database>, max_idle: usize, replica: bool) -> Self {
        Pool {
            db,
            idle: Arc::new(Mutex::new(Vec::new())),
            max_idle,
            setup: None,
            replica,
            keep_wal_files: false,
            kept: KEPT_STATEMENTS,
        }
    }

    /// A pool on a replica's database, shared with the replica. Its
    /// connections are libsql's replica connections as they come: they
    /// refuse most pragmas that set something, and send writes (and
    /// pragmas that read the primary's state) to the primary.
    pub fn replica(db: Arc<Database>, max_idle: usize) -> Self {
        Pool::on(db, max_idle, true)
    }

    /// A pool whose new connections first run the statements of `setup`.
    pub fn with_setup(db: Database, max_idle: usize, setup: &str) -> Self {
        Pool {
            setup: Some(setup.into()),
            ..Pool::new(db, max_idle)
        }
    }

    /// The pool's connections keep the `-wal` and `-shm` files at the last
    /// close, the `-wal` emptied to zero bytes. A first visit then opens
    /// two files instead of creating them, and closing deletes none: on
    /// ext4, creating and deleting them was most of the kernel's part of a
    /// cold open. An empty `-wal` holds nothing to replay, and SQLite
    /// rebuilds a `-shm` that no connection holds when it opens one.
    pub fn keeping_wal_files(self) -> Self {
        Pool {
            keep_wal_files: true,
            ..self
        }
    }

    /// The pool's connections keep up to `kept` prepared statements each.
    pub fn keeping_statements(self, kept: usize) -> Self {
        Pool { kept, ..self }
    }

    fn connect_caught(&self) -> Result<(Closing, Handle)> {
        let (conn, handle) = self.unpooled()?;
        if let Some(setup) = &self.setup {
            execute_batch(&conn, setup)?;
        }
        Ok((conn, handle))
    }

    /// A new connection outside the pool, without the pool's `setup` (the
    /// writer's), with its raw handle.
    pub fn unpooled(&self) -> Result<(Closing, Handle)> {
        match self.replica {
            true => {
                let (conn, handle) = crate::sqlite_limit::caught(|| Ok(self.db.connect()?))?;
                Ok((Closing::replica(conn), handle))
            }
            false => {
                let (conn, handle) = crate::sqlite_limit::caught(|| connect(&self.db))?;
                if self.keep_wal_files {
                    handle.keep_wal_files()?;
                    // Any limit at all makes the last close empty the
                    // `-wal`; this one also bounds a WAL that a burst grew.
                    execute_batch(&conn, "pragma journal_size_limit = 67108864")?;
                }
                Ok((conn, handle))
            }
        }
    }

    /// A connection from the pool, or a new one; it returns to the pool when dropped.
    pub fn get(&self) -> Result<Pooled> {
        match self.idle() {
            Some(pooled) => Ok(pooled),
            None => {
                let (conn, handle) = self.connect_caught()?;
                // A replica's statements ignore reset(): none are kept.
                let kept = if self.replica { 0 } else { self.kept };
                Ok(Pooled {
                    inner: Some(Idle {
                        raw: RawKept::new(kept),
                        conn: Kept::new(conn, kept),
                        handle,
                    }),
                    pool: self.clone(),
                })
            }
        }
    }

    /// An idle connection, if one is waiting (never blocks).
    pub fn idle(&self) -> Option<Pooled> {
        let inner = self.idle.lock().expect("pool lock").pop()?;
        Some(Pooled {
            inner: Some(inner),
            pool: self.clone(),
        })
    }
}

/// A pooled connection; derefs to [`Connection`].
pub struct Pooled {
    inner: Option<Idle>,
    pool: Pool,
}

impl Pooled {
    /// Sets the largest string or blob this connection may build or read
    /// (0: SQLite's own ceiling).
    pub fn set_max_value(&self, bytes: u64) {
        let inner = self.inner.as_ref().expect("connection present until drop");
        inner.handle.set_max_value(bytes);
    }

    /// Runs `f` with a statement this connection keeps for `sql` (see
    /// [`Kept::with_kept`]: only for this program's own SQL).
    pub fn with_kept<T>(
        &self,
        sql: &str,
        f: impl FnOnce(&libsql::Statement) -> T,
    ) -> libsql::Result<T> {
        self.kept().with_kept(sql, f)
    }

    /// Runs `f` with a raw statement this connection keeps for `sql`, to
    /// read rows cell by cell (see [`super::raw`]: only for this program's
    /// own SQL; `f` must bind every parameter). `None` on a replica's
    /// connection, whose reads go through libsql.
    pub fn with_raw<T>(
        &self,
        sql: &str,
        f: impl FnOnce(&RawStatement) -> T,
    ) -> Option<libsql::Result<T>> {
        if self.pool.replica {
            return None;
        }
        let inner = self.inner.as_ref().expect("connection present until drop");
        Some(inner.raw.with(inner.handle, sql, f))
    }

    /// The connection with the statements it keeps.
    pub fn kept(&self) -> &Kept {
        &self
            .inner
            .as_ref()
            .expect("connection present until drop")
            .conn
    }
}

/// This program's own SQL on a pooled connection runs a kept statement
/// (see [`Kept::with_kept`]): a lookup by key spends most of its time
/// parsing and planning otherwise.
impl Sql for Pooled {
    fn all(&self, sql: &str, params: impl IntoParams) -> Result<Vec<SqlRow>> {
        self.kept().all(sql, params)
    }

    fn one(&self, sql: &str, params: impl IntoParams) -> Result<Option<SqlRow>> {
        self.kept().one(sql, params)
    }
}

/// A connection that is closed once. libsql 0.9.30 closes a local
/// connection twice when its last copy is dropped (`LibsqlConnection`'s
/// `Drop`, then that of the `Connection` inside it): the second
/// `sqlite3_close_v2` reads the freed connection, and crashed the server
/// when that memory had gone back to the system (valgrind: an invalid read
/// in `sqlite3SafetyCheckSickOrOk` at every close). A statement of the
/// connection dropped after it holds the last copy instead, and its drop is
/// the only close.
pub struct Closing {
    conn: Connection,
    /// Declared after `conn`, so dropped after it (fields drop in order).
    _last: Option<libsql::Statement>,
}

impl Closing {
    /// A local connection, with the statement that will close it.
    pub fn local(conn: Connection) -> Result<Closing> {
        let _last = Some(now(conn.prepare("select 1"))?);
        Ok(Closing { conn, _last })
    }

    /// A replica's connection, libsql's own kind, which the bug does not touch.
    pub fn replica(conn: Connection) -> Closing {
        Closing { conn, _last: None }
    }
}

impl std::ops::Deref for Closing {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Own for Pooled {
    fn own<T>(&self, sql: &str, f: impl FnOnce(&libsql::Statement) -> T) -> libsql::Result<T> {
        self.kept().with_kept(sql, f)
    }

    fn conn(&self) -> &Connection {
        self
    }
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.kept()
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // A connection left inside a transaction is not safe to reuse.
            if inner.conn.is_autocommit() {
                let mut idle = self.pool.idle.lock().expect("pool lock");
                if idle.len() < self.pool.max_idle {
                    idle.push(inner);
                }
            }
        }
    }
}
