//! A database of a space: `/{space}/{db}.json`, and the description of each
//! visible database that the space's root also uses.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::routes::Format;
use super::tenant::SpaceRequest;
use super::{json_response, pages};
use crate::actor::Actor;
use crate::catalog::databases::{self, DatabaseRow};
use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::names::{DbName, quote_ident};
use crate::permissions::Resource;
use crate::sqlite;
use crate::tenant::{Schema, TenantDb};

/// One table or view as the actor may see it.
#[derive(Clone, Debug)]
pub struct TableView {
    pub name: String,
    pub kind: &'static str,
    pub hidden: bool,
    pub fts_table: Option<String>,
    /// Visible columns, in table order.
    pub columns: Vec<String>,
    /// Every column, hidden ones too.
    pub all_columns: Vec<String>,
    pub primary_keys: Vec<String>,
    /// Row count (tables only).
    pub count: Option<u64>,
    pub incoming: Vec<Value>,
    pub outgoing: Vec<Value>,
    /// True when anonymous visitors may not see it.
    pub private: bool,
}

/// One database as the actor may see it.
#[derive(Clone, Debug)]
pub struct DatabaseView {
    pub name: String,
    pub private: bool,
    pub size: u64,
    pub tables: Vec<TableView>,
}

/// Opens the database and its current schema (the catalog's mirror brought
/// up to date). An open database whose files have not changed since its
/// schema was read needs no trip to the blocking pool.
pub async fn open_synced(
    req: &SpaceRequest,
    db: &DatabaseRow,
) -> AppResult<(Arc<TenantDb>, Arc<Schema>)> {
    let app = req.app.clone();
    let (space, name, id) = (req.space.space.name.clone(), db.name.clone(), db.id);
    let hash = db.immutable_hash.clone();
    let taken = req
        .stamp
        .get()
        .filter(|(db, _)| *db == name)
        .map(|(_, s)| *s);
    if let Some(handle) = app.tenants.open_already(&space, &name, hash.as_deref())
        && let Some(schema) = handle.schema_if_unchanged(taken)
    {
        handle.gate.fit(&req.space.settings);
        return Ok((handle, schema));
    }
    let catalog = app.catalog.clone();
    let opened = sqlite::blocking(move || {
        let handle = app.tenants.open(&space, &name, id, hash.as_deref())?;
        let schema = handle.schema(&*catalog.conn()?)?;
        Ok::<_, anyhow::Error>((handle, schema))
    })
    .await?;
    // The space's limits as its settings say now (they may have changed).
    opened.0.gate.fit(&req.space.settings);
    Ok(opened)
}

/// Tables of `db` that `actor` may view.
async fn viewable_tables(
    req: &SpaceRequest,
    actor: &Actor,
    db: &str,
) -> AppResult<HashSet<String>> {
    Ok(req
        .app
        .allowed_resources(req.space_id(), actor, "view-table")
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Resource::Table(d, t) if d == db => Some(t),
            _ => None,
        })
        .collect())
}

/// Describes one database: the tables the actor may view, with row counts.
async fn describe(req: &SpaceRequest, db: &DatabaseRow) -> AppResult<DatabaseView> {
    let (handle, schema) = open_synced(req, db).await?;
    let visible = viewable_tables(req, &req.actor, &db.name).await?;
    let public = viewable_tables(req, &Actor::anonymous(), &db.name).await?;
    let public_db = req
        .app
        .allowed(
            req.space_id(),
            &Actor::anonymous(),
            "view-database",
            Resource::Database(db.name.clone()),
        )
        .await?;
    let incoming = incoming_keys(&schema.tables);
    let shown: Vec<TableSchema> = schema
        .tables
        .iter()
        .filter(|t| visible.contains(&t.name))
        .cloned()
        .collect();
    let stored = if db.immutable_hash.is_some() {
        let id = db.id;
        Some(
            req.app
                .catalog
                .call(move |conn| databases::row_counts(conn, id))
                .await?,
        )
    } else {
        None
    };
    let counts = if let Some(stored) = stored {
        stored
            .into_iter()
            .map(|(name, n)| (name, n.max(0) as u64))
            .collect()
    } else {
        let names: Vec<String> = shown
            .iter()
            .filter(|t| t.kind == "table")
            .map(|t| t.name.clone())
            .collect();
        sqlite::blocking(move || count_rows(&handle, &names)).await?
    };
    let tables = shown
        .into_iter()
        .map(|t| TableView {
            count: counts.get(&t.name).copied(),
            columns: t
                .columns
                .iter()
                .filter(|c| !c.hidden)
                .map(|c| c.name.clone())
                .collect(),
            all_columns: t.columns.iter().map(|c| c.name.clone()).collect(),
            primary_keys: primary_keys(&t),
            outgoing: sorted_keys(
                t.foreign_keys
                    .iter()
                    .map(|fk| {
                        (
                            fk.other_table.clone(),
                            fk.column.clone(),
                            fk.other_column.clone(),
                        )
                    })
                    .collect(),
            ),
            incoming: sorted_keys(incoming.get(&t.name).cloned().unwrap_or_default()),
            private: !public.contains(&t.name),
            name: t.name,
            kind: t.kind,
            hidden: t.hidden,
            fts_table: t.fts_table,
        })
        .collect();
    let size = std::fs::metadata(req.app.data.database_file(&req.space.space.name, &db.name))
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(DatabaseView {
        name: db.name.clone(),
        private: !public_db,
        size,
        tables,
    })
}

fn primary_keys(table: &TableSchema) -> Vec<String> {
    let mut pks: Vec<_> = table.columns.iter().filter(|c| c.pk > 0).collect();
    pks.sort_by_key(|c| c.pk);
    pks.into_iter().map(|c| c.name.clone()).collect()
}

/// For each table, the foreign keys pointing at it as (other table, column, other column).
fn incoming_keys(tables: &[TableSchema]) -> BTreeMap<String, Vec<(String, String, String)>> {
    let mut incoming: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for table in tables {
        for fk in &table.foreign_keys {
            incoming.entry(fk.other_table.clone()).or_default().push((
                table.name.clone(),
                fk.other_column.clone(),
                fk.column.clone(),
            ));
        }
    }
    incoming
}

fn sorted_keys(mut keys: Vec<(String, String, String)>) -> Vec<Value> {
    keys.sort();
    keys.into_iter()
        .map(|(other_table, column, other_column)| {
            json!({"other_table": other_table, "column": column, "other_column": other_column})
        })
        .collect()
}

fn count_rows(handle: &TenantDb, tables: &[String]) -> anyhow::Result<BTreeMap<String, u64>> {
    let conn = handle.conn()?;
    let mut counts = BTreeMap::new();
    for table in tables {
        let sql = format!("select count(*) from {}", quote_ident(table));
        if let Some(row) = sqlite::query_one(&conn, &sql, ())? {
            counts.insert(table.clone(), row.get::<i64>(0)?.max(0) as u64);
        }
    }
    Ok(counts)
}

/// Names of the space's databases the actor may view.
pub async fn visible_database_names(req: &SpaceRequest) -> AppResult<Vec<String>> {
    let mut names: Vec<String> = req
        .app
        .allowed_resources(req.space_id(), &req.actor, "view-database")
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Resource::Database(name) => Some(name),
            _ => None,
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Every database the actor may view, described.
pub async fn visible_databases(req: &SpaceRequest) -> AppResult<Vec<DatabaseView>> {
    let rows = req.app.databases(req.space_id()).await?;
    let names: HashSet<String> = visible_database_names(req).await?.into_iter().collect();
    let mut views = Vec::new();
    for row in rows.iter().filter(|r| names.contains(&r.name)) {
        views.push(describe(req, row).await?);
    }
    Ok(views)
}

/// How a request named a database.
pub enum Addressed {
    /// By its plain name.
    Plain(DatabaseRow),
    /// An immutable database by `{name}-{hash}`; `current` says whether the hash is today's.
    Hashed { row: DatabaseRow, current: bool },
}

/// Finds the database a URL segment names: `name`, or `name-hash` for an immutable one.
pub async fn find_database(req: &SpaceRequest, segment: &str) -> AppResult<Option<Addressed>> {
    if DbName::parse(segment).is_err() {
        return Ok(None);
    }
    let all = req.app.databases(req.space_id()).await?;
    if let Some(row) = all.iter().find(|d| d.name == segment) {
        return Ok(Some(Addressed::Plain(row.clone())));
    }
    let Some((name, hash)) = segment.rsplit_once('-') else {
        return Ok(None);
    };
    Ok(all
        .iter()
        .find(|d| d.name == name && d.immutable_hash.is_some())
        .map(|row| Addressed::Hashed {
            current: row.immutable_hash.as_deref() == Some(hash),
            row: row.clone(),
        }))
}

/// A table or view the actor may view, with its open database and schema.
pub struct ViewableTable {
    pub database: DatabaseRow,
    pub handle: Arc<TenantDb>,
    pub schema: Arc<Schema>,
    name: String,
}

impl ViewableTable {
    /// The table's mirrored schema.
    pub fn table(&self) -> &TableSchema {
        self.schema.table(&self.name).expect("found when opened")
    }
}

/// Resolves `db`/`table` and checks `view-table`: Datasette's 404s for a
/// missing database or table, its 403 when the actor may not view it.
pub async fn open_viewable_table(
    req: &SpaceRequest,
    db: &str,
    table: &str,
) -> AppResult<ViewableTable> {
    let database = require_database(req, db).await?;
    let (handle, schema) = open_synced(req, &database).await?;
    if schema.table(table).is_none() {
        return Err(AppError::NotFound("Table not found"));
    }
    req.require(
        "view-table",
        Resource::Table(database.name.clone(), table.to_owned()),
        "You do not have permission to view this table",
    )
    .await?;
    Ok(ViewableTable {
        database,
        handle,
        schema,
        name: table.to_owned(),
    })
}

/// The catalog row of the space's database `name` (or `name-hash`), or Datasette's 404.
pub async fn require_database(req: &SpaceRequest, name: &str) -> AppResult<DatabaseRow> {
    match find_database(req, name).await? {
        Some(Addressed::Plain(row)) | Some(Addressed::Hashed { row, .. }) => Ok(row),
        None => Err(AppError::NotFound("Database not found")),
    }
}

/// `/{space}/{db}.json` and its page; with `?sql=`, the query's answer.
pub async fn show(req: &SpaceRequest, name: &str, format: Format) -> AppResult<Response> {
    if req
        .query
        .as_deref()
        .is_some_and(|q| crate::read::args::Args::parse(Some(q)).has("sql"))
    {
        return super::query::show(req, name, format).await;
    }
    if format == Format::Csv {
        return Err(AppError::NotFound("Invalid format: csv"));
    }
    let row = require_database(req, name).await?;
    req.require(
        "view-database",
        Resource::Database(row.name.clone()),
        "You do not have permission to view this database",
    )
    .await?;
    let view = describe(req, &row).await?;
    let allow_sql = req
        .app
        .allowed(
            req.space_id(),
            &req.actor,
            "execute-sql",
            Resource::Database(row.name.clone()),
        )
        .await?;
    if format == Format::Html {
        return pages::database(req, &view, allow_sql).await;
    }
    Ok(json_response(database_json(req, &view, allow_sql)))
}

fn database_json(req: &SpaceRequest, view: &DatabaseView, allow_sql: bool) -> Value {
    let mut tables: Vec<&TableView> = view.tables.iter().filter(|t| t.kind == "table").collect();
    // Datasette lists visible tables first, then hidden ones, each by name.
    tables.sort_by(|a, b| (a.hidden, &a.name).cmp(&(b.hidden, &b.name)));
    let table_json: Vec<Value> = tables
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                // Hidden columns too (an FTS table's own and rank), as Datasette lists them.
                "columns": t.all_columns,
                "primary_keys": t.primary_keys,
                "count": t.count,
                "count_truncated": false,
                "hidden": t.hidden,
                "fts_table": t.fts_table,
                "foreign_keys": {"incoming": t.incoming, "outgoing": t.outgoing},
                "private": t.private,
            })
        })
        .collect();
    let views: Vec<Value> = view
        .tables
        .iter()
        .filter(|t| t.kind == "view")
        .map(|t| json!({"name": t.name, "private": t.private}))
        .collect();
    let mut table_columns = serde_json::Map::new();
    for t in &view.tables {
        let mut columns = if t.kind == "view" {
            Vec::new()
        } else {
            t.all_columns.clone()
        };
        columns.sort();
        table_columns.insert(t.name.clone(), json!(columns));
    }
    json!({
        "ok": true,
        "database": view.name,
        "private": view.private,
        "path": format!("{}/{}", req.base, view.name),
        "size": view.size,
        "tables": table_json,
        "hidden_count": tables.iter().filter(|t| t.hidden).count(),
        "views": views,
        "queries": [],
        "queries_more": false,
        "queries_count": 0,
        "allow_execute_sql": allow_sql,
        "table_columns": table_columns,
        "metadata": {},
    })
}
