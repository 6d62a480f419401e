//! Commits made durable behind the writer. A connection with
//! `synchronous = normal` commits into the WAL without an `fsync`; its
//! writes are answered only once a sync of the WAL that began after their
//! COMMIT has finished. So an acknowledged write survives power loss, as
//! with `synchronous = full`, but the writer goes on with the next
//! transaction while the disk works, and one sync covers every commit made
//! before it began (with `full`, each COMMIT waited for its own, holding
//! the write lock).
//!
//! Readers may see a commit a moment before it is durable; no answer to
//! the write itself is sent before.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What a commit's writes are told once the sync has run: nothing, or why
/// the WAL could not be made durable.
pub type Then = Box<dyn FnOnce(Option<&anyhow::Error>) + Send>;

/// The syncs of one database's WAL.
pub struct WalSync {
    wal: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Commits waiting for a sync that has not yet begun.
    waiting: Vec<Then>,
    /// A sync is running: it takes the commits that waited for it when it
    /// is done. (Running a second at once was slower in paired runs: each
    /// commit then paid for a sync and a thread of its own.)
    running: bool,
    /// Syncs finished.
    done: u64,
    /// The WAL's inode when last synced: a new file's directory entry is
    /// synced too.
    inode: Option<u64>,
}

impl WalSync {
    /// For the database file at `path`.
    pub fn new(path: &Path) -> Arc<WalSync> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Arc::new(WalSync {
            wal: wal.into(),
            state: Mutex::default(),
        })
    }

    /// Syncs finished so far.
    pub fn done(&self) -> u64 {
        self.state.lock().expect("wal sync").done
    }

    /// Called just after a COMMIT: `then` runs once a sync begun after now
    /// has finished, on the thread that ran it. The caller then asks for
    /// the sync with [`WalSync::sync_here`] or [`WalSync::sync_behind`].
    pub fn committed(&self, then: Then) {
        self.state.lock().expect("wal sync").waiting.push(then);
    }

    /// Syncs the commits waiting on this thread, unless a sync running
    /// already will take them: for a writer that holds nothing a commit
    /// needs (one thread hand-off fewer than [`WalSync::sync_behind`]).
    pub fn sync_here(&self) {
        if self.claim() {
            self.run();
        }
    }

    /// As [`WalSync::sync_here`], on the blocking pool: for a caller that
    /// holds what the next commit needs (outside a runtime, here and now).
    pub fn sync_behind(self: &Arc<Self>) {
        if !self.claim() {
            return;
        }
        let sync = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || sync.run())),
            Err(_) => sync.run(),
        }
    }

    /// Whether the caller is to run the sync: none is running yet.
    fn claim(&self) -> bool {
        let mut state = self.state.lock().expect("wal sync");
        let claimed = !state.running && !state.waiting.is_empty();
        state.running |= claimed;
        claimed
    }

    /// Syncs until no commit is left waiting.
    fn run(&self) {
        loop {
            let (batch, inode) = {
                let mut state = self.state.lock().expect("wal sync");
                if state.waiting.is_empty() {
                    state.running = false;
                    return;
                }
                (std::mem::take(&mut state.waiting), state.inode)
            };
            let synced = self.sync(inode);
            let mut state = self.state.lock().expect("wal sync");
            state.done += 1;
            let failed = match synced {
                Ok(inode) => {
                    state.inode = inode;
                    None
                }
                Err(err) => {
                    tracing::error!(wal = %self.wal.display(), error = ?err, "a WAL sync failed");
                    Some(err)
                }
            };
            drop(state);
            let outcome = if failed.is_some() { "failed" } else { "ok" };
            crate::metrics::metrics()
                .wal_syncs
                .with_label_values(&[outcome])
                .inc();
            for then in batch {
                then(failed.as_ref());
            }
        }
    }

    /// One `fdatasync` of the WAL, and of its directory when the file is new
    /// to this sync; the WAL's inode. No WAL at all: its last connection
    /// closed, which checkpointed it into the database file and synced that.
    fn sync(&self, known: Option<u64>) -> anyhow::Result<Option<u64>> {
        let file = match File::open(&self.wal) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(anyhow::Error::new(err).context("opening the WAL to sync it")),
        };
        file.sync_data()
            .map_err(|err| anyhow::Error::new(err).context("syncing the WAL"))?;
        let inode = file.metadata()?.ino();
        if known != Some(inode) {
            let dir = match self.wal.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|err| anyhow::Error::new(err).context("syncing the WAL's folder"))?;
        }
        Ok(Some(inode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_commit_hears_once_and_a_missing_wal_counts_as_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let sync = WalSync::new(&path);
        let (tx, rx) = std::sync::mpsc::channel();
        // No WAL yet: nothing to sync, nothing lost.
        let told = tx.clone();
        sync.committed(Box::new(move |failed| told.send(failed.is_none()).unwrap()));
        sync.sync_here();
        std::fs::write(dir.path().join("t.db-wal"), b"frames").unwrap();
        for _ in 0..3 {
            let told = tx.clone();
            sync.committed(Box::new(move |failed| told.send(failed.is_none()).unwrap()));
        }
        // One sync for the three.
        sync.sync_behind();
        drop(tx);
        let heard: Vec<bool> = rx.iter().collect();
        assert_eq!(heard, vec![true; 4]);
        assert!(sync.state.lock().unwrap().inode.is_some());
        assert!(!sync.state.lock().unwrap().running);
        assert_eq!(sync.done(), 2);
    }
}
