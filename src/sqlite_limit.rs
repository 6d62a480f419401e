//! SQLite's per-connection length limit (`sqlite3_limit`) and WAL-file
//! persistence (`sqlite3_file_control`), which libsql's `Connection` does
//! not expose: the raw handle is caught as SQLite opens it.
//!
//! One SQLite function call cannot be interrupted, so `randomblob(1e9)` runs
//! to its end whatever the time limit says; the length limit makes SQLite
//! refuse such a value before building it ("string or blob too big").

use std::cell::Cell;
use std::os::raw::{c_char, c_int};
use std::sync::Once;

use anyhow::{Result, bail};
use libsql::ffi;

thread_local! {
    /// The connection this thread's SQLite opened last.
    static OPENED: Cell<*mut ffi::sqlite3> = const { Cell::new(std::ptr::null_mut()) };
}

/// Called by SQLite at the end of every `sqlite3_open_v2` in the process, on
/// the opening thread.
unsafe extern "C" fn note_opened(
    db: *mut ffi::sqlite3,
    _err: *mut *const c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    OPENED.with(|opened| opened.set(db));
    ffi::SQLITE_OK
}

/// The raw handle of one open connection, only to set its limits. It is valid
/// while the `libsql::Connection` it came with (or a clone) is alive: keep
/// the two together.
#[derive(Clone, Copy, Debug)]
pub struct Handle(*mut ffi::sqlite3);

// SAFETY: SQLite is built thread-safe; the handle travels with its
// connection, which is itself `Send`, and is only used by the thread that
// runs that connection's statements.
unsafe impl Send for Handle {}

/// Opens a connection with `open` (which must open exactly one, on this
/// thread, as `libsql::Database::connect` does for a local file) and
/// catches its raw handle.
pub fn caught<T>(open: impl FnOnce() -> Result<T>) -> Result<(T, Handle)> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // libsql configures SQLite's threading before SQLite initialises,
        // and registering initialises it: let libsql go first (an
        // in-memory database opens no connection).
        let _ = crate::sqlite::now(libsql::Builder::new_local(":memory:").build());
        // SAFETY: registers a function with the signature SQLite calls.
        unsafe { ffi::sqlite3_auto_extension(Some(note_opened)) };
    });
    OPENED.with(|opened| opened.set(std::ptr::null_mut()));
    let conn = open()?;
    let raw = OPENED.with(|opened| opened.replace(std::ptr::null_mut()));
    if raw.is_null() {
        bail!("the connection's handle was not seen");
    }
    Ok((conn, Handle(raw)))
}

/// SQLite's own ceiling for a value (its compile-time `SQLITE_MAX_LENGTH`).
const SQLITE_MAX_LENGTH: u64 = 1_000_000_000;

impl Handle {
    /// The raw connection, for this crate's statements on it (`sqlite::raw`).
    pub(crate) fn raw(&self) -> *mut ffi::sqlite3 {
        self.0
    }

    /// Sets the largest string or blob the connection may build, in bytes
    /// (0: SQLite's own ceiling of about 1 GB).
    pub fn set_max_value(&self, bytes: u64) {
        let bytes = match bytes {
            0 => SQLITE_MAX_LENGTH,
            n => n.min(SQLITE_MAX_LENGTH),
        };
        // SAFETY: the handle is open (see `Handle`); sqlite3_limit only
        // stores the number, capped at the compile-time maximum.
        unsafe { ffi::sqlite3_limit(self.0, ffi::SQLITE_LIMIT_LENGTH, bytes as c_int) };
    }

    /// Keeps the `-wal` and `-shm` files when this connection is the last to
    /// close (SQLite's `SQLITE_FCNTL_PERSIST_WAL`); with a journal size
    /// limit set, the last close still empties the `-wal` to zero bytes.
    pub fn keep_wal_files(&self) -> Result<()> {
        let mut on: c_int = 1;
        // SAFETY: the handle is open (see `Handle`); this file control reads
        // and writes the one int it is given, on the "main" database's file.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                self.0,
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_PERSIST_WAL,
                (&mut on as *mut c_int).cast(),
            )
        };
        if rc != ffi::SQLITE_OK {
            bail!("keeping the WAL files: SQLite error {rc}");
        }
        Ok(())
    }

    /// The connection's current length limit.
    pub fn max_value(&self) -> u64 {
        // SAFETY: as above; a negative value only reads the limit.
        unsafe { ffi::sqlite3_limit(self.0, ffi::SQLITE_LIMIT_LENGTH, -1) as u64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{open_plain, query_one};

    #[test]
    fn a_value_past_the_limit_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_plain(&dir.path().join("t.db")).unwrap();
        let (conn, handle) = caught(|| Ok(db.connect()?)).unwrap();
        handle.set_max_value(1_000_000);
        assert_eq!(handle.max_value(), 1_000_000);
        let row = query_one(&conn, "select length(randomblob(1000000))", ())
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 1_000_000);
        let started = std::time::Instant::now();
        let err = query_one(&conn, "select length(randomblob(1e9))", ()).unwrap_err();
        assert!(format!("{err:#}").contains("too big"), "{err:#}");
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        handle.set_max_value(0);
        assert_eq!(handle.max_value(), SQLITE_MAX_LENGTH);
    }
}
