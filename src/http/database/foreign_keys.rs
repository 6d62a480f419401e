//! The helpers Datasette's create- and alter-table forms call:
//! `/{db}/-/foreign-key-targets` (the columns a new foreign key may point at:
//! each table's single primary key) and
//! `/{db}/{table}/-/foreign-key-suggestions` (per column, the compatible
//! targets, and those that hold every value of the column's first 500 rows).
//! Both list only tables the actor may view.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::response::Response;
use libsql::Value;
use serde_json::{Value as Json, json};

use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::http::database::{open_synced, open_viewable_table, require_database, viewable_tables};
use crate::http::json_response;
use crate::http::query::read_error;
use crate::http::tenant::SpaceRequest;
use crate::names::quote_ident;
use crate::permissions::Resource;
use crate::read::exec::{self, ReadError, Statement};
use crate::read::labels::Key;
use crate::tenant::TenantDb;

/// Rows of the table whose values are sampled.
const ROW_LIMIT: usize = 500;
/// Each sampling query's time, and all of them together.
const QUERY_LIMIT: Duration = Duration::from_millis(50);
const TOTAL_LIMIT: Duration = Duration::from_millis(200);

/// SQLite's affinity of a declared type, as Datasette names it.
fn affinity(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|k| t.contains(k)) {
        "text"
    } else if t.contains("BLOB") || t.is_empty() {
        "blob"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|k| t.contains(k)) {
        "real"
    } else {
        "numeric"
    }
}

/// A column a foreign key may point at: a table's only primary key.
struct Target {
    table: String,
    column: String,
    declared: String,
}

/// Tables (not hidden, not `exclude`d) with exactly one primary key column,
/// by name, among those the actor may view.
fn targets_of<'a>(
    tables: impl Iterator<Item = &'a TableSchema>,
    visible: &HashSet<String>,
    keep_name: impl Fn(&str) -> bool,
) -> Vec<Target> {
    let mut targets: Vec<Target> = tables
        .filter(|t| t.kind == "table" && !t.hidden && keep_name(&t.name))
        .filter(|t| visible.contains(&t.name))
        .filter_map(|t| {
            let pks: Vec<_> = t.columns.iter().filter(|c| c.pk > 0 && !c.hidden).collect();
            match pks.as_slice() {
                [pk] => Some(Target {
                    table: t.name.clone(),
                    column: pk.name.clone(),
                    declared: pk.decl_type.clone(),
                }),
                _ => None,
            }
        })
        .collect();
    targets.sort_by(|a, b| a.table.cmp(&b.table));
    targets
}

/// `/{db}/-/foreign-key-targets[?table=]`, for those who may create a table
/// in the database or alter `table`.
pub async fn targets(req: &SpaceRequest, db: &str) -> AppResult<Response> {
    let database = require_database(req, db).await?;
    let (_, schema) = open_synced(req, &database).await?;
    let allowed = |action: &'static str, resource: Resource| {
        req.app
            .allowed(req.space_id(), &req.actor, action, resource)
    };
    let mut may = allowed("create-table", Resource::Database(database.name.clone())).await?;
    let args = req.args();
    if let Some(table) = args
        .get("table")
        .filter(|t| !may && schema.table(t).is_some())
    {
        may = allowed(
            "alter-table",
            Resource::Table(database.name.clone(), table.into()),
        )
        .await?;
    }
    if !may {
        return Err(AppError::Forbidden(
            "Permission denied: need create-table".into(),
        ));
    }
    let visible = viewable_tables(req, &req.actor, &database.name).await?;
    // As Datasette's `not like 'sqlite_%'`: any case, `_` any one character.
    let not_internal = |name: &str| {
        !(name.len() > 6
            && name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("sqlite")))
    };
    let targets: Vec<Json> = targets_of(schema.tables.iter(), &visible, not_internal)
        .iter()
        .map(|t| json!({"fk_table": t.table, "fk_column": t.column, "type": affinity(&t.declared)}))
        .collect();
    Ok(json_response(json!({
        "ok": true,
        "database": database.name,
        "targets": targets,
    })))
}

/// `/{db}/{table}/-/foreign-key-suggestions`, for those who may view and alter the table.
pub async fn suggestions(req: &SpaceRequest, db: &str, table: &str) -> AppResult<Response> {
    let opened = open_viewable_table(req, db, table).await?;
    let source = opened.table();
    if source.kind != "table" {
        return Err(AppError::BadRequest(
            "Cannot suggest foreign keys for a view".into(),
        ));
    }
    let name = opened.database.name.clone();
    req.require(
        "alter-table",
        Resource::Table(name.clone(), table.to_owned()),
        "Permission denied: need alter-table",
    )
    .await?;
    let visible = viewable_tables(req, &req.actor, &name).await?;
    let others = opened.schema.tables.iter().filter(|t| t.name != table);
    let targets = targets_of(others, &visible, |n| !n.starts_with("sqlite_"));
    let mut columns: Vec<Column> = source
        .columns
        .iter()
        .filter(|c| !c.hidden)
        .map(|c| Column::new(c, source, &targets))
        .collect();
    let mut check = RowCheck {
        attempted: columns.iter().any(|c| !c.options.is_empty()),
        status: "skipped",
        sampled_rows: 0,
        checked_options: 0,
    };
    if check.attempted {
        check.status = "completed";
        match run_checks(&opened.handle, table, &mut columns, &targets, &mut check).await {
            Ok(()) => {}
            Err(ReadError::TimedOut) => check.status = "timed_out",
            Err(other) => return Err(read_error(other)),
        }
    }
    let columns: Vec<Json> = columns.iter().map(|c| c.to_json(&targets)).collect();
    Ok(json_response(json!({
        "ok": true,
        "database": name,
        "table": table,
        "row_check": {
            "attempted": check.attempted,
            "status": check.status,
            "row_limit": ROW_LIMIT,
            "sampled_rows": check.sampled_rows,
            "checked_options": check.checked_options,
        },
        "columns": columns,
    })))
}

/// What sampling the table's rows did.
struct RowCheck {
    attempted: bool,
    /// `skipped` (nothing to check), `completed` or `timed_out`.
    status: &'static str,
    sampled_rows: usize,
    checked_options: usize,
}

/// One column of the table and the targets it could point at.
struct Column {
    name: String,
    declared: String,
    affinity: &'static str,
    /// The foreign key it has now, when its target is one the actor may see.
    current: Option<(String, String)>,
    /// Indexes into the targets: compatible ones, name matches first.
    options: Vec<usize>,
    suggestions: Vec<Json>,
}

impl Column {
    fn new(
        column: &crate::catalog::mirror::ColumnSchema,
        table: &TableSchema,
        targets: &[Target],
    ) -> Column {
        let affinity = affinity(&column.decl_type);
        let mut options: Vec<usize> = (0..targets.len())
            .filter(|i| compatible(affinity, self::affinity(&targets[*i].declared)))
            .collect();
        options.sort_by_key(|i| {
            let t = &targets[*i];
            (
                name_reasons(&column.name, t).is_empty(),
                t.table.clone(),
                t.column.clone(),
            )
        });
        // As a mapping by column: the last key declared on a column counts.
        let current = table
            .foreign_keys
            .iter()
            .rev()
            .find(|fk| fk.column == column.name)
            .filter(|fk| targets.iter().any(|t| t.table == fk.other_table))
            .map(|fk| (fk.other_table.clone(), fk.other_column.clone()));
        Column {
            name: column.name.clone(),
            declared: column.decl_type.to_uppercase(),
            affinity,
            current,
            options,
            suggestions: Vec::new(),
        }
    }

    fn to_json(&self, targets: &[Target]) -> Json {
        let options: Vec<Json> = self
            .options
            .iter()
            .map(|i| &targets[*i])
            .map(|t| json!({"fk_table": t.table, "fk_column": t.column, "type": t.declared.to_uppercase()}))
            .collect();
        json!({
            "column": self.name,
            "type": self.declared,
            "affinity": self.affinity,
            "current": self.current.as_ref().map(|(t, c)| json!({"fk_table": t, "fk_column": c})),
            "suggestions": self.suggestions,
            "options": options,
        })
    }
}

/// Whether a column of one affinity may point at a key of another.
fn compatible(source: &str, target: &str) -> bool {
    let numeric = |a: &str| matches!(a, "integer" | "real" | "numeric");
    source == target
        || (source == "numeric" && numeric(target))
        || (target == "numeric" && numeric(source))
}

/// Datasette's singular of a table name: `cities` → `city`, `books` → `book`.
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies").filter(|s| !s.is_empty()) {
        format!("{stem}y")
    } else if let Some(stem) = name.strip_suffix('s').filter(|s| !s.is_empty()) {
        stem.to_owned()
    } else {
        name.to_owned()
    }
}

/// `["name_match"]` when the column is named after the target (`author_id` → `authors.id`).
fn name_reasons(source: &str, target: &Target) -> Vec<&'static str> {
    let table = target.table.to_lowercase();
    let column = target.column.to_lowercase();
    let single = singular(&table);
    let names = [format!("{table}_{column}"), format!("{single}_{column}")];
    let source = source.to_lowercase();
    if names.contains(&source) {
        vec!["name_match"]
    } else {
        Vec::new()
    }
}

/// Samples the first rows of the table, then checks, option by option,
/// whether every distinct sampled value of a column is a key of the target.
async fn run_checks(
    handle: &std::sync::Arc<TenantDb>,
    table: &str,
    columns: &mut [Column],
    targets: &[Target],
    check: &mut RowCheck,
) -> Result<(), ReadError> {
    let sampled: Vec<String> = columns
        .iter()
        .filter(|c| !c.options.is_empty())
        .map(|c| c.name.clone())
        .collect();
    let quoted: Vec<String> = sampled.iter().map(|c| quote_ident(c)).collect();
    let sql = format!(
        "select {} from {} limit {ROW_LIMIT}",
        quoted.join(", "),
        quote_ident(table)
    );
    let rows = exec::run(
        handle.clone(),
        Statement::internal(sql, vec![], QUERY_LIMIT),
    )
    .await?;
    check.sampled_rows = rows.rows.len();
    let deadline = Instant::now() + TOTAL_LIMIT;
    for (index, name) in sampled.iter().enumerate() {
        let values = distinct(rows.rows.iter().map(|r| r.value(index)));
        let Some(column) = columns.iter_mut().find(|c| &c.name == name) else {
            continue;
        };
        if values.is_empty() {
            continue;
        }
        for option in column.options.clone() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::TimedOut);
            }
            let target = &targets[option];
            if all_exist(handle, target, &values, left.min(QUERY_LIMIT)).await? {
                let mut reasons = vec!["type_match", "sample_values_exist"];
                reasons.extend(name_reasons(&column.name, target));
                column.suggestions.push(json!({
                    "fk_table": target.table,
                    "fk_column": target.column,
                    "confidence": "sampled",
                    "sampled_values": values.len(),
                    "reasons": reasons,
                }));
            }
            check.checked_options += 1;
        }
    }
    Ok(())
}

/// The distinct values that are not null, in order of first appearance.
fn distinct(values: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut seen = HashSet::new();
    values
        .filter(|v| Key::of(v).is_some_and(|k| seen.insert(k)))
        .collect()
}

/// Whether every value is a key of the target.
async fn all_exist(
    handle: &std::sync::Arc<TenantDb>,
    target: &Target,
    values: &[Value],
    limit: Duration,
) -> Result<bool, ReadError> {
    let params: Vec<(String, Value)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!(":v{i}"), v.clone()))
        .collect();
    let marks: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
    let column = quote_ident(&target.column);
    let sql = format!(
        "select {column} from {} where {column} in ({})",
        quote_ident(&target.table),
        marks.join(", ")
    );
    let found = exec::run(handle.clone(), Statement::internal(sql, params, limit)).await?;
    let found: HashSet<Key> = found
        .rows
        .iter()
        .filter_map(|r| Key::of(&r.value(0)))
        .collect();
    Ok(values
        .iter()
        .all(|v| Key::of(v).is_some_and(|k| found.contains(&k))))
}
