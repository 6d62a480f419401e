//! Database files stamped by name in a directory held open, and a held
//! file's last stamp reused for [`REUSE`] unless this process changed a
//! database meanwhile ([`changed`]).

use std::ffi::{CStr, CString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::{FileState, Stamp, judge, take_at};

/// How long a held file's stamp is reused while this process changes no
/// database: two `stat` calls were 4% of an uncached read and most of the
/// kernel's part of a cached one (issue 17's profile), and at thousands of
/// requests a second each file is stamped many times a millisecond.
pub const REUSE: Duration = Duration::from_millis(1);

/// Changes this process made to database files (see [`changed`]).
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// Called once this process has changed a database file (a commit), before
/// the change is acknowledged: no stamp taken before it is reused after it.
pub fn changed() {
    CHANGES.fetch_add(1, Ordering::AcqRel);
}

/// A directory held open, to stamp the files in it by name: each `stat`
/// then walks one path component, not the whole path (the walk was a third
/// of a stamp, and a stamp a seventh of a cached answer, in issue 17's
/// profile). A directory removed since finds no file: no stamp.
pub struct Dir(std::os::fd::OwnedFd);

impl Dir {
    pub fn open(path: &Path) -> std::io::Result<Dir> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_PATH)
            .open(path)?;
        Ok(Dir(file.into()))
    }
}

/// A database file's name and its log's, for [`take_in`].
#[derive(Clone, Debug)]
pub struct Names {
    main: CString,
    wal: CString,
}

impl Names {
    /// The directory of the database at `path`, and the names in it.
    pub fn of(path: &Path) -> Option<(&Path, Names)> {
        let name = path.file_name()?.as_bytes();
        let names = Names {
            main: CString::new(name).ok()?,
            wal: CString::new([name, b"-wal"].concat()).ok()?,
        };
        Some((path.parent()?, names))
    }
}

/// [`take`] of the database `names` in `dir`: the same stamp as of its path.
pub fn take_in(dir: &Dir, names: &Names) -> Option<Stamp> {
    take_in_at(dir, names, SystemTime::now())
}

fn take_in_at(dir: &Dir, names: &Names, now: SystemTime) -> Option<Stamp> {
    let main = read_in(dir, &names.main).ok()??;
    judge(main, read_in(dir, &names.wal).ok()?, now)
}

/// Database files whose directories are held open, to stamp them by name
/// ([`take_in`]) when asked by path: a table read stamps its file first,
/// and the path's walk was most of a stamp. Bounded; a file idle for a
/// minute lets its directory go.
#[derive(Clone)]
pub struct Held(crate::cache::Moka<std::ffi::OsString, std::sync::Arc<HeldFile>>);

/// A database file whose directory is held: its names there, and its last
/// stamp while it may be reused (see [`REUSE`]).
pub struct HeldFile {
    dir: Dir,
    names: Names,
    last: Mutex<Option<Recent>>,
}

#[derive(Clone, Copy)]
struct Recent {
    at: Instant,
    changes: u64,
    stamp: Stamp,
}

impl HeldFile {
    fn new(dir: Dir, names: Names) -> HeldFile {
        HeldFile {
            dir,
            names,
            last: Mutex::new(None),
        }
    }

    /// The file's stamp, as [`take_in`] gives it, or the last one if it was
    /// taken less than [`REUSE`] ago and this process changed nothing since.
    pub fn take(&self) -> Option<Stamp> {
        self.take_at(SystemTime::now(), Instant::now())
    }

    fn take_at(&self, now: SystemTime, clock: Instant) -> Option<Stamp> {
        // Read before the files: a change counted after this is not missed.
        self.take_with(now, clock, CHANGES.load(Ordering::Acquire))
    }

    /// As [`HeldFile::take`] at `now` and `clock`, `changes` counted so far.
    fn take_with(&self, now: SystemTime, clock: Instant, changes: u64) -> Option<Stamp> {
        let last = *self.last.lock().expect("held stamp");
        if let Some(last) = last
            && last.changes == changes
            && clock.saturating_duration_since(last.at) < REUSE
        {
            return Some(last.stamp);
        }
        let stamp = take_in_at(&self.dir, &self.names, now);
        *self.last.lock().expect("held stamp") = stamp.map(|stamp| Recent {
            at: clock,
            changes,
            stamp,
        });
        stamp
    }
}

/// How many files [`Held`] keeps directories open for: one descriptor each,
/// within the room `serve`'s descriptor budget leaves each open database.
const HELD_FILES: u64 = 512;

impl Default for Held {
    fn default() -> Held {
        Held(
            moka::sync::Cache::builder()
                .max_capacity(HELD_FILES)
                .time_to_idle(Duration::from_secs(60))
                .build_with_hasher(crate::cache::CacheHasher::new()),
        )
    }
}

impl Held {
    /// [`take`] of the database at `path`. Where the held directory finds
    /// no stamp and the path does, the directory was removed and made
    /// again (or is not held yet): the one the path names now is held.
    pub fn take(&self, path: &Path) -> Option<Stamp> {
        self.take_at(path, SystemTime::now())
    }

    fn take_at(&self, path: &Path, now: SystemTime) -> Option<Stamp> {
        // Keyed by the path's bytes: `Path`'s own hash walks its components.
        let held = self.0.get(path.as_os_str());
        if let Some(stamp) = held.as_ref().and_then(|h| h.take_at(now, Instant::now())) {
            return Some(stamp);
        }
        let stamp = take_at(path, now)?;
        if let Some((parent, names)) = Names::of(path)
            && let Ok(dir) = Dir::open(parent)
        {
            self.0
                .insert(path.into(), std::sync::Arc::new(HeldFile::new(dir, names)));
        }
        Some(stamp)
    }

    /// The held directory and names of the file at `path`, as its last
    /// [`Held::take`] left them (`Weak::new()` if none).
    pub fn weak(&self, path: &Path) -> std::sync::Weak<HeldFile> {
        self.0
            .get(path.as_os_str())
            .map_or_else(std::sync::Weak::new, |held| {
                std::sync::Arc::downgrade(&held)
            })
    }
}

/// The state of file `name` in `dir`: the same as [`FileState::read`]
/// of its path, walking one path component instead of all of them.
fn read_in(dir: &Dir, name: &CStr) -> std::io::Result<Option<FileState>> {
    // SAFETY: statx only writes the buffer it is given; zeroes are a
    // valid value of this plain C struct.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open (owned by `dir`) and `name` is a
    // NUL-terminated string.
    let rc = unsafe {
        libc::statx(
            dir.0.as_raw_fd(),
            name.as_ptr(),
            0,
            libc::STATX_BASIC_STATS,
            &mut buf,
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return match err.kind() {
            std::io::ErrorKind::NotFound => Ok(None),
            _ => Err(err),
        };
    }
    let nanos = |t: libc::statx_timestamp| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
    Ok(Some(FileState {
        dev: libc::makedev(buf.stx_dev_major, buf.stx_dev_minor),
        ino: buf.stx_ino,
        size: buf.stx_size,
        mtime: nanos(buf.stx_mtime),
        ctime: nanos(buf.stx_ctime),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{just_written, later};
    use super::super::wal_path;
    use super::*;

    #[test]
    fn a_stamp_by_name_in_a_held_directory_is_the_stamp_by_path() {
        let (dir, path) = just_written();
        let (parent, names) = Names::of(&path).unwrap();
        let held = Dir::open(parent).unwrap();
        assert_eq!(take_in(&held, &names), None, "just written");
        let by_path = take_at(&path, later(2)).unwrap();
        assert_eq!(take_in_at(&held, &names, later(2)), Some(by_path));
        std::fs::write(wal_path(&path), b"frame").unwrap();
        let with_wal = take_at(&path, later(4)).unwrap();
        assert_ne!(with_wal, by_path);
        assert_eq!(take_in_at(&held, &names, later(4)), Some(with_wal));
        // Replaced by another file, then gone with its directory.
        let other = dir.path().join("y.db");
        std::fs::write(&other, b"two").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let replaced = take_in_at(&held, &names, later(6)).unwrap();
        assert_ne!(replaced, with_wal);
        assert_eq!(Some(replaced), take_at(&path, later(6)));
        let parent = parent.to_owned();
        drop(dir);
        assert_eq!(take_in_at(&held, &names, later(8)), None);
        // Made again with a file so named: the held directory is not it.
        std::fs::create_dir(&parent).unwrap();
        std::fs::write(&path, b"three").unwrap();
        assert_eq!(take_in_at(&held, &names, later(8)), None);
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn held_files_follow_their_directory_when_it_is_made_again() {
        let root = tempfile::tempdir().unwrap();
        let space = root.path().join("s");
        std::fs::create_dir(&space).unwrap();
        let path = space.join("x.db");
        std::fs::write(&path, b"one").unwrap();
        let held = Held::default();
        assert_eq!(held.take(&path), None, "just written");
        let first = held.take_at(&path, later(2)).unwrap();
        assert!(
            held.0.get(path.as_os_str()).is_some(),
            "its directory is held"
        );
        assert_eq!(held.take_at(&path, later(2)), Some(first));
        // The directory removed and made again, holding another file so named.
        std::fs::remove_dir_all(&space).unwrap();
        std::fs::create_dir(&space).unwrap();
        std::fs::write(&path, b"other content").unwrap();
        // Another process's change is seen once the last stamp is too old.
        std::thread::sleep(REUSE);
        let again = held.take_at(&path, later(4)).unwrap();
        assert_ne!(again, first);
        assert_eq!(Some(again), take_at(&path, later(4)));
        let now_held = held.weak(&path).upgrade().unwrap();
        assert_eq!(
            take_in_at(&now_held.dir, &now_held.names, later(4)),
            Some(again)
        );
    }

    #[test]
    fn a_held_stamp_is_reused_briefly_unless_this_process_changed_a_database() {
        let (_dir, path) = just_written();
        let (parent, names) = Names::of(&path).unwrap();
        let file = HeldFile::new(Dir::open(parent).unwrap(), names);
        let t0 = Instant::now();
        assert_eq!(
            file.take_with(SystemTime::now(), t0, 7),
            None,
            "just written"
        );
        let first = file.take_with(later(2), t0, 7).unwrap();
        // Another process commits: seen at most REUSE late.
        std::fs::write(wal_path(&path), b"frame").unwrap();
        let soon = t0 + REUSE / 2;
        assert_eq!(file.take_with(later(2), soon, 7), Some(first));
        let with_wal = take_at(&path, later(2)).unwrap();
        assert_ne!(with_wal, first);
        assert_eq!(file.take_with(later(2), t0 + REUSE, 7), Some(with_wal));
        // This process commits: seen at once.
        std::fs::write(wal_path(&path), b"frame two").unwrap();
        let after = take_at(&path, later(4)).unwrap();
        assert_ne!(after, with_wal);
        assert_eq!(file.take_with(later(4), t0 + REUSE, 8), Some(after));
    }
}
