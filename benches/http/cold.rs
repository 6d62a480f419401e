//! The cold visits' scenarios: a pass of first visits to the small spaces,
//! and the floor under it, SQLite alone, in this process, opening each
//! small space's file through the server's own tenant store (as many kept
//! open as the server keeps, the oldest closed beyond), reading its table.
//! No HTTP, no catalog, no permissions: what any server that opens the file
//! pays.

use std::path::Path;
use std::time::{Duration, Instant};

use libsette::catalog::DataDir;
use libsette::sqlite;
use libsette::tenant::TenantStore;

use crate::bench::{Bench, Side, side};
use crate::load::Urls;
use crate::{COLD_BASELINE, HEALTH, fixture};

/// Visits each of the spaces once, then the trivial endpoint: the first
/// pass's req/s ÷ the endpoint's.
pub fn pass(b: &Bench, name: &str, warm: Side<'_>, pid: u32, spaces: &Urls) -> f64 {
    println!("{name}:");
    let (addr, health) = (warm.addr, Urls::one(HEALTH));
    // Whatever runs before, the server has served some reads first.
    b.run(name, warm, Some(b.warm));
    let (cpu, wall) = (fixture::cpu_seconds(pid), Instant::now());
    let first = b.run(name, side(addr, spaces, None), None);
    // Whether the pass kept the server's CPU busy (or waited on something else).
    let busy = (fixture::cpu_seconds(pid) - cpu) / wall.elapsed().as_secs_f64();
    let after = b.run(name, side(addr, &health, None), Some(b.seconds));
    let ratio = first.rps / after.rps;
    println!(
        "  {} spaces: {:.0} req/s (p50 {:.2} ms, p99 {:.2} ms, server CPU {:.0}% busy); /-/health just after {:.0} req/s: {ratio:.4} (baseline {COLD_BASELINE:.4})",
        first.requests,
        first.rps,
        first.p50_ms,
        first.p99_ms,
        100.0 * busy,
        after.rps
    );
    ratio
}

/// Opens and reads database `d` of each of `spaces` once, on a thread pinned
/// to `cpu`: databases a second.
pub fn sqlite_alone(data: &DataDir, spaces: Vec<String>, cpu: Option<usize>) -> f64 {
    let store = TenantStore::new(
        data.clone(),
        libsette::server::MAX_OPEN_DATABASES,
        Duration::from_secs(60),
        0,
    );
    println!("  data folder on {}", storage(data.root()));
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

/// The filesystem `path` is on, as `/proc/mounts` names it, and for ext4
/// whether a journal was seen (`/proc/fs/jbd2`). On ext4 without one,
/// mounted with `discard`, each block freed waits for the disk's trim, and
/// SQLite frees some on every first open (it truncates the `-shm` it is
/// first to open): the cold figures then follow the disk, not the code.
fn storage(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mount = mounts
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [device, at, fs, options, ..] => Some((device, at, fs, options)),
                _ => None,
            },
        )
        .filter(|(_, at, _, _)| path.starts_with(at))
        .max_by_key(|(_, at, _, _)| at.len());
    let Some((device, at, fs, options)) = mount else {
        return "a filesystem /proc/mounts does not name".into();
    };
    let journal = match fs {
        "ext4" => {
            let name = Path::new(device)
                .file_name()
                .map(|n| format!("{}-", n.to_string_lossy()))
                .unwrap_or_default();
            let seen = std::fs::read_dir("/proc/fs/jbd2").is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&name))
            });
            if seen {
                "; a journal"
            } else {
                "; no journal seen"
            }
        }
        _ => "",
    };
    format!("{fs} at {at} ({options}{journal})")
}
