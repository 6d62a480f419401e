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
//!
//! A held file's stamp is reused for [`REUSE`] unless this process changed a
//! database meanwhile ([`changed`]): its own commits are seen at once, a
//! change by another process (the CLI, a restore) at most that late.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod held;
pub use held::{Dir, Held, HeldFile, Names, REUSE, changed, take_in};

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
    judge(main, FileState::read(&wal_path(path)).ok()?, now)
}

/// The stamp of a database file and its log, if it can be trusted at `now`.
fn judge(main: FileState, wal: Option<FileState>, now: SystemTime) -> Option<Stamp> {
    // An empty log holds no commits: SQLite creates one whenever it opens the
    // database and deletes it on the last close, and neither changes content.
    let wal = wal.filter(|w| w.size > 0);
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_nanos() as i128;
    let last = wal.map_or(main.last_change(), |w| {
        w.last_change().max(main.last_change())
    });
    (now - last >= SETTLE.as_nanos() as i128).then_some(Stamp { main, wal })
}

fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seconds` from now, to judge stamps as if their files had settled.
    pub(super) fn later(seconds: u64) -> SystemTime {
        SystemTime::now() + Duration::from_secs(seconds)
    }

    /// A fresh folder holding `x.db`, just written.
    pub(super) fn just_written() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        std::fs::write(&path, b"one").unwrap();
        (dir, path)
    }

    #[test]
    fn a_fresh_change_is_not_trusted_and_a_settled_one_is() {
        let (_dir, path) = just_written();
        assert_eq!(take(&path), None, "just written");
        assert!(take_at(&path, later(2)).is_some());
    }

    #[test]
    fn every_kind_of_change_moves_the_stamp() {
        let (dir, path) = just_written();
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
}
