//! A tenant database's schema as the catalog mirrors it, and how a request
//! knows it is still current: the file's stamp when it can be trusted, else
//! the file's schema version.

use std::sync::Arc;

use anyhow::Result;

use super::TenantDb;
use crate::catalog::mirror::{self, TableSchema};
use crate::sqlite::{self, Pooled};
use crate::stamp::{self, Stamp};

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
pub(super) type SchemaCache = moka::sync::Cache<(i64, String, i64), Arc<Schema>>;

impl TenantDb {
    /// The file's stamp now (see [`crate::stamp`]).
    pub fn stamp(&self) -> Option<Stamp> {
        stamp::take(&self.path)
    }

    /// The schema, if the file is unchanged since it was last read (never
    /// blocks); `taken` is a stamp this request took already.
    pub fn schema_if_unchanged(&self, taken: Option<Stamp>) -> Option<Arc<Schema>> {
        let now = taken.or_else(|| self.stamp());
        if let Some(now) = now
            && let Some((Some(then), schema)) = self.checked.lock().expect("schema lock").as_ref()
            && *then == now
        {
            return Some(schema.clone());
        }
        self.schema_version_unchanged(now)
    }

    /// The schema last read, if the file still has its version: asked of an
    /// idle reader in place, which never waits (none idle, or the file
    /// locked: `None`). A file written within the last second has no
    /// trusted stamp, so without this every request to a database under
    /// writes took a trip to the blocking pool to learn that its schema had
    /// not changed. `now` is the stamp taken before asking.
    fn schema_version_unchanged(&self, now: Option<Stamp>) -> Option<Arc<Schema>> {
        // A replica's schema moves with its primary's frames: it keeps the
        // pool's path, as before.
        if self.replica.is_some() {
            return None;
        }
        let conn = self.idle_conn()?;
        let version = sqlite::without_waiting(&conn, || mirror::schema_version(&conn))
            .ok()?
            .ok()?;
        self.still_at(version, now)
    }

    /// The schema last read, if it has `version`, marked checked at `now`.
    fn still_at(&self, version: i64, now: Option<Stamp>) -> Option<Arc<Schema>> {
        let mut checked = self.checked.lock().expect("schema lock");
        let schema = checked
            .as_ref()
            .filter(|(_, schema)| schema.version == version)?
            .1
            .clone();
        *checked = Some((now, schema.clone()));
        Some(schema)
    }

    /// The current schema; refreshes the catalog's mirror first if the file's
    /// schema changed since it was taken (blocking).
    pub fn schema(&self, catalog: &Pooled) -> Result<Arc<Schema>> {
        // The stamp first: a change after it only makes the stamp older than the schema.
        let stamp = self.stamp();
        let tenant = self.conn()?;
        let version = mirror::schema_version(&tenant)?;
        if let Some(schema) = self.still_at(version, stamp) {
            return Ok(schema);
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
        *self.checked.lock().expect("schema lock") = Some((stamp, schema.clone()));
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalog::DataDir;
    use crate::tenant::{TenantStore, create_file};

    /// A file written within the last second has no trusted stamp: its
    /// schema is still known without the pool while its version stands, and
    /// not once a schema change moves it.
    #[test]
    fn a_database_under_writes_keeps_its_schema_until_its_version_moves() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let catalog = crate::catalog::Catalog::open(&data).unwrap();
        let conn = catalog.conn().unwrap();
        let name = crate::names::SpaceName::parse("s").unwrap();
        let space = crate::catalog::spaces::create(&conn, &name, "root", false).unwrap();
        let row = crate::catalog::databases::register(&conn, space.id, "d").unwrap();
        create_file(&data, "s", "d").unwrap();
        let store = TenantStore::new(data, 10, Duration::from_secs(60), 0);
        let db = store.open("s", "d", row.id, None).unwrap();
        let (writer, _) = db.pool.unpooled().unwrap();
        sqlite::execute_batch(&writer, "create table t (x)").unwrap();
        let schema = db.schema(&conn).unwrap();
        assert!(schema.table("t").is_some());
        sqlite::execute_batch(&writer, "insert into t values (1)").unwrap();
        assert!(db.stamp().is_none(), "just written: no trusted stamp");
        let again = db.schema_if_unchanged(None).expect("the version stands");
        assert!(Arc::ptr_eq(&schema, &again));
        sqlite::execute_batch(&writer, "create table u (y)").unwrap();
        assert!(db.schema_if_unchanged(None).is_none(), "the version moved");
        assert!(db.schema(&conn).unwrap().table("u").is_some());
        // No idle reader to ask: the caller goes to the pool.
        let held: Vec<_> = (0..64).map_while(|_| db.idle_conn()).collect();
        assert!(db.schema_if_unchanged(None).is_none());
        drop(held);
    }
}
