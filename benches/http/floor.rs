//! The floor under a cold visit: SQLite alone, in this process, opening each
//! small space's file through the server's own tenant store (as many kept
//! open as the server keeps, the oldest closed beyond), reading its table.
//! No HTTP, no catalog, no permissions: what any server that opens the file
//! pays.

use std::time::{Duration, Instant};

use libsette::catalog::DataDir;
use libsette::sqlite;
use libsette::tenant::TenantStore;

/// Opens and reads database `d` of each of `spaces` once, on a thread pinned
/// to `cpu`: databases a second.
pub fn sqlite_alone(data: &DataDir, spaces: Vec<String>, cpu: Option<usize>) -> f64 {
    let store = TenantStore::new(
        data.clone(),
        libsette::server::MAX_OPEN_DATABASES,
        Duration::from_secs(60),
        0,
    );
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            crate::fixture::pin_current(cpu).expect("pinning the floor's thread");
        }
        let started = Instant::now();
        for (id, space) in spaces.iter().enumerate() {
            let db = store.open(space, "d", id as i64, None).expect("opening");
            let conn = db.conn().expect("connecting");
            let rows = sqlite::query_all(&conn, "select * from t limit 101", ())
                .expect("reading the table");
            assert_eq!(rows.len(), 3, "space {space}");
        }
        // Once the store is full, each open closes the least recently used.
        spaces.len() as f64 / started.elapsed().as_secs_f64()
    })
    .join()
    .expect("the floor's thread")
}
