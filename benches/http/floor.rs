//! The floor under a cold visit: SQLite alone, in this process, opening each
//! small space's file as the server opens a tenant database (unshared, WAL
//! files kept, a read-only pooled connection), reading its table, and
//! closing the oldest beyond as many as the server keeps open. No HTTP, no
//! catalog, no permissions: what any server that opens the file pays.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use libsette::sqlite::{self, Pool};

/// The server's default `max_open_databases`.
const KEEP_OPEN: usize = 512;

/// Opens, reads and (past `KEEP_OPEN`) closes every file once, on a thread
/// pinned to `cpu`: files a second.
pub fn sqlite_alone(files: Vec<PathBuf>, cpu: Option<usize>) -> f64 {
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            crate::fixture::pin_current(cpu).expect("pinning the floor's thread");
        }
        let started = Instant::now();
        let mut open = VecDeque::with_capacity(KEEP_OPEN + 1);
        for file in &files {
            let db = sqlite::open_file_unshared(file).expect("opening a small space's file");
            let pool = Pool::with_setup(db, 4, "pragma query_only = 1").keeping_wal_files();
            {
                let conn = pool.get().expect("connecting");
                let rows = sqlite::query_all(&conn, "select * from t limit 101", ())
                    .expect("reading the table");
                assert_eq!(rows.len(), 3, "{}", file.display());
            }
            open.push_back(pool);
            if open.len() > KEEP_OPEN {
                open.pop_front();
            }
        }
        // Each file past the first `KEEP_OPEN` paid one close, as each
        // cold visit does once the server's cache is full.
        files.len() as f64 / started.elapsed().as_secs_f64()
    })
    .join()
    .expect("the floor's thread")
}
