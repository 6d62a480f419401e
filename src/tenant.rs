//! The tenant store: open libSQL handles for (space, database), opened
//! lazily and kept in a bounded cache whose eviction closes them, with the
//! schema mirror in the catalog kept in step with each file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use libsql::Connection;

use crate::catalog::DataDir;
use crate::catalog::mirror::{self, TableSchema};
use crate::sqlite::{self, Pool, Pooled};

/// Idle read connections kept per open database.
const IDLE_CONNECTIONS: usize = 2;

/// A database's tables and views as of one schema version.
#[derive(Debug)]
pub struct Schema {
    pub version: i64,
    pub tables: Vec<TableSchema>,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Keyed by (database id, file identity (an immutable file's hash), schema version).
type SchemaCache = moka::sync::Cache<(i64, String, i64), Arc<Schema>>;

/// Where a database's content stands; equal counters mean equal content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChangeCounter {
    /// Which opening of the database (handles are evicted and reopened).
    pub epoch: u64,
    pub data_version: i64,
    pub generation: u64,
}

/// Numbers each opening of a tenant database.
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

/// One open tenant database.
pub struct TenantDb {
    pub database_id: i64,
    pool: Pool,
    /// The single writer: every write to this file queues here, in turn.
    writer: Arc<tokio::sync::Mutex<Option<Connection>>>,
    /// The schema the catalog mirror holds, as last loaded.
    schema: RwLock<Option<Arc<Schema>>>,
    /// Schemas by (database, version), shared by every handle of the store,
    /// so a database reopened after eviction needs no catalog reads.
    known: SchemaCache,
    /// Which file this is: an immutable file's hash, or empty.
    identity: String,
    /// A connection used only for `PRAGMA data_version`, which changes
    /// whenever any other connection (any process) commits to the file.
    watcher: Mutex<Option<libsql::Connection>>,
    /// Bumped by this process after each of its own commits.
    generation: Arc<AtomicU64>,
    /// This opening's number.
    epoch: u64,
}

impl TenantDb {
    /// A read-only connection (blocking: call on the blocking pool).
    pub fn conn(&self) -> Result<Pooled> {
        self.pool.get()
    }

    /// The database's change counter: it moves on every committed write,
    /// whoever made it (blocking; microseconds). `data_version` values only
    /// compare within one watcher connection, so the handle's epoch is part
    /// of the counter: a reopened database never repeats an old value.
    pub fn change_counter(&self) -> Result<ChangeCounter> {
        let mut watcher = self.watcher.lock().expect("watcher lock");
        if watcher.is_none() {
            *watcher = Some(self.pool.connect_raw()?);
        }
        let conn = watcher.as_ref().expect("watcher just set");
        let row = sqlite::query_one(conn, "pragma data_version", ())?.expect("pragma answers");
        Ok(ChangeCounter {
            epoch: self.epoch,
            data_version: row.get(0)?,
            generation: self.generation.load(Ordering::Acquire),
        })
    }

    /// Records a commit made by this process.
    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the database's single
    /// writer, on the blocking pool: committed when `f` succeeds, rolled back
    /// (changing nothing) when it fails. Writers to one database queue here;
    /// reads use their own connections and never wait.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        let guard = self.writer.clone().lock_owned().await;
        let pool = self.pool.clone();
        let generation = self.generation.clone();
        sqlite::blocking(move || {
            let mut guard = guard;
            if guard.is_none() {
                *guard = Some(open_writer(&pool)?);
            }
            let conn = guard.as_ref().expect("writer just opened");
            sqlite::execute_batch(conn, "begin immediate")?;
            match f(conn) {
                Ok(value) => match sqlite::execute_batch(conn, "commit") {
                    Ok(()) => {
                        generation.fetch_add(1, Ordering::AcqRel);
                        Ok(value)
                    }
                    Err(err) => {
                        let _ = sqlite::execute_batch(conn, "rollback");
                        Err(err.into())
                    }
                },
                Err(err) => {
                    if !conn.is_autocommit() {
                        let _ = sqlite::execute_batch(conn, "rollback");
                    }
                    Err(err)
                }
            }
        })
        .await
    }

    /// The current schema; refreshes the catalog's mirror first if the file's
    /// schema changed since it was taken (blocking).
    pub fn schema(&self, catalog: &libsql::Connection) -> Result<Arc<Schema>> {
        let tenant = self.conn()?;
        let version = mirror::schema_version(&tenant)?;
        if let Some(schema) = self.schema.read().expect("schema lock").as_ref()
            && schema.version == version
        {
            return Ok(schema.clone());
        }
        let schema = match self
            .known
            .get(&(self.database_id, self.identity.clone(), version))
        {
            Some(schema) => schema,
            None => {
                let version = mirror::refresh(catalog, self.database_id, &tenant)?;
                let schema = Arc::new(Schema {
                    version,
                    tables: mirror::load(catalog, self.database_id)?,
                });
                self.known.insert(
                    (self.database_id, self.identity.clone(), version),
                    schema.clone(),
                );
                schema
            }
        };
        *self.schema.write().expect("schema lock") = Some(schema.clone());
        Ok(schema)
    }
}

/// The writer connection. Foreign keys are not enforced on writes, as in
/// Datasette: rows may arrive before the rows they point at, and rebuilding a
/// table for `/-/alter` must not cascade into other tables.
fn open_writer(pool: &Pool) -> Result<Connection> {
    let conn = pool.unpooled()?;
    sqlite::execute_batch(&conn, "pragma foreign_keys = off")?;
    Ok(conn)
}

/// Open tenant databases, keyed by (space name, database name).
#[derive(Clone)]
pub struct TenantStore {
    data: DataDir,
    handles: moka::sync::Cache<(String, String), Arc<TenantDb>>,
    schemas: SchemaCache,
}

impl TenantStore {
    pub fn new(data: DataDir, capacity: u64, idle: Duration) -> TenantStore {
        let handles = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_idle(idle)
            // Dropping the last reference to a handle closes its connections.
            .eviction_listener(|_key, _db: Arc<TenantDb>, _cause| {
                let m = crate::metrics::metrics();
                m.open_handles.dec();
                m.cache_event("handles", "eviction");
            })
            .build();
        TenantStore {
            data,
            handles,
            schemas: moka::sync::Cache::builder().max_capacity(100_000).build(),
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
                // Never create a tenant file here: a missing file is an error, not an empty db.
                if !path.exists() {
                    anyhow::bail!("database file {} is missing", path.display());
                }
                let db = match immutable_hash {
                    Some(_) => sqlite::open_immutable(&path)?,
                    None => sqlite::open_file(&path)?,
                };
                crate::metrics::metrics().open_handles.inc();
                Ok(Arc::new(TenantDb {
                    database_id,
                    pool: Pool::with_init(db, IDLE_CONNECTIONS, |conn| {
                        // Reads never write, whatever SQL reaches them.
                        sqlite::execute_batch(conn, "pragma query_only = 1")
                    }),
                    schema: RwLock::new(None),
                    known: self.schemas.clone(),
                    identity: immutable_hash.unwrap_or_default().to_owned(),
                    watcher: Mutex::new(None),
                    generation: Arc::new(AtomicU64::new(0)),
                    epoch: NEXT_EPOCH.fetch_add(1, Ordering::Relaxed),
                    writer: Arc::new(tokio::sync::Mutex::new(None)),
                }))
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

/// Creates a new, empty tenant database file in WAL mode.
pub fn create_file(data: &DataDir, space: &str, db: &str) -> Result<()> {
    let path = data.database_file(space, db);
    std::fs::create_dir_all(data.space_dir(space))?;
    if path.exists() {
        anyhow::bail!("{} already exists", path.display());
    }
    sqlite::open_file(&path)?;
    Ok(())
}
