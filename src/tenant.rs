//! The tenant store: open libSQL handles for (space, database), opened
//! lazily and kept in a bounded cache whose eviction closes them, with the
//! schema mirror in the catalog kept in step with each file.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use libsql::Connection;

use crate::catalog::DataDir;
use crate::catalog::mirror::{self, TableSchema};
use crate::sqlite::{self, Pool, Pooled};

/// Idle read connections kept per open database.
const IDLE_CONNECTIONS: usize = 4;

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

/// One open tenant database.
pub struct TenantDb {
    pub database_id: i64,
    pool: Pool,
    /// The single writer: every write to this file queues here, in turn.
    writer: Arc<tokio::sync::Mutex<Option<Connection>>>,
    /// The schema the catalog mirror holds, as last loaded.
    schema: RwLock<Option<Arc<Schema>>>,
}

impl TenantDb {
    /// A read-only connection (blocking: call on the blocking pool).
    pub fn conn(&self) -> Result<Pooled> {
        self.pool.get()
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
        sqlite::blocking(move || {
            let mut guard = guard;
            if guard.is_none() {
                *guard = Some(open_writer(&pool)?);
            }
            let conn = guard.as_ref().expect("writer just opened");
            sqlite::execute_batch(conn, "begin immediate")?;
            match f(conn) {
                Ok(value) => match sqlite::execute_batch(conn, "commit") {
                    Ok(()) => Ok(value),
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
        let version = mirror::refresh(catalog, self.database_id, &tenant)?;
        let schema = Arc::new(Schema {
            version,
            tables: mirror::load(catalog, self.database_id)?,
        });
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
}

impl TenantStore {
    pub fn new(data: DataDir, capacity: u64, idle: Duration) -> TenantStore {
        let handles = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_idle(idle)
            .build();
        TenantStore { data, handles }
    }

    /// The open handle for a database the catalog knows (blocking).
    pub fn open(&self, space: &str, db: &str, database_id: i64) -> Result<Arc<TenantDb>> {
        let key = (space.to_owned(), db.to_owned());
        self.handles
            .try_get_with(key, || {
                let path = self.data.database_file(space, db);
                // Never create a tenant file here: a missing file is an error, not an empty db.
                if !path.exists() {
                    anyhow::bail!("database file {} is missing", path.display());
                }
                let db = sqlite::open_file(&path)?;
                Ok(Arc::new(TenantDb {
                    database_id,
                    pool: Pool::with_init(db, IDLE_CONNECTIONS, |conn| {
                        // Reads never write, whatever SQL reaches them.
                        sqlite::execute_batch(conn, "pragma query_only = 1")
                    }),
                    schema: RwLock::new(None),
                    writer: Arc::new(tokio::sync::Mutex::new(None)),
                }))
            })
            .map_err(|e: Arc<anyhow::Error>| anyhow::anyhow!("{e:#}"))
            .with_context(|| format!("opening database {db} of space {space}"))
    }

    /// Forgets every open handle of a space (after it is deleted).
    pub fn forget_space(&self, space: &str) {
        let space = space.to_owned();
        let _ = self
            .handles
            .invalidate_entries_if(move |key, _| key.0 == space);
    }
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
