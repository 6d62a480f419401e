//! File stamps: a cheap, connection-free answer to "has this SQLite database
//! changed?". Every commit, from any process, writes the database file or
//! its `-wal` file, and a write moves the file's size, mtime or ctime (or its
//! inode, when a file is replaced). Two `stat` calls therefore tell whether a
//! database may have changed since a stamp was taken, without opening it.
//!
//! File times come from a coarse clock, so two commits close together can
//! leave equal times. As git does for its index ("racy git"), a stamp is only
//! trusted once its files have been still for [`SETTLE`]: any later write then
//! lands on a later time. A database changed within the last second gets no
//! stamp, and its readers read it afresh.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long files must have been unchanged before their stamp is trusted:
/// far more than a kernel clock tick, so a later write gets a later time.
pub const SETTLE: Duration = Duration::from_secs(1);

/// One file's identity and last change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileState {
    dev: u64,
    ino: u64,
    size: u64,
    /// Nanoseconds since the epoch.
    mtime: i128,
    ctime: i128,
}

impl FileState {
    fn read(path: &Path) -> std::io::Result<Option<FileState>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileState {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
                ctime: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            })),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn last_change(&self) -> i128 {
        self.mtime.max(self.ctime)
    }
}

/// The state of a database file and its write-ahead log: equal trusted stamps
/// mean equal content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stamp {
    main: FileState,
    wal: Option<FileState>,
}

/// The stamp of the database at `path`, or `None` when it cannot be trusted:
/// the file is missing or unreadable, or it changed less than [`SETTLE`] ago.
pub fn take(path: &Path) -> Option<Stamp> {
    take_at(path, SystemTime::now())
}

/// The stamp as it would be judged at `now`.
pub(crate) fn take_at(path: &Path, now: SystemTime) -> Option<Stamp> {
    let main = FileState::read(path).ok()??;
    // An empty log holds no commits: SQLite creates one whenever it opens the
    // database and deletes it on the last close, and neither changes content.
    let wal = FileState::read(&wal_path(path))
        .ok()?
        .filter(|w| w.size > 0);
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_nanos() as i128;
    let last = wal.map_or(main.last_change(), |w| {
        w.last_change().max(main.last_change())
    });
    (now - last >= SETTLE.as_nanos() as i128).then_some(Stamp { main, wal })
}

/// How long a stamp taken by a read is reused by the reads after it, unless
/// this process writes the database meanwhile: a change made by another
/// process is seen within this time, as the catalog's watcher sees its own.
pub const REUSE: Duration = Duration::from_millis(100);

/// Past this many databases remembered, stale entries are dropped.
const REMEMBERED: usize = 4096;

/// Stamps taken within [`REUSE`], by database id, so that reads of a busy
/// database do not each cost two `stat` calls.
#[derive(Default)]
struct Recent {
    by_database: HashMap<i64, Remembered>,
    /// Moves each time stale entries are dropped: a stamp being taken then
    /// may have lost its entry, and a write's mark with it, so it is not kept.
    prunes: u64,
}

#[derive(Default)]
struct Remembered {
    /// Moves with each write of this process: a stamp taken before the
    /// write's commit is never kept after it.
    writes: u64,
    taken: Option<(Instant, Stamp)>,
}

fn recent() -> &'static Mutex<Recent> {
    static RECENT: OnceLock<Mutex<Recent>> = OnceLock::new();
    RECENT.get_or_init(Default::default)
}

/// The stamp of database `id` at `path`, as [`take`] gives it, but reused
/// when one was taken less than [`REUSE`] ago and this process has not
/// written the database since.
pub fn take_recent(id: i64, path: impl FnOnce() -> PathBuf) -> Option<Stamp> {
    let now = Instant::now();
    let (prunes, writes) = {
        let mut recent = recent().lock().expect("stamps lock");
        let prunes = recent.prunes;
        let remembered = recent.by_database.entry(id).or_default();
        if let Some((at, stamp)) = remembered.taken
            && now.duration_since(at) < REUSE
        {
            return Some(stamp);
        }
        (prunes, remembered.writes)
    };
    let stamp = take(&path())?;
    let mut recent = recent().lock().expect("stamps lock");
    let unchanged = recent.prunes == prunes
        && recent
            .by_database
            .get(&id)
            .is_some_and(|r| r.writes == writes);
    if !unchanged {
        return Some(stamp); // right for this read, maybe not for the next
    }
    if recent.by_database.len() >= REMEMBERED {
        recent.by_database.retain(|_, r| {
            r.taken
                .is_some_and(|(at, _)| now.duration_since(at) < REUSE)
        });
        recent.prunes += 1;
    }
    recent.by_database.entry(id).or_default().taken = Some((now, stamp));
    Some(stamp)
}

/// This process changed database `id` (called after its commit, before
/// anyone is told): its remembered stamp, and any being taken, are dropped.
pub fn written(id: i64) {
    let mut recent = recent().lock().expect("stamps lock");
    if let Some(remembered) = recent.by_database.get_mut(&id) {
        remembered.writes += 1;
        remembered.taken = None;
    }
}

fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later(seconds: u64) -> SystemTime {
        SystemTime::now() + Duration::from_secs(seconds)
    }

    #[test]
    fn a_fresh_change_is_not_trusted_and_a_settled_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        std::fs::write(&path, b"one").unwrap();
        assert_eq!(take(&path), None, "just written");
        assert!(take_at(&path, later(2)).is_some());
    }

    #[test]
    fn every_kind_of_change_moves_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        std::fs::write(&path, b"one").unwrap();
        let first = take_at(&path, later(2)).unwrap();
        // Same size, rewritten: the times move.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, b"two").unwrap();
        let rewritten = take_at(&path, later(4)).unwrap();
        assert_ne!(first, rewritten);
        // An empty write-ahead log appears, as any opening makes one: no change.
        std::fs::write(wal_path(&path), b"").unwrap();
        assert_eq!(rewritten, take_at(&path, later(6)).unwrap());
        // Frames are written to it.
        std::fs::write(wal_path(&path), b"frame").unwrap();
        let with_wal = take_at(&path, later(6)).unwrap();
        assert_ne!(rewritten, with_wal);
        // The file is replaced by another.
        let other = dir.path().join("y.db");
        std::fs::write(&other, b"two").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_ne!(with_wal, take_at(&path, later(8)).unwrap());
        assert_eq!(take(&dir.path().join("missing.db")), None);
    }

    #[test]
    fn recent_stamps_are_reused_until_this_process_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        std::fs::write(&path, b"one").unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(100));
        let id = -4242; // no real database's id
        let started = Instant::now();
        let first = take_recent(id, || path.clone()).expect("settled");
        // Another process's change is seen within REUSE, not at once.
        std::fs::remove_file(&path).unwrap();
        let again = take_recent(id, || path.clone());
        if started.elapsed() < REUSE {
            assert_eq!(again, Some(first));
        }
        // A write of this process is seen at once.
        written(id);
        assert_eq!(take_recent(id, || path.clone()), None);
        // And another process's once REUSE has passed.
        std::fs::write(&path, b"two").unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(100));
        let second = take_recent(id, || path.clone()).expect("settled");
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(REUSE);
        assert_eq!(take_recent(id, || path.clone()), None);
        assert_ne!(first, second);
    }
}
