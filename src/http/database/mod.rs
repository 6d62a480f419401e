//! A database of a space: `/{space}/{db}.json`, and the description of each
//! visible database that the space's root also uses.

pub(crate) mod address;
pub(crate) mod download;
pub(crate) mod foreign_keys;
pub(crate) mod schema;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use serde_json::{Value, json};

use crate::actor::Actor;
use crate::catalog::databases::{self, DatabaseRow};
use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::http::json_response;
use crate::http::routes::Format;
use crate::http::tenant::SpaceRequest;
use crate::http::ui::pages;
use crate::names::{DbName, quote_ident};
use crate::permissions::Resource;
use crate::read::exec::{self, ReadError, Statement};
use crate::sqlite::{self, ValueRef};
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
    /// Row count (tables only): at most [`COUNT_LIMIT`] + 1; none when
    /// counting ran out of time or was not asked for.
    pub count: Option<u64>,
    /// The table has more rows than [`COUNT_LIMIT`] (`count` is that + 1).
    pub count_truncated: bool,
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
    replica_frame(req, db).await?;
    if let Some(handle) = app.tenants.open_already(&space, &name, hash.as_deref())
        && let Some(schema) = handle.schema_if_unchanged(taken)
    {
        handle.set_limits(&req.space.settings);
        handle.gate.fit(&req.space.settings);
        return Ok((handle, schema));
    }
    let catalog = app.catalog.clone();
    let opened = sqlite::blocking(move || {
        let handle = app.tenants.open(&space, &name, id, hash.as_deref())?;
        let schema = handle.schema(&catalog.conn()?)?;
        Ok::<_, anyhow::Error>((handle, schema))
    })
    .await?;
    opened.0.set_limits(&req.space.settings);
    // The space's limits as its settings say now (they may have changed).
    opened.0.gate.fit(&req.space.settings);
    Ok(opened)
}

/// On a replicated node, brings the database's replica to where this
/// request may read it (see [`crate::replica::point`]) and gives its frame;
/// `None` on a local data folder.
pub async fn replica_frame(req: &SpaceRequest, db: &DatabaseRow) -> AppResult<Option<u64>> {
    let Some(replication) = req.app.data.replication() else {
        return Ok(None);
    };
    let min = crate::replica::point::min_frame(req.min_frame.as_deref())?;
    let app = req.app.clone();
    let (space, name, id) = (req.space.space.name.clone(), db.name.clone(), db.id);
    let handle = match app.tenants.open_already(&space, &name, None) {
        Some(handle) => handle,
        None => sqlite::blocking(move || app.tenants.open(&space, &name, id, None)).await?,
    };
    let Some(replica) = &handle.replica else {
        return Ok(None);
    };
    crate::replica::point::reach(replica, replication.max_staleness, min).await?;
    Ok(Some(replica.frame()))
}

/// Tables of `db` that `actor` may view.
pub async fn viewable_tables(
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

/// Datasette counts at most this many rows of a table, then says "more".
pub const COUNT_LIMIT: u64 = 10_000;

/// How a listing counts rows, as Datasette's pages do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Counts {
    /// The database page: up to 100 ms per table.
    Database,
    /// The space's index: up to 10 ms per table, and none for a database of
    /// 100 MB or more.
    Index,
    /// No counts (pages that only list tables).
    Skip,
}

impl Counts {
    fn time_limit(self, size: u64) -> Option<Duration> {
        match self {
            Counts::Database => Some(Duration::from_millis(100)),
            Counts::Index if size < 100 * 1024 * 1024 => Some(Duration::from_millis(10)),
            Counts::Index | Counts::Skip => None,
        }
    }
}

/// Describes one database: the tables the actor may view, with row counts.
async fn describe(
    req: &SpaceRequest,
    db: &DatabaseRow,
    counting: Counts,
) -> AppResult<DatabaseView> {
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
    let shown: Vec<TableSchema> = schema
        .tables
        .iter()
        .filter(|t| visible.contains(&t.name))
        .cloned()
        .collect();
    let stored = stored_counts(req, db).await?;
    let size = std::fs::metadata(req.app.data.database_file(&req.space.space.name, &db.name))
        .map(|m| m.len())
        .unwrap_or(0);
    let counts = table_counts(&handle, &shown, counting, stored, size).await?;
    let listing = Listing {
        incoming: incoming_keys(&schema.tables),
        visible: &visible,
        public: &public,
        capped: db.immutable_hash.is_none(),
        counts,
    };
    // A table gone from the file since the schema was read is not listed.
    let tables = shown
        .into_iter()
        .filter(|t| {
            t.kind != "table" || counting == Counts::Skip || listing.counts.contains_key(&t.name)
        })
        .map(|t| listing.table_view(t))
        .collect();
    Ok(DatabaseView {
        name: db.name.clone(),
        private: !public_db,
        size,
        tables,
    })
}

/// An immutable database's row counts, taken when it was imported; `None`
/// for a database that may change.
async fn stored_counts(
    req: &SpaceRequest,
    db: &DatabaseRow,
) -> AppResult<Option<Vec<(String, i64)>>> {
    if db.immutable_hash.is_none() {
        return Ok(None);
    }
    let id = db.id;
    let stored = req
        .app
        .catalog
        .call(move |conn| databases::row_counts(conn, id))
        .await?;
    Ok(Some(stored))
}

/// Row counts of the shown tables as `counting` asks: none, the stored
/// ones, or counted now under its time limit.
async fn table_counts(
    handle: &Arc<TenantDb>,
    shown: &[TableSchema],
    counting: Counts,
    stored: Option<Vec<(String, i64)>>,
    size: u64,
) -> AppResult<BTreeMap<String, Option<u64>>> {
    Ok(match stored {
        _ if counting == Counts::Skip => BTreeMap::new(),
        // An immutable database's counts were taken when it was imported.
        Some(stored) => stored
            .into_iter()
            .map(|(name, n)| (name, Some(n.max(0) as u64)))
            .collect(),
        None => {
            let names: Vec<String> = shown
                .iter()
                .filter(|t| t.kind == "table")
                .map(|t| t.name.clone())
                .collect();
            count_rows(handle, &names, counting.time_limit(size)).await?
        }
    })
}

/// What describing each table needs beyond its own schema.
struct Listing<'a> {
    /// Foreign keys pointing at each table, from [`incoming_keys`].
    incoming: BTreeMap<String, Vec<(String, String, String)>>,
    /// Tables the actor may view.
    visible: &'a HashSet<String>,
    /// Tables anonymous visitors may view.
    public: &'a HashSet<String>,
    /// Counts stop at [`COUNT_LIMIT`] + 1 (not so for stored counts).
    capped: bool,
    counts: BTreeMap<String, Option<u64>>,
}

impl Listing<'_> {
    /// One table as the actor may see it.
    fn table_view(&self, t: TableSchema) -> TableView {
        let count = self.counts.get(&t.name).copied().flatten();
        TableView {
            count,
            count_truncated: self.capped && count == Some(COUNT_LIMIT + 1),
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
            // Keys from tables the actor may not view would name those tables.
            incoming: sorted_keys(
                self.incoming
                    .get(&t.name)
                    .into_iter()
                    .flatten()
                    .filter(|(from, _, _)| self.visible.contains(from))
                    .cloned()
                    .collect(),
            ),
            private: !self.public.contains(&t.name),
            name: t.name,
            kind: t.kind,
            hidden: t.hidden,
            fts_table: t.fts_table.filter(|fts| self.visible.contains(fts)),
        }
    }
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

/// Rows of each table, as Datasette's `table_counts`: at most
/// [`COUNT_LIMIT`] + 1, each count under `limit` (none past it, or with no
/// limit given). A table that vanished from the file since the schema was
/// read (dropped meanwhile) has no entry.
async fn count_rows(
    handle: &Arc<TenantDb>,
    tables: &[String],
    limit: Option<Duration>,
) -> AppResult<BTreeMap<String, Option<u64>>> {
    let mut counts = BTreeMap::new();
    for table in tables {
        let Some(limit) = limit else {
            counts.insert(table.clone(), None);
            continue;
        };
        let sql = format!(
            "select count(*) from (select * from {} limit {})",
            quote_ident(table),
            COUNT_LIMIT + 1
        );
        match exec::run(handle.clone(), Statement::internal(sql, vec![], limit)).await {
            Ok(result) => {
                let count = match result.rows.first().and_then(|row| row.first()) {
                    Some(ValueRef::Integer(n)) => Some(n.max(0) as u64),
                    _ => None,
                };
                counts.insert(table.clone(), count);
            }
            Err(ReadError::Sql(message)) if message.starts_with("no such table") => {}
            Err(ReadError::Internal(err)) => return Err(err.into()),
            // Out of time, or a table SQLite cannot count: no count, as Datasette.
            Err(_) => {
                counts.insert(table.clone(), None);
            }
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

/// Every database the actor may view, described, with rows counted as
/// `counting` says.
pub async fn visible_databases(
    req: &SpaceRequest,
    counting: Counts,
) -> AppResult<Vec<DatabaseView>> {
    let rows = req.app.databases(req.space_id()).await?;
    let names: HashSet<String> = visible_database_names(req).await?.into_iter().collect();
    let mut views = Vec::new();
    for row in rows.iter().filter(|r| names.contains(&r.name)) {
        views.push(describe(req, row, counting).await?);
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
    if req.args().has("sql") {
        return crate::http::query::show(req, name, format).await;
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
    let view = describe(req, &row, Counts::Database).await?;
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
                "count_truncated": t.count_truncated,
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
