//! The tenant store: open libSQL handles for (space, database), opened
//! lazily and kept in a bounded cache whose eviction closes them, with the
//! schema mirror in the catalog kept in step with each file.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::catalog::{DataDir, mirror};
use crate::sqlite::{self, Pool, Pooled};

/// Idle read connections kept per open database.
const IDLE_CONNECTIONS: usize = 4;

/// One open tenant database.
pub struct TenantDb {
    pub database_id: i64,
    pool: Pool,
    /// The schema version the catalog mirror was last seen to reflect.
    mirrored_version: AtomicI64,
}

impl TenantDb {
    /// A read connection (blocking: call on the blocking pool).
    pub fn conn(&self) -> Result<Pooled> {
        self.pool.get()
    }

    /// Refreshes the catalog's mirror if the file's schema changed since last seen.
    pub fn sync_mirror(
        &self,
        catalog: &libsql::Connection,
        tenant: &libsql::Connection,
    ) -> Result<()> {
        let version = mirror::schema_version(tenant)?;
        if version != self.mirrored_version.load(Ordering::Acquire) {
            let version = mirror::refresh(catalog, self.database_id, tenant)?;
            self.mirrored_version.store(version, Ordering::Release);
        }
        Ok(())
    }
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
                    pool: Pool::new(db, IDLE_CONNECTIONS),
                    mirrored_version: AtomicI64::new(i64::MIN),
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
