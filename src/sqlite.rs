//! Thin, synchronous helpers over libsql for local files: open, configure,
//! pool connections, and run work on the blocking pool.
//!
//! libsql's local connections do their work inside the `async fn`s without
//! ever awaiting anything, so the helpers drive those futures to completion
//! in place. Code that calls them from a request must go through [`blocking`]
//! so that no tokio worker waits on SQLite; the one exception is a read in
//! place, whose stay a watchdog bounds (`crate::read::in_place`).

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use libsql::{Connection, Database, Value};

use crate::meter::{add_work, on_cpu};

mod alloc;
mod kept;
mod pool;
mod raw;
mod value_ref;
mod wal_sync;
pub use kept::{Kept, Own, execute_own};
pub use pool::{Closing, Pool, Pooled};
pub use raw::RawStatement;
pub use value_ref::ValueRef;
pub use wal_sync::WalSync;

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `f` on tokio's blocking pool and waits for it without blocking a
/// worker; its CPU time counts towards the request's metered work
/// ([`crate::meter`]).
pub async fn blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(move || on_cpu(f)).await {
        Ok((value, cpu)) => {
            add_work(cpu);
            value
        }
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// Process-wide SQLite configuration, before SQLite initialises (first
/// thing in `main`; later it changes nothing). Memory statistics off: with
/// them on, every SQLite allocation in every thread takes one global mutex,
/// so a low-priority thread running a long query and holding it when
/// preempted stalls every other tenant's reads.
pub fn configure_process() {
    // SAFETY: sqlite3_config is called before sqlite3_initialize (or
    // refuses with SQLITE_MISUSE, changing nothing); MEMSTATUS takes an int.
    unsafe {
        libsql::ffi::sqlite3_config(libsql::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
    }
    alloc::use_mimalloc();
}

/// Drives one of libsql's local futures, which complete without awaiting.
pub fn now<F: Future>(fut: F) -> F::Output {
    futures::executor::block_on(fut)
}

/// Opens (creating if needed) a local libSQL file as it is.
pub fn open_plain(path: &Path) -> Result<Database> {
    now(libsql::Builder::new_local(path).build())
        .with_context(|| format!("opening {}", path.display()))
}

/// Opens (creating if needed) a local libSQL file in WAL mode.
pub fn open_file(path: &Path) -> Result<Database> {
    in_wal_mode(path, open_plain(path)?)
}

/// As [`open_file`], for connections that one thread uses at a time: a
/// tenant's readers and writer. A pool hands a connection out whole, and
/// other threads only interrupt it, which SQLite allows without the
/// connection's mutex; so SQLite's "multi-thread" mode, without the mutex
/// it takes in every call (four lock pairs a cell read, in a profile).
pub fn open_file_unshared(path: &Path) -> Result<Database> {
    let flags = libsql::OpenFlags::from_bits_retain(
        libsql::ffi::SQLITE_OPEN_READWRITE
            | libsql::ffi::SQLITE_OPEN_CREATE
            | libsql::ffi::SQLITE_OPEN_NOMUTEX,
    );
    let db = now(libsql::Builder::new_local(path).flags(flags).build())
        .with_context(|| format!("opening {}", path.display()))?;
    in_wal_mode(path, db)
}

fn in_wal_mode(path: &Path, db: Database) -> Result<Database> {
    // A file already in WAL mode needs no connection here. Opening one only
    // to close it would create the `-wal` and `-shm` files, then delete them
    // on that last close, for the first reader to create them again: half
    // the file system calls of a first visit to a cold space.
    if !header_says_wal(path) {
        let conn = connect(&db)?;
        query_one(&conn, "pragma journal_mode = wal", ())?;
    }
    Ok(db)
}

/// Whether a database file's header says it is in WAL mode (its write and
/// read versions, bytes 18 and 19, are both 2). Unreadable, empty or
/// encrypted files say no, and get the pragma.
fn header_says_wal(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut header))
        .is_ok()
        && header.starts_with(b"SQLite format 3\0")
        && header[18] == 2
        && header[19] == 2
}

/// Opens an existing file as immutable: read-only, no locks, no change
/// detection (SQLite's `immutable=1`), for files that never change; its
/// connections are unshared, as [`open_file_unshared`]'s.
pub fn open_immutable(path: &Path) -> Result<Database> {
    let flags = libsql::OpenFlags::from_bits_retain(
        libsql::ffi::SQLITE_OPEN_READONLY
            | libsql::ffi::SQLITE_OPEN_URI
            | libsql::ffi::SQLITE_OPEN_NOMUTEX,
    );
    let absolute =
        std::fs::canonicalize(path).with_context(|| format!("opening {}", path.display()))?;
    let uri = format!(
        "file:{}?immutable=1",
        percent_encoding::utf8_percent_encode(&absolute.to_string_lossy(), URI_PATH)
    );
    now(libsql::Builder::new_local(uri).flags(flags).build())
        .with_context(|| format!("opening {}", path.display()))
}

/// Characters escaped in a `file:` URI path.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b'?')
    .add(b'#')
    .add(b'%')
    .add(b' ');

/// Opens an existing local file as it is, never creating one: a file that
/// vanished is an error, not a new empty database.
pub fn open_existing(path: &Path) -> Result<Database> {
    if !path.is_file() {
        anyhow::bail!("{} does not exist", path.display());
    }
    now(libsql::Builder::new_local(path)
        .flags(libsql::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .build())
    .with_context(|| format!("opening {}", path.display()))
}

/// Opens an existing local file read-only.
pub fn open_file_read_only(path: &Path) -> Result<Database> {
    let db = now(libsql::Builder::new_local(path)
        .flags(libsql::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .build())
    .with_context(|| format!("opening {}", path.display()))?;
    Ok(db)
}

/// A new connection with the settings every libsette connection uses,
/// closed once when dropped (see [`Closing`]).
pub fn connect(db: &Database) -> Result<Closing> {
    let conn = db.connect().context("connecting")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // synchronous=full in WAL mode: a committed transaction survives power loss.
    // (Tenant writers and the audit log commit with `normal` and answer after
    // a sync of their own, see `WalSync`.)
    now(conn.execute_batch("pragma foreign_keys = on; pragma synchronous = full;"))?;
    Closing::local(conn)
}

/// Runs `f` with the busy handler off: a locked file fails at once with
/// SQLITE_BUSY instead of sleeping (for work that must not block a worker).
pub fn without_waiting<T>(conn: &Connection, f: impl FnOnce() -> T) -> Result<T> {
    /// Restores the wait even if `f` panics: the connection goes back to its pool.
    struct Restore<'a>(&'a Connection);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = self.0.busy_timeout(BUSY_TIMEOUT);
        }
    }
    conn.busy_timeout(Duration::ZERO)?;
    let _restore = Restore(conn);
    Ok(f())
}

/// One row of a result, copied out of the statement.
///
/// libsql's `Row` reads from its statement's current step, so a row kept
/// after the next `Rows::next()` no longer holds its own values.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlRow(pub Vec<Value>);

impl SqlRow {
    fn copy(row: &libsql::Row) -> libsql::Result<SqlRow> {
        (0..row.column_count())
            .map(|i| row.get_value(i))
            .collect::<libsql::Result<Vec<_>>>()
            .map(SqlRow)
    }

    pub fn value(&self, idx: usize) -> Result<&Value> {
        self.0
            .get(idx)
            .with_context(|| format!("no column {idx} in the result"))
    }

    /// The column converted to `T`.
    pub fn get<T: FromSql>(&self, idx: usize) -> Result<T> {
        T::from_sql(self.value(idx)?).with_context(|| format!("reading column {idx}"))
    }
}

/// Conversion of a column value to a Rust type.
pub trait FromSql: Sized {
    fn from_sql(value: &Value) -> Result<Self>;
}

impl FromSql for i64 {
    fn from_sql(value: &Value) -> Result<i64> {
        match value {
            Value::Integer(i) => Ok(*i),
            other => anyhow::bail!("expected an integer, found {other:?}"),
        }
    }
}

impl FromSql for String {
    fn from_sql(value: &Value) -> Result<String> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => anyhow::bail!("expected text, found {other:?}"),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: &Value) -> Result<Option<T>> {
        match value {
            Value::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

/// Runs this program's own SQL and copies out its rows. A plain connection
/// prepares each statement afresh; a pooled one keeps it (see [`Pooled`]).
pub trait Sql {
    fn all(&self, sql: &str, params: impl libsql::params::IntoParams) -> Result<Vec<SqlRow>>;
    fn one(&self, sql: &str, params: impl libsql::params::IntoParams) -> Result<Option<SqlRow>>;
}

impl Sql for Connection {
    fn all(&self, sql: &str, params: impl libsql::params::IntoParams) -> Result<Vec<SqlRow>> {
        query_all(self, sql, params)
    }
    fn one(&self, sql: &str, params: impl libsql::params::IntoParams) -> Result<Option<SqlRow>> {
        query_one(self, sql, params)
    }
}

/// Every row of a query.
pub fn query_all(
    conn: &Connection,
    sql: &str,
    params: impl libsql::params::IntoParams,
) -> Result<Vec<SqlRow>> {
    now(async {
        let mut rows = conn.query(sql, params).await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            out.push(SqlRow::copy(&row)?);
        }
        Ok::<_, libsql::Error>(out)
    })
    .with_context(|| format!("running {}", first_line(sql)))
}

/// The first row of a query, if any.
pub fn query_one(
    conn: &Connection,
    sql: &str,
    params: impl libsql::params::IntoParams,
) -> Result<Option<SqlRow>> {
    now(async {
        let mut rows = conn.query(sql, params).await?;
        match rows.next().await? {
            Some(row) => SqlRow::copy(&row).map(Some),
            None => Ok(None),
        }
    })
    .with_context(|| format!("running {}", first_line(sql)))
}

/// Runs a statement and returns the number of rows it changed.
pub fn execute(
    conn: &Connection,
    sql: &str,
    params: impl libsql::params::IntoParams,
) -> Result<u64> {
    now(conn.execute(sql, params)).with_context(|| format!("running {}", first_line(sql)))
}

/// Runs several statements with no parameters.
pub fn execute_batch(conn: &Connection, sql: &str) -> Result<()> {
    now(conn.execute_batch(sql)).with_context(|| format!("running {}", first_line(sql)))?;
    Ok(())
}

/// Runs `f` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on error.
/// Called inside a transaction, it runs in a savepoint of it instead, so
/// helpers that write in their own transaction compose into a larger one.
pub fn write_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let (begin, commit, rollback) = if conn.is_autocommit() {
        ("begin immediate", "commit", "rollback")
    } else {
        (
            "savepoint nested_write",
            "release nested_write",
            "rollback to nested_write; release nested_write",
        )
    };
    execute_batch(conn, begin)?;
    match f(conn) {
        Ok(value) => {
            execute_batch(conn, commit)?;
            Ok(value)
        }
        Err(err) => {
            let _ = execute_batch(conn, rollback);
            Err(err)
        }
    }
}

/// `pragma wal_checkpoint(truncate)`: everything in the WAL into the file,
/// and the WAL emptied; `false` when a reader kept it from finishing.
pub fn checkpoint(conn: &Connection) -> Result<bool> {
    let row = query_one(conn, "pragma wal_checkpoint(truncate)", ())?
        .context("wal_checkpoint answers")?;
    // Its first column says "busy".
    Ok(row.get::<i64>(0)? == 0)
}

fn first_line(sql: &str) -> &str {
    sql.trim().lines().next().unwrap_or_default()
}

/// A column read as an optional string, whatever its storage class.
pub fn text(row: &SqlRow, idx: usize) -> Result<Option<String>> {
    Ok(match row.value(idx)?.clone() {
        Value::Null => None,
        Value::Text(s) => Some(s),
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pooled connection's kept statements answer for the parameters of
    /// each call, whether the statement was kept or pushed out by others.
    #[test]
    fn kept_statements_answer_for_each_call() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::new(open_file(&dir.path().join("k.db")).unwrap(), 2).keeping_statements(2);
        let conn = pool.get().unwrap();
        execute_batch(&conn, "create table t (k integer primary key, v text); insert into t values (1, 'a'), (2, 'b'), (3, 'c')").unwrap();
        let find = "select v from t where k = ?1";
        let from = "select v from t where k >= ?1 order by k";
        for round in 0..3 {
            for k in 1..=3_i64 {
                let row = conn.one(find, [k]).unwrap().unwrap();
                assert_eq!(
                    row.get::<String>(0).unwrap(),
                    ["a", "b", "c"][k as usize - 1]
                );
                let rows = conn.all(from, [k]).unwrap();
                assert_eq!(rows.len(), 4 - k as usize, "round {round}");
                assert!(conn.one(find, [k + 10]).unwrap().is_none());
                // A third statement pushes the oldest out of the two kept.
                assert_eq!(
                    conn.all("select count(*) from t where k != ?1", [k])
                        .unwrap()
                        .len(),
                    1
                );
            }
        }
    }

    /// Without waiting, a read of a locked file fails at once with
    /// SQLITE_BUSY; afterwards the connection waits for locks again.
    #[test]
    fn without_waiting_fails_at_once_then_waits_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        // A rollback journal: a writer's exclusive lock keeps readers out.
        let db = open_plain(&path).unwrap();
        let holder = connect(&db).unwrap();
        execute_batch(&holder, "create table t (x); insert into t values (1)").unwrap();
        let reader = connect(&db).unwrap();
        execute_batch(&holder, "begin exclusive").unwrap();

        let started = std::time::Instant::now();
        let failed =
            without_waiting(&reader, || query_one(&reader, "select x from t", ())).unwrap();
        let err = failed.expect_err("the file is locked");
        assert!(
            matches!(err.downcast_ref::<libsql::Error>(), Some(libsql::Error::SqliteFailure(code, _)) if code & 0xff == 5),
            "{err:#}"
        );
        assert!(started.elapsed() < Duration::from_millis(500), "it waited");

        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            execute_batch(&holder, "commit").unwrap();
        });
        let started = std::time::Instant::now();
        let row = query_one(&reader, "select x from t", ()).unwrap().unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 1);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "it did not wait"
        );
        release.join().unwrap();
    }

    /// A write transaction inside another is a savepoint of it: its failure
    /// undoes only its own writes, the outer one's failure undoes both.
    #[test]
    fn write_transactions_nest_as_savepoints() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_file(&dir.path().join("t.db")).unwrap();
        let conn = connect(&db).unwrap();
        execute_batch(&conn, "create table t (x)").unwrap();
        let insert = |conn: &Connection, x: i64| execute(conn, "insert into t values (?1)", [x]);
        write_transaction(&conn, |conn| {
            insert(conn, 1)?;
            let inner: Result<()> = write_transaction(conn, |conn| {
                insert(conn, 2)?;
                anyhow::bail!("inner fails")
            });
            assert!(inner.is_err());
            write_transaction(conn, |conn| insert(conn, 3))
        })
        .unwrap();
        let outer: Result<()> = write_transaction(&conn, |conn| {
            write_transaction(conn, |conn| insert(conn, 4))?;
            anyhow::bail!("outer fails")
        });
        assert!(outer.is_err());
        assert!(conn.is_autocommit());
        let rows = query_all(&conn, "select x from t order by x", ()).unwrap();
        let xs: Vec<i64> = rows.iter().map(|r| r.get(0).unwrap()).collect();
        assert_eq!(xs, [1, 3]);
    }

    /// A new file, and one in rollback-journal mode, are put in WAL mode; a
    /// file already in WAL mode is opened without a connection, so it keeps
    /// no `-wal` file behind.
    #[test]
    fn open_file_sets_wal_only_where_the_header_lacks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mode = |path: &Path| {
            let conn = connect(&open_plain(path).unwrap()).unwrap();
            let row = query_one(&conn, "pragma journal_mode", ())
                .unwrap()
                .unwrap();
            row.get::<String>(0).unwrap()
        };
        drop(open_file(&path).unwrap());
        assert!(header_says_wal(&path));
        assert_eq!(mode(&path), "wal");

        let old = dir.path().join("old.db");
        let conn = connect(&open_plain(&old).unwrap()).unwrap();
        execute_batch(&conn, "pragma journal_mode = delete; create table t (x)").unwrap();
        drop(conn);
        assert!(!header_says_wal(&old));
        drop(open_file(&old).unwrap());
        assert!(header_says_wal(&old));

        let db = open_file(&old).unwrap();
        assert!(!dir.path().join("old.db-wal").exists());
        let conn = connect(&db).unwrap();
        assert_eq!(query_all(&conn, "select * from t", ()).unwrap().len(), 0);
        assert!(!header_says_wal(&dir.path().join("missing.db")));
    }
}
