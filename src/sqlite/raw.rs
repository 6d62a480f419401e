//! Statements on a connection's raw handle, for reads of this program's own
//! SQL whose rows become an answer. libsql's rows take the connection's
//! mutex and build an owned value per cell through two layers of
//! conversion; a page of a table spent more time there than in SQLite's
//! steps (profiled: a sixth of an uncached `_size=10` read, a third at
//! `_size=100`). Here each cell is read once, straight from SQLite's column.
//!
//! Text is read by its length, with invalid UTF-8 replaced, as Datasette
//! reads it (libsql stops at a NUL byte and panics on invalid UTF-8).

use std::ffi::{CStr, CString, c_int};
use std::ptr::NonNull;

use libsql::{Value, ffi};

use super::kept::KeptList;
use super::value_ref::ValueRef;
use crate::sqlite_limit::Handle;

/// A prepared statement of one connection, finalized when dropped. It must
/// be dropped before its connection closes ([`RawKept`] sees to that).
pub struct RawStatement {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: *mut ffi::sqlite3,
}

// SAFETY: SQLite is built thread-safe (serialized); a statement travels
// with its pooled connection, which one thread uses at a time.
unsafe impl Send for RawStatement {}

impl Drop for RawStatement {
    fn drop(&mut self) {
        // SAFETY: the statement is valid until this call, and never used after.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The connection's last error as libsql reports one.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> libsql::Error {
    // SAFETY: `db` is an open connection; the message is copied at once.
    let (code, message) = unsafe {
        let message = ffi::sqlite3_errmsg(db);
        let text = if message.is_null() {
            String::new()
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        };
        (ffi::sqlite3_extended_errcode(db), text)
    };
    let code = if code == 0 { rc } else { code };
    libsql::Error::SqliteFailure(code, message)
}

impl RawStatement {
    /// Prepares the first statement of `sql` on `handle`'s connection.
    pub fn prepare(handle: Handle, sql: &str) -> libsql::Result<RawStatement> {
        let db = handle.raw();
        let text = CString::new(sql).map_err(|_| {
            libsql::Error::SqliteFailure(ffi::SQLITE_MISUSE, "SQL holds a NUL byte".into())
        })?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `db` is open; SQLite writes the statement pointer or null.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                text.as_ptr(),
                -1,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        match NonNull::new(stmt) {
            Some(stmt) => Ok(RawStatement { stmt, db }),
            // Only a comment or white space: nothing to run.
            None => Err(libsql::Error::SqliteFailure(
                ffi::SQLITE_MISUSE,
                "no statement to run".into(),
            )),
        }
    }

    fn ptr(&self) -> *mut ffi::sqlite3_stmt {
        self.stmt.as_ptr()
    }

    pub fn parameter_count(&self) -> usize {
        // SAFETY: the statement is valid while `self` lives.
        unsafe { ffi::sqlite3_bind_parameter_count(self.ptr()) as usize }
    }

    /// The name of parameter `i` (from 1), with its `:`, `@` or `$`.
    pub fn parameter_name(&self, i: usize) -> Option<&str> {
        // SAFETY: as above; the name lives as long as the statement.
        unsafe {
            let name = ffi::sqlite3_bind_parameter_name(self.ptr(), i as c_int);
            (!name.is_null())
                .then(|| CStr::from_ptr(name).to_str().ok())
                .flatten()
        }
    }

    /// Binds `value` to parameter `i` (from 1).
    pub fn bind(&self, i: usize, value: &Value) -> libsql::Result<()> {
        let i = i as c_int;
        let stmt = self.ptr();
        // SAFETY: the statement is valid; text and blobs are copied by
        // SQLite (SQLITE_TRANSIENT), so the borrows may end after the call.
        let rc = unsafe {
            match value {
                Value::Null => ffi::sqlite3_bind_null(stmt, i),
                Value::Integer(n) => ffi::sqlite3_bind_int64(stmt, i, *n),
                Value::Real(x) => ffi::sqlite3_bind_double(stmt, i, *x),
                Value::Text(s) => ffi::sqlite3_bind_text64(
                    stmt,
                    i,
                    s.as_ptr().cast(),
                    s.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                    ffi::SQLITE_UTF8 as u8,
                ),
                Value::Blob(b) => ffi::sqlite3_bind_blob64(
                    stmt,
                    i,
                    b.as_ptr().cast(),
                    b.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                ),
            }
        };
        match rc {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(error(self.db, rc)),
        }
    }

    pub fn column_count(&self) -> usize {
        // SAFETY: the statement is valid while `self` lives.
        unsafe { ffi::sqlite3_column_count(self.ptr()) as usize }
    }

    pub fn column_name(&self, i: usize) -> String {
        // SAFETY: as above; the name is copied before the next call.
        unsafe {
            let name = ffi::sqlite3_column_name(self.ptr(), i as c_int);
            if name.is_null() {
                String::new()
            } else {
                CStr::from_ptr(name).to_string_lossy().into_owned()
            }
        }
    }

    /// Steps to the next row: true if there is one.
    pub fn step(&self) -> libsql::Result<bool> {
        // SAFETY: the statement is valid while `self` lives.
        match unsafe { ffi::sqlite3_step(self.ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(error(self.db, rc)),
        }
    }

    /// Column `i` of the current row (after a `step` that found one), lent
    /// to `f`: text and blobs are SQLite's own bytes, valid only until the
    /// statement moves, so the borrow cannot outlive the call.
    pub fn with_value<T>(&self, i: usize, f: impl FnOnce(ValueRef<'_>) -> T) -> T {
        // SAFETY: the statement is on a row and `i` below its column count
        // (SQLite answers NULL otherwise). The cell is read through its
        // `sqlite3_value`, one lookup instead of one per `sqlite3_column_*`
        // call (each takes the connection's mutex): SQLite documents such a
        // value as safe to read while no other thread uses the connection,
        // and a pooled connection is this thread's alone. A text or blob
        // pointer is valid until the next call on this value or the next
        // step, both after `f` returns; bytes that are all ASCII are valid
        // UTF-8.
        unsafe {
            let value = ffi::sqlite3_column_value(self.ptr(), i as c_int);
            match ffi::sqlite3_value_type(value) {
                ffi::SQLITE_INTEGER => f(ValueRef::Integer(ffi::sqlite3_value_int64(value))),
                ffi::SQLITE_FLOAT => f(ValueRef::Real(ffi::sqlite3_value_double(value))),
                ffi::SQLITE_TEXT => {
                    let text = ffi::sqlite3_value_text(value);
                    let len = ffi::sqlite3_value_bytes(value) as usize;
                    if text.is_null() {
                        return f(ValueRef::Text(""));
                    }
                    let bytes = std::slice::from_raw_parts(text, len);
                    // ASCII (nearly all cells) is told by a check cheaper
                    // than `from_utf8`'s on short text; anything else is
                    // validated, and invalid text given with replacements.
                    if bytes.is_ascii() {
                        f(ValueRef::Text(std::str::from_utf8_unchecked(bytes)))
                    } else {
                        f(ValueRef::Text(&String::from_utf8_lossy(bytes)))
                    }
                }
                ffi::SQLITE_BLOB => {
                    let blob = ffi::sqlite3_value_blob(value);
                    let len = ffi::sqlite3_value_bytes(value) as usize;
                    if blob.is_null() {
                        return f(ValueRef::Blob(&[]));
                    }
                    f(ValueRef::Blob(std::slice::from_raw_parts(
                        blob.cast::<u8>(),
                        len,
                    )))
                }
                _ => f(ValueRef::Null),
            }
        }
    }

    /// Ends the statement's run (and its read), keeping its bindings.
    pub fn reset(&self) {
        // SAFETY: the statement is valid; reset's code repeats the last
        // step's error, which that step already reported.
        unsafe { ffi::sqlite3_reset(self.ptr()) };
    }
}

/// The raw statements one connection keeps, its most recently used last.
/// Declared before the connection in whatever holds both, so that they are
/// finalized before it closes.
pub struct RawKept(KeptList<RawStatement>);

impl RawKept {
    pub fn new(most: usize) -> RawKept {
        RawKept(KeptList::new(most))
    }

    /// Runs `f` with a statement for `sql` on `handle`'s connection, kept
    /// for its next uses, then resets it. Only for this program's own SQL
    /// (as [`super::Kept::with_kept`]); `f` must bind every parameter.
    pub fn with<T>(
        &self,
        handle: Handle,
        sql: &str,
        f: impl FnOnce(&RawStatement) -> T,
    ) -> libsql::Result<T> {
        self.0.with(
            sql,
            || RawStatement::prepare(handle, sql),
            RawStatement::reset,
            f,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{connect, execute_batch, open_file};
    use crate::sqlite_limit::caught;

    fn read_all(kept: &RawKept, handle: Handle, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
        kept.with(handle, sql, |statement| {
            for (i, value) in params.iter().enumerate() {
                statement.bind(i + 1, value).unwrap();
            }
            let mut rows = Vec::new();
            while statement.step().unwrap() {
                rows.push(
                    (0..statement.column_count())
                        .map(|i| statement.with_value(i, |v| v.to_value()))
                        .collect(),
                );
            }
            rows
        })
        .unwrap()
    }

    /// Every kind of value comes back as stored; text by its length (a NUL
    /// inside is kept) with invalid UTF-8 replaced, as Datasette reads it.
    #[test]
    fn cells_come_back_as_stored_and_bad_text_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_file(&dir.path().join("r.db")).unwrap();
        let (conn, handle) = caught(|| connect(&db)).unwrap();
        execute_batch(
            &conn,
            "create table t (a); insert into t values (null), (-7), (2.5), ('é'), \
             (x'00ff'), (cast(x'41004200' as text)), (cast(x'41ff42' as text))",
        )
        .unwrap();
        let kept = RawKept::new(2);
        let rows = read_all(&kept, handle, "select a from t order by rowid", &[]);
        let cells: Vec<Value> = rows.into_iter().map(|mut r| r.remove(0)).collect();
        assert_eq!(
            cells,
            vec![
                Value::Null,
                Value::Integer(-7),
                Value::Real(2.5),
                Value::Text("é".into()),
                Value::Blob(vec![0, 0xff]),
                Value::Text("A\0B\0".into()),
                Value::Text("A\u{fffd}B".into()),
            ]
        );
    }

    /// A kept statement answers for each call's bindings, follows a schema
    /// change, and ends its read when done (a writer can checkpoint past it).
    #[test]
    fn kept_statements_rebind_and_follow_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_file(&dir.path().join("k.db")).unwrap();
        let (conn, handle) = caught(|| connect(&db)).unwrap();
        execute_batch(
            &conn,
            "create table t (a, b); insert into t values (1, 'x'), (2, 'y')",
        )
        .unwrap();
        let kept = RawKept::new(2);
        let sql = "select * from t where a = ?1";
        let one = read_all(&kept, handle, sql, &[Value::Integer(1)]);
        assert_eq!(one, vec![vec![Value::Integer(1), Value::Text("x".into())]]);
        let two = read_all(&kept, handle, sql, &[Value::Integer(2)]);
        assert_eq!(two, vec![vec![Value::Integer(2), Value::Text("y".into())]]);
        execute_batch(&conn, "alter table t add column c default 'z'").unwrap();
        let three = read_all(&kept, handle, sql, &[Value::Integer(2)]);
        assert_eq!(three[0].len(), 3);
        assert!(conn.is_autocommit());
        let err = kept
            .with(handle, "select * from nowhere", |_| ())
            .unwrap_err();
        assert!(err.to_string().contains("no such table"), "{err}");
    }
}
