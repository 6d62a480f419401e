//! The tenant store: open libSQL handles for (space, database), opened
//! lazily and kept in a bounded cache whose eviction closes them, with the
//! schema mirror in the catalog kept in step with each file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::catalog::DataDir;
use crate::settings::Settings;
use crate::space_gate::{SpaceGate, SpaceGates};
use crate::sqlite::{self, Pool, Pooled};
use crate::stamp::Stamp;

mod commits;
mod schema;
mod writer;
pub use schema::Schema;
use schema::SchemaCache;
use writer::Writer;

/// Reads of one database that run at once; each has a pooled connection.
/// More would only add threads and connections: the machine has few cores,
/// and a tenant's slow queries should not take them all.
const READERS: usize = 4;

/// One open tenant database.
pub struct TenantDb {
    pub database_id: i64,
    pool: Pool,
    /// One permit per read running at once.
    readers: Arc<tokio::sync::Semaphore>,
    /// The single writer: every write to this file queues here, in turn.
    writer: Arc<tokio::sync::Mutex<Option<Writer>>>,
    /// Writes waiting to share the writer's next transaction.
    queue: commits::Queue,
    /// Syncs the WAL behind the writer's commits, before their answers.
    sync: Arc<sqlite::WalSync>,
    /// The space's `max_value_mb` in bytes, as its last request saw it.
    max_value: AtomicU64,
    /// The space's `max_response_mb` in bytes, as its last request saw it.
    max_answer: AtomicU64,
    /// The space's limits, shared by its open databases.
    pub gate: Arc<SpaceGate>,
    /// The file, for its stamp.
    path: PathBuf,
    /// The schema as last loaded, with the file's stamp when it was read:
    /// while the stamp holds, the schema cannot have changed.
    checked: Mutex<Option<(Option<Stamp>, Arc<Schema>)>>,
    /// Schemas by (database, version), shared by every handle of the store,
    /// so a database reopened after eviction needs no catalog reads.
    known: SchemaCache,
    /// Which file this is: an immutable file's hash, or empty.
    identity: String,
    /// SQL that overran its time in place (see [`crate::read::in_place`]).
    pub overruns: crate::read::in_place::Overruns,
    /// On a replicated node, the replica the file is (reads run on plain
    /// read-only connections to it; writes go through it to the primary).
    pub replica: Option<Arc<crate::replica::Replica>>,
}

impl TenantDb {
    /// Takes the space's limits on values and answers: every request that
    /// opens the database passes its space's settings, so a change applies
    /// with the next request.
    pub fn set_limits(&self, settings: &Settings) {
        const MB: u64 = 1024 * 1024;
        let bytes = |name| settings.int(name).saturating_mul(MB);
        self.max_value
            .store(bytes("max_value_mb"), Ordering::Relaxed);
        self.max_answer
            .store(bytes("max_response_mb"), Ordering::Relaxed);
    }

    /// The largest string or blob SQL may build or read, in bytes (0: SQLite's).
    pub fn max_value(&self) -> u64 {
        self.max_value.load(Ordering::Relaxed)
    }

    /// The largest rows one answer may hold, in bytes (0: no cap).
    pub fn max_answer(&self) -> u64 {
        self.max_answer.load(Ordering::Relaxed)
    }

    /// A read-only connection (blocking: call on the blocking pool).
    pub fn conn(&self) -> Result<Pooled> {
        self.pool.get()
    }

    /// An idle read-only connection, if one is waiting (never blocks).
    pub fn idle_conn(&self) -> Option<Pooled> {
        self.pool.idle()
    }

    /// Waits for a turn to read; the read runs while the permit is held.
    pub async fn reader_turn(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.readers
            .clone()
            .acquire_owned()
            .await
            .expect("the readers semaphore is never closed")
    }

    /// A turn to read, if one is free now.
    pub fn try_reader_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.readers.clone().try_acquire_owned().ok()
    }
}

/// Open tenant databases, keyed by (space name, database name).
#[derive(Clone)]
pub struct TenantStore {
    data: DataDir,
    handles: crate::cache::Moka<(String, String), Arc<TenantDb>>,
    schemas: SchemaCache,
    /// SQL run on each new read connection.
    read_setup: String,
    /// Each space's limits, shared by its open databases.
    gates: SpaceGates,
}

impl TenantStore {
    /// At most `capacity` databases open, each closed after `idle` unused;
    /// read connections get a page cache of `page_cache_kb` KiB (0: SQLite's
    /// default), as Datasette's `cache_size_kb` setting asks.
    pub fn new(data: DataDir, capacity: u64, idle: Duration, page_cache_kb: u64) -> TenantStore {
        let handles = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_idle(idle)
            // Dropping the last reference to a handle closes its connections.
            .eviction_listener(|_key, _db: Arc<TenantDb>, _cause| {
                let m = crate::metrics::metrics();
                m.open_handles.dec();
                m.cache_event("handles", "eviction");
            })
            .build_with_hasher(crate::cache::CacheHasher::new());
        TenantStore {
            data,
            handles,
            schemas: moka::sync::Cache::builder().max_capacity(100_000).build(),
            read_setup: match page_cache_kb {
                0 => "pragma query_only = 1".into(),
                kb => format!("pragma query_only = 1; pragma cache_size = -{kb}"),
            },
            gates: SpaceGates::default(),
        }
    }

    /// The open handle for a database the catalog knows (blocking). An
    /// immutable database (given its hash) is opened read-only and immutable.
    pub fn open(
        &self,
        space: &str,
        db: &str,
        database_id: i64,
        immutable_hash: Option<&str>,
    ) -> Result<Arc<TenantDb>> {
        let key = handle_key(space, db, immutable_hash);
        self.handles
            .try_get_with(key, || {
                let path = self.data.database_file(space, db);
                let (db, replica) = match self.data.replication() {
                    Some(replication) => {
                        // A replica file is made by syncing, never by hand.
                        let replica = sqlite::now(replication.open_database(database_id, &path))?;
                        (replica.open_reader()?, Some(Arc::new(replica)))
                    }
                    // Never create a tenant file here: a missing file is an error, not an empty db.
                    None if !path.exists() => {
                        anyhow::bail!("database file {} is missing", path.display())
                    }
                    None => match immutable_hash {
                        Some(_) => (sqlite::open_immutable(&path)?, None),
                        None => (sqlite::open_file_unshared(&path)?, None),
                    },
                };
                // Reads never write, whatever SQL reaches them.
                let pool = Pool::with_setup(db, READERS, &self.read_setup);
                // A replica's files are libsql's to manage; an immutable one has no WAL.
                let pool = match replica.is_none() && immutable_hash.is_none() {
                    true => pool.keeping_wal_files(),
                    false => pool,
                };
                crate::metrics::metrics().open_handles.inc();
                let handle = TenantDb {
                    database_id,
                    readers: Arc::new(tokio::sync::Semaphore::new(READERS)),
                    pool,
                    path: path.clone(),
                    checked: Mutex::new(None),
                    known: self.schemas.clone(),
                    identity: immutable_hash.unwrap_or_default().to_owned(),
                    overruns: Default::default(),
                    writer: Arc::new(tokio::sync::Mutex::new(None)),
                    queue: Default::default(),
                    sync: sqlite::WalSync::new(&path),
                    max_value: AtomicU64::new(0),
                    max_answer: AtomicU64::new(0),
                    // Defaults until the request that opened it fits the
                    // gate to the space's settings.
                    gate: self.gates.get(space, &Default::default()),
                    replica,
                };
                // The defaults until a request brings its space's settings.
                handle.set_limits(&Settings::default());
                Ok(Arc::new(handle))
            })
            .map_err(|e: Arc<anyhow::Error>| anyhow::anyhow!("{e:#}"))
            .with_context(|| format!("opening database {db} of space {space}"))
    }

    /// The handle for a database if it is open already (never blocks).
    pub fn open_already(
        &self,
        space: &str,
        db: &str,
        immutable_hash: Option<&str>,
    ) -> Option<Arc<TenantDb>> {
        self.handles.get(&handle_key(space, db, immutable_hash))
    }

    /// Checkpoints every open database (see [`TenantDb::checkpoint`]):
    /// how many were open, and how many of them could not be emptied.
    pub async fn checkpoint_all(&self) -> (usize, usize) {
        let open: Vec<_> = self.handles.iter().collect();
        let mut unfinished = 0;
        for (key, db) in &open {
            match db.checkpoint().await {
                Ok(true) => {}
                Ok(false) => {
                    unfinished += 1;
                    tracing::warn!(space = %key.0, "a reader kept a WAL from being emptied");
                }
                Err(err) => {
                    unfinished += 1;
                    tracing::warn!(space = %key.0, "checkpointing: {err:#}");
                }
            }
        }
        (open.len(), unfinished)
    }

    /// Forgets every open handle of a space (after it is deleted).
    pub fn forget_space(&self, space: &str) {
        let space = space.to_owned();
        let _ = self
            .handles
            .invalidate_entries_if(move |key, _| key.0 == space);
    }
}

/// The hash is part of the key: a database made (im)mutable gets a new handle.
fn handle_key(space: &str, db: &str, immutable_hash: Option<&str>) -> (String, String) {
    (
        space.to_owned(),
        format!("{db}\u{0}{}", immutable_hash.unwrap_or("")),
    )
}

/// Creates a new, empty tenant database file in WAL mode, with its WAL files.
pub fn create_file(data: &DataDir, space: &str, db: &str) -> Result<()> {
    let path = data.database_file(space, db);
    std::fs::create_dir_all(data.space_dir(space))?;
    if path.exists() {
        anyhow::bail!("{} already exists", path.display());
    }
    connect_keeping_wal_files(&path)?;
    Ok(())
}

/// A connection to a tenant file whose last close keeps the `-wal` (emptied)
/// and `-shm` files, as the server's own connections do: a command that
/// makes or registers a database leaves them in place, and the server's
/// first visit opens them instead of creating them (on a file system
/// without a journal, ext4 scans past every recently deleted inode for each
/// file it creates: a third of a first visit in issue 17's profile).
pub fn connect_keeping_wal_files(path: &std::path::Path) -> Result<sqlite::Closing> {
    let pool = Pool::new(sqlite::open_file(path)?, 0).keeping_wal_files();
    Ok(pool.unpooled()?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_cache_of(page_cache_kb: u64) -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        create_file(&data, "s", "d").unwrap();
        let store = TenantStore::new(data, 10, Duration::from_secs(60), page_cache_kb);
        let db = store.open("s", "d", 1, None).unwrap();
        let conn = db.conn().unwrap();
        let row = sqlite::query_one(&conn, "pragma cache_size", ())
            .unwrap()
            .unwrap();
        row.get::<i64>(0).unwrap()
    }

    /// A database closed after a write keeps its `-wal`, emptied, and its
    /// `-shm`; the write is in the main file.
    #[test]
    fn a_closed_database_keeps_its_wal_files_with_the_wal_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        create_file(&data, "s", "d").unwrap();
        let store = TenantStore::new(data.clone(), 10, Duration::from_secs(60), 0);
        let db = store.open("s", "d", 1, None).unwrap();
        let (writer, _) = db.pool.unpooled().unwrap();
        sqlite::execute_batch(&writer, "create table t (x); insert into t values (1)").unwrap();
        let reader = db.conn().unwrap();
        assert!(
            sqlite::query_one(&reader, "select x from t", ())
                .unwrap()
                .is_some()
        );
        let path = data.database_file("s", "d");
        let beside = |suffix: &str| std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        assert!(std::fs::metadata(beside("-wal")).unwrap().len() > 0);
        drop((writer, reader, db));
        drop(store);
        assert_eq!(std::fs::metadata(beside("-wal")).unwrap().len(), 0);
        assert!(beside("-shm").exists());
        // The main file alone holds the row.
        std::fs::remove_file(beside("-wal")).unwrap();
        std::fs::remove_file(beside("-shm")).unwrap();
        let conn = sqlite::connect(&sqlite::open_existing(&path).unwrap()).unwrap();
        let row = sqlite::query_one(&conn, "select count(*) from t", ())
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 1);
    }

    #[test]
    fn read_connections_get_the_page_cache_asked_for() {
        assert_eq!(page_cache_of(5000), -5000);
        assert_eq!(page_cache_of(0), -2000, "SQLite's default");
    }
}
