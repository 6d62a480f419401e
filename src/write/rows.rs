//! Row writes: insert (plain, ignore, replace), upsert, update and delete,
//! each run inside the writer's transaction, and the rows they return.

use libsql::{Connection, Value};
use serde_json::{Map, Value as Json};

use super::live::{self, LiveTable};
use super::schema;
use super::values::{row_values, suggest_types};
use super::{WriteError, WriteResult, exec, exec_own, python_list_repr, select};
use crate::names::quote_ident;
use crate::sqlite::Own;

/// SQLite's limit on bound parameters in one statement, with room to spare.
const MAX_PARAMS: usize = 30_000;

/// How to insert.
#[derive(Clone, Copy, Debug, Default)]
pub struct InsertOptions {
    pub ignore: bool,
    pub replace: bool,
    /// Add columns the table lacks.
    pub alter: bool,
    /// Insert, or update the row with the same primary key.
    pub upsert: bool,
    /// Read the written rows back.
    pub return_rows: bool,
}

/// Rows read back after a write.
#[derive(Clone, Debug, Default)]
pub struct Returned {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// What an insert did.
#[derive(Debug, Default)]
pub struct Inserted {
    pub changed: u64,
    pub returned: Option<Returned>,
}

/// The ordinary table `name`, or Datasette's 404 naming it.
pub fn require_table(conn: &impl Own, name: &str) -> WriteResult<LiveTable> {
    live::live_table(conn, name)?
        .ok_or_else(|| WriteError::NotFound(format!("Table not found: {name}")))
}

/// Adds the columns of `rows` that `table` lacks, with inferred types.
pub fn add_missing_columns(
    conn: &Connection,
    table: &LiveTable,
    rows: &[Map<String, Json>],
) -> WriteResult<()> {
    for (name, sql_type) in suggest_types(rows) {
        if !table.has_column(&name) {
            schema::add_column(conn, &table.name, &name, sql_type, None)?;
        }
    }
    Ok(())
}

/// Every key of `rows`, in order of first appearance: sqlite-utils writes a
/// batch with one column list, missing values as null.
fn union_columns(rows: &[Map<String, Json>]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for key in row.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    columns
}

fn values_of(rows: &[Map<String, Json>], columns: &[String]) -> WriteResult<Vec<Vec<Value>>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match row_values(row, columns) {
            Ok(values) => out.push(values),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.dedup();
        Err(WriteError::Invalid(errors))
    }
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(?, ?), (?, ?)` for `rows` rows of `width` values.
fn placeholders(rows: usize, width: usize) -> String {
    let one = format!("({})", vec!["?"; width].join(", "));
    vec![one; rows].join(", ")
}

/// Inserts or upserts `rows` into `table` (the caller validated them). On
/// a writer that keeps statements, a plain insert's check of the table and
/// its INSERT for a batch of that size are prepared once.
pub fn insert(
    writer: &impl Own,
    table: &str,
    rows: &[Map<String, Json>],
    options: InsertOptions,
) -> WriteResult<Inserted> {
    let verb = if options.ignore {
        "INSERT OR IGNORE"
    } else if options.replace {
        "INSERT OR REPLACE"
    } else {
        "INSERT"
    };
    if !(options.alter || options.upsert || options.return_rows) {
        // Its INSERT names its columns: the table need only be there (the
        // columns and keys of `live_table` are three table reads).
        if !live::is_ordinary_table(writer, table)? {
            return Err(WriteError::NotFound(format!("Table not found: {table}")));
        }
        return insert_rows(writer, table, rows, verb);
    }
    let conn = writer.conn();
    let mut live = require_table(writer, table)?;
    if options.alter {
        add_missing_columns(conn, &live, rows)?;
        live = require_table(writer, table)?;
    }
    if options.upsert {
        return upsert(writer, &live, rows, options.return_rows);
    }
    let target = quote_ident(table);
    if options.return_rows {
        // One row at a time, each with its own columns, remembering rowids.
        let keys = live.key_columns();
        let mut rowids = Vec::new();
        let mut changed = 0;
        for row in rows {
            let columns: Vec<String> = row.keys().cloned().collect();
            let values = values_of(std::slice::from_ref(row), &columns)?.remove(0);
            let sql = if columns.is_empty() {
                format!("{verb} INTO {target} DEFAULT VALUES")
            } else {
                format!(
                    "{verb} INTO {target} ({}) VALUES {}",
                    column_list(&columns),
                    placeholders(1, columns.len())
                )
            };
            let n = exec(conn, &sql, values)?;
            changed += n;
            if n > 0 {
                rowids.push(Value::Integer(conn.last_insert_rowid()));
            } else if keys.iter().all(|k| row.contains_key(k)) {
                // Ignored: return the row that was already there.
                let values = values_of(std::slice::from_ref(row), &keys)?.remove(0);
                let wheres: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{} = ?", quote_ident(k)))
                    .collect();
                let (_, found) = select(
                    conn,
                    &format!("select rowid from {target} where {}", wheres.join(" and ")),
                    values,
                )?;
                rowids.extend(found.into_iter().map(|mut r| r.remove(0)));
            }
        }
        let returned = if rowids.is_empty() {
            Returned::default()
        } else {
            let (columns, rows) = select(
                conn,
                &format!(
                    "select * from {target} where rowid in ({}) order by rowid",
                    vec!["?"; rowids.len()].join(", ")
                ),
                rowids,
            )?;
            Returned { columns, rows }
        };
        return Ok(Inserted {
            changed,
            returned: Some(returned),
        });
    }
    insert_rows(writer, table, rows, verb)
}

/// `rows` into `table` with `verb`, a statement for as many rows as
/// SQLite's parameter limit allows.
fn insert_rows(
    writer: &impl Own,
    table: &str,
    rows: &[Map<String, Json>],
    verb: &str,
) -> WriteResult<Inserted> {
    let (conn, target) = (writer.conn(), quote_ident(table));
    let columns = union_columns(rows);
    let values = values_of(rows, &columns)?;
    let mut changed = 0;
    if columns.is_empty() {
        for _ in rows {
            changed += exec(
                conn,
                &format!("{verb} INTO {target} DEFAULT VALUES"),
                vec![],
            )?;
        }
    } else {
        let per_statement = (MAX_PARAMS / columns.len()).max(1);
        for chunk in values.chunks(per_statement) {
            let sql = format!(
                "{verb} INTO {target} ({}) VALUES {}",
                column_list(&columns),
                placeholders(chunk.len(), columns.len())
            );
            changed += exec_own(writer, &sql, chunk.concat())?;
        }
    }
    Ok(Inserted {
        changed,
        returned: None,
    })
}

fn upsert(
    writer: &impl Own,
    live: &LiveTable,
    rows: &[Map<String, Json>],
    return_rows: bool,
) -> WriteResult<Inserted> {
    let conn = writer.conn();
    let target = quote_ident(&live.name);
    let pks = live.pks();
    let keys = live.key_columns();
    let columns = union_columns(rows);
    let values = values_of(rows, &columns)?;
    let others: Vec<&String> = columns.iter().filter(|c| !keys.contains(c)).collect();
    let mut changed = 0;
    if pks.is_empty() {
        // A rowid table has no conflict target: insert if new, then update.
        let key_index = columns.iter().position(|c| c == "rowid");
        for row in &values {
            changed += exec(
                conn,
                &format!(
                    "INSERT OR IGNORE INTO {target} ({}) VALUES {}",
                    column_list(&columns),
                    placeholders(1, columns.len())
                ),
                row.clone(),
            )?;
            if let (Some(k), false) = (key_index, others.is_empty()) {
                let sets: Vec<String> = others
                    .iter()
                    .map(|c| format!("{} = ?", quote_ident(c)))
                    .collect();
                let mut params: Vec<Value> = columns
                    .iter()
                    .zip(row)
                    .filter(|(c, _)| *c != "rowid")
                    .map(|(_, v)| v.clone())
                    .collect();
                params.push(row[k].clone());
                changed += exec(
                    conn,
                    &format!("UPDATE {target} SET {} WHERE rowid = ?", sets.join(", ")),
                    params,
                )?;
            }
        }
    } else {
        let action = if others.is_empty() {
            "DO NOTHING".to_owned()
        } else {
            let sets: Vec<String> = others
                .iter()
                .map(|c| format!("{0} = excluded.{0}", quote_ident(c)))
                .collect();
            format!("DO UPDATE SET {}", sets.join(", "))
        };
        let per_statement = (MAX_PARAMS / columns.len().max(1)).max(1);
        for chunk in values.chunks(per_statement) {
            let sql = format!(
                "INSERT INTO {target} ({}) VALUES {} ON CONFLICT ({}) {action}",
                column_list(&columns),
                placeholders(chunk.len(), columns.len()),
                column_list(&pks)
            );
            changed += exec_own(writer, &sql, chunk.concat())?;
        }
    }
    let returned = if return_rows && !rows.is_empty() {
        let wheres: Vec<String> = keys
            .iter()
            .map(|k| format!("{} = ?", quote_ident(k)))
            .collect();
        let clause = vec![format!("({})", wheres.join(" AND ")); rows.len()].join(" OR ");
        let params = values_of(rows, &keys)?.concat();
        let (columns, rows) = select(
            conn,
            &format!(
                "select {}* from {target} where {clause}",
                if pks.is_empty() { "rowid, " } else { "" }
            ),
            params,
        )?;
        Some(Returned { columns, rows })
    } else {
        None
    };
    Ok(Inserted { changed, returned })
}

/// `where k1 = ? and k2 = ?` for a row's key, with its parameters.
fn key_clause(live: &LiveTable, key: &[String]) -> WriteResult<(String, Vec<Value>)> {
    let keys = live.key_columns();
    if keys.len() != key.len() {
        return Err(WriteError::NotFound(format!(
            "Record not found: {}",
            python_list_repr(key)
        )));
    }
    let wheres: Vec<String> = keys
        .iter()
        .map(|k| format!("{} = ?", quote_ident(k)))
        .collect();
    Ok((
        wheres.join(" and "),
        key.iter().map(|v| Value::Text(v.clone())).collect(),
    ))
}

/// The row with primary key values `key` (as strings from the URL), or Datasette's 404.
pub fn require_row(conn: &Connection, live: &LiveTable, key: &[String]) -> WriteResult<Returned> {
    let (clause, params) = key_clause(live, key)?;
    let rowid = if live.pks().is_empty() { "rowid, " } else { "" };
    let (columns, rows) = select(
        conn,
        &format!(
            "select {rowid}* from {} where {clause}",
            quote_ident(&live.name)
        ),
        params,
    )?;
    if rows.is_empty() {
        return Err(WriteError::NotFound(format!(
            "Record not found: {}",
            python_list_repr(key)
        )));
    }
    Ok(Returned { columns, rows })
}

/// Updates one row; returns it as it now is when asked.
pub fn update(
    conn: &Connection,
    table: &str,
    key: &[String],
    changes: &Map<String, Json>,
    alter: bool,
    return_row: bool,
) -> WriteResult<(u64, Option<Returned>)> {
    let mut live = require_table(conn, table)?;
    require_row(conn, &live, key)?;
    let mut changed = 0;
    if !changes.is_empty() {
        if alter {
            add_missing_columns(conn, &live, std::slice::from_ref(changes))?;
            live = require_table(conn, table)?;
        }
        let columns: Vec<String> = changes.keys().cloned().collect();
        let mut params = values_of(std::slice::from_ref(changes), &columns)?.remove(0);
        let (clause, key_params) = key_clause(&live, key)?;
        params.extend(key_params);
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{} = ?", quote_ident(c)))
            .collect();
        changed = exec(
            conn,
            &format!(
                "update {} set {} where {clause}",
                quote_ident(table),
                sets.join(", ")
            ),
            params,
        )?;
    }
    let returned = if return_row {
        Some(require_row(conn, &live, key)?)
    } else {
        None
    };
    Ok((changed, returned))
}

/// Deletes one row.
pub fn delete(conn: &Connection, table: &str, key: &[String]) -> WriteResult<u64> {
    let live = require_table(conn, table)?;
    require_row(conn, &live, key)?;
    let (clause, params) = key_clause(&live, key)?;
    exec(
        conn,
        &format!("delete from {} where {clause}", quote_ident(table)),
        params,
    )
}
