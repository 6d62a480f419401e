//! The catalog: the internal libSQL database at `DATA/catalog.db` holding
//! spaces, users, roles, grants, tokens, settings, the audit log and the
//! schema mirror. Each submodule owns one kind of row; their functions are
//! synchronous and take a connection, so the CLI calls them directly and the
//! server calls them through [`Catalog::call`] on the blocking pool.

pub mod audit;
pub mod databases;
pub mod grants;
pub mod logins;
pub mod migrate;
pub mod mirror;
pub mod queries;
pub mod sessions;
pub mod spaces;
pub mod tokens;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::sqlite::{self, Pool};

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The data folder's layout.
/// The names of download snapshots in a space's folder.
const SNAPSHOT_PREFIX: &str = ".download-";

#[derive(Clone, Debug)]
pub struct DataDir(PathBuf, Option<Arc<crate::replica::Replication>>);

impl DataDir {
    pub fn new(path: impl Into<PathBuf>) -> DataDir {
        DataDir(path.into(), None)
    }
    /// The folder as a node of a replicated deployment: its catalog and
    /// databases are replicas of the primary's namespaces.
    pub fn replicated(
        path: impl Into<PathBuf>,
        replication: crate::replica::Replication,
    ) -> DataDir {
        DataDir(path.into(), Some(Arc::new(replication)))
    }
    pub fn replication(&self) -> Option<&Arc<crate::replica::Replication>> {
        self.1.as_ref()
    }
    pub fn root(&self) -> &Path {
        &self.0
    }
    pub fn catalog(&self) -> PathBuf {
        self.0.join("catalog.db")
    }
    pub fn secret(&self) -> PathBuf {
        self.0.join("secret")
    }
    pub fn space_dir(&self, space: &str) -> PathBuf {
        self.0.join("spaces").join(space)
    }
    /// A new name for a download's snapshot in the space's folder (unlinked
    /// as soon as it is open; [`DataDir::remove_snapshots`] sweeps any that a
    /// crash left behind).
    pub fn snapshot_file(&self, space: &str) -> PathBuf {
        let name = format!(
            "{SNAPSHOT_PREFIX}{}.db",
            hex::encode(rand::random::<[u8; 12]>())
        );
        self.space_dir(space).join(name)
    }
    /// Removes snapshots left by a process that stopped mid-download.
    /// Where uploads wait while they are imported (`tmp/upload-*.tmp`).
    pub fn uploads(&self) -> PathBuf {
        self.0.join("tmp")
    }

    /// Removes uploads a stopped server left behind (at start).
    pub fn remove_uploads(&self) {
        let Ok(files) = std::fs::read_dir(self.uploads()) else {
            return;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.starts_with("upload-") && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(file.path());
            }
        }
    }

    pub fn remove_snapshots(&self) {
        let Ok(spaces) = std::fs::read_dir(self.0.join("spaces")) else {
            return;
        };
        for space in spaces.flatten() {
            let Ok(files) = std::fs::read_dir(space.path()) else {
                continue;
            };
            for file in files.flatten() {
                if file
                    .file_name()
                    .to_string_lossy()
                    .starts_with(SNAPSHOT_PREFIX)
                {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
    }
    pub fn database_file(&self, space: &str, db: &str) -> PathBuf {
        // Built in one allocation: every cached read asks for it.
        let size = self.0.as_os_str().len() + space.len() + db.len() + 16;
        let mut path = PathBuf::with_capacity(size);
        path.push(&self.0);
        path.push("spaces");
        path.push(space);
        path.push(db);
        path.as_mut_os_string().push(".db");
        path
    }
}

/// Catalog calls of the server that run at once, each on a pooled
/// connection; more would only open and close connections.
const CALLS_AT_ONCE: usize = 8;

/// Prepared statements kept per catalog connection: enough for every
/// lookup a first visit makes (space, settings, databases, permissions,
/// the schema mirror), so none is parsed again.
const KEPT_STATEMENTS: usize = 32;

/// Each catalog connection keeps its temporary tables in memory. A
/// permission decision materialises its rules on each run; backed by a file,
/// each such table set up (and freed) a page cache of its own, several times
/// the cost of the query in SQLite 3.40 (168 against 23 µs a decision).
/// Nor does SQLite index them on the fly: the only catalog queries that
/// built automatic indexes were the decisions, on CTEs of a few rows, where
/// building the index cost more than scanning (22 against 13 µs a decision).
const SETUP: &str = "pragma temp_store = memory; pragma automatic_index = off";

/// A handle on the catalog shared by the whole server.
#[derive(Clone)]
pub struct Catalog {
    pool: Pool,
    turns: Arc<tokio::sync::Semaphore>,
    /// How many migrations opening this catalog applied.
    pub migrations_applied: usize,
    /// On a node of a replicated deployment, the catalog's replica:
    /// connections read it and write through to the primary.
    pub replica: Option<Arc<crate::replica::Replica>>,
    /// Syncs the WAL behind [`Catalog::call_synced`]'s commits (local only).
    sync: Option<Arc<sqlite::WalSync>>,
}

/// A commit of [`Catalog::call_synced`], durable once [`Synced::wait`] is.
pub struct Synced(Option<tokio::sync::oneshot::Receiver<Option<String>>>);

impl Synced {
    /// Waits for the sync behind the commit; its error if it failed.
    pub async fn wait(self) -> Result<()> {
        match self.0 {
            None => Ok(()),
            Some(answer) => match answer.await {
                Ok(None) => Ok(()),
                Ok(Some(failed)) => Err(anyhow::anyhow!(failed)),
                Err(_) => Err(anyhow::anyhow!("the catalog's WAL sync was abandoned")),
            },
        }
    }
}

/// Sets a catalog connection back to `synchronous = full` when dropped, so
/// its next caller's commits sync at COMMIT again, even after a panic.
struct SyncedFully<'a>(&'a sqlite::Pooled);

impl Drop for SyncedFully<'_> {
    fn drop(&mut self) {
        if let Err(err) = sqlite::execute_own(self.0, "pragma synchronous = full", ()) {
            tracing::error!(error = ?err, "setting a catalog connection back to synchronous = full failed");
        }
    }
}

/// The catalog's replica, its namespace made sure of on the primary and
/// synced once (inside the tokio runtime).
async fn open_replica(
    replication: &crate::replica::Replication,
    path: &Path,
) -> Result<crate::replica::Replica> {
    let ns = crate::replica::Namespace::catalog();
    replication.admin.create(&ns).await?;
    let replica = crate::replica::Replica::open(&replication.primary, &ns, path).await?;
    replica.sync().await?;
    Ok(replica)
}

impl Catalog {
    /// Opens the catalog in `data`, creating the folder and applying migrations.
    pub fn open(data: &DataDir) -> Result<Catalog> {
        std::fs::create_dir_all(data.root())
            .with_context(|| format!("creating data folder {}", data.root().display()))?;
        let (pool, replica) = match data.replication() {
            None => (
                Pool::with_setup(sqlite::open_file(&data.catalog())?, CALLS_AT_ONCE, SETUP)
                    .keeping_statements(KEPT_STATEMENTS),
                None,
            ),
            Some(replication) => {
                let replica = sqlite::now(open_replica(replication, &data.catalog()))?;
                (
                    Pool::replica(replica.database(), CALLS_AT_ONCE),
                    Some(Arc::new(replica)),
                )
            }
        };
        let migrations_applied = migrate::apply(&*pool.get()?)?;
        let sync = replica
            .is_none()
            .then(|| sqlite::WalSync::new(&data.catalog()));
        Ok(Catalog {
            pool,
            sync,
            replica,
            turns: Arc::new(tokio::sync::Semaphore::new(CALLS_AT_ONCE)),
            migrations_applied,
        })
    }

    /// A connection for synchronous callers (the CLI, tests).
    pub fn conn(&self) -> Result<sqlite::Pooled> {
        self.pool.get()
    }

    /// Empties the catalog's WAL into its file (at shutdown); `false` when
    /// a reader kept it from finishing.
    pub async fn checkpoint(&self) -> Result<bool> {
        self.call(|conn| sqlite::checkpoint(conn)).await
    }

    /// Runs a lookup by key (a few pages read) here on the worker when a
    /// turn and an idle connection are free: handing it to the blocking pool
    /// costs more than the lookup. Otherwise, or if it fails here (a busy
    /// file fails at once rather than block the worker), it runs as
    /// [`Catalog::call`]. Only for reads: `f` may run twice.
    pub async fn lookup<T, F>(&self, f: F) -> Result<T>
    where
        F: Fn(&sqlite::Pooled) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.replica.is_none()
            && let Ok(_turn) = self.turns.try_acquire()
            && let Some(conn) = self.pool.idle()
            && let Ok(Ok(found)) = sqlite::without_waiting(&conn, || f(&conn))
        {
            return Ok(found);
        }
        self.call(f).await
    }

    /// As [`Catalog::call`] for a write transaction whose caller can wait
    /// for the disk without holding anything: `f`'s COMMIT does not sync the
    /// WAL, and the [`Synced`] given back is ready once a sync begun after it
    /// has (one sync for every such commit meanwhile; see
    /// [`sqlite::WalSync`]). On a replica the primary answers for the write,
    /// and it is ready at once.
    pub async fn call_synced<T, F>(&self, f: F) -> Result<(T, Synced)>
    where
        F: FnOnce(&sqlite::Pooled) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let Some(sync) = self.sync.clone() else {
            return Ok((self.call(f).await?, Synced(None)));
        };
        let (synced, answer) = tokio::sync::oneshot::channel();
        let value = self
            .call(move |conn| {
                sqlite::execute_own(conn, "pragma synchronous = normal", ())?;
                let _full = SyncedFully(conn);
                let value = f(conn)?;
                sync.committed(Box::new(move |failed| {
                    let _ = synced.send(failed.map(|err| format!("{err:#}")));
                }));
                // This thread holds a catalog turn: the sync runs on another.
                sync.sync_behind();
                Ok(value)
            })
            .await?;
        Ok((value, Synced(Some(answer))))
    }

    /// Runs `f` with a catalog connection on the blocking pool, waiting for
    /// a turn first.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&sqlite::Pooled) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let turn = self.turns.clone().acquire_owned().await?;
        let pool = self.pool.clone();
        sqlite::blocking(move || {
            let _turn = turn;
            let conn = pool.get()?;
            f(&conn)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalog's connections keep temporary tables in memory and build no
    /// automatic indexes (see [`SETUP`]).
    #[test]
    fn catalog_connections_keep_temporary_tables_in_memory_unindexed() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&DataDir::new(dir.path().join("data"))).unwrap();
        let conn = catalog.conn().unwrap();
        let row = sqlite::query_one(&conn, "pragma temp_store", ())
            .unwrap()
            .unwrap();
        // 2: MEMORY.
        assert_eq!(row.get::<i64>(0).unwrap(), 2);
        let row = sqlite::query_one(&conn, "pragma automatic_index", ())
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 0);
    }

    #[tokio::test]
    async fn synced_calls_give_their_connection_back_syncing_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&DataDir::new(dir.path().join("data"))).unwrap();
        let (made, synced) = catalog
            .call_synced(|conn| {
                sqlite::write_transaction(conn, |conn| {
                    sqlite::execute_batch(conn, "create table t (x); insert into t values (1)")?;
                    Ok(1)
                })
            })
            .await
            .unwrap();
        synced.wait().await.unwrap();
        assert_eq!(made, 1);
        let failed = catalog
            .call_synced(|conn| {
                sqlite::execute_batch(conn, "insert into missing values (1)")?;
                Ok(())
            })
            .await;
        assert!(failed.is_err());
        // Every connection the pool holds, idle ones included: 2 is FULL.
        let held: Vec<_> = (0..=CALLS_AT_ONCE)
            .map(|_| catalog.conn().unwrap())
            .collect();
        for conn in &held {
            let row = sqlite::query_one(conn, "pragma synchronous", ())
                .unwrap()
                .unwrap();
            assert_eq!(row.get::<i64>(0).unwrap(), 2);
        }
    }
}
