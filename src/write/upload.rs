//! An uploaded file's records written to a table, inside the writer's one
//! transaction: a new table takes its column types from the first
//! [`SAMPLE_ROWS`] records (integer, float, else text; later values that do
//! not fit are stored as they are, as text, which SQLite allows), or the
//! records go into an existing table, appended or upserted. Records are
//! written in batches, each in a savepoint: a batch that fails is written
//! again row by row, and the rows that still fail are reported with their
//! line, not written. Memory stays bounded: one batch, and the sample.

use libsql::Connection;
use serde_json::{Map, Value as Json};

use super::live::{self, LiveTable};
use super::records::{Bad, Record};
use super::rows::{self, InsertOptions};
use super::schema::{self, ColumnDef, TableDef};
use super::{WriteError, WriteResult, exec};

/// Records that decide a new table's column types.
pub const SAMPLE_ROWS: usize = 1000;
/// Bad rows listed in a report (all are counted).
pub const MAX_BAD_LISTED: usize = 100;
/// The most values one batch binds.
const BATCH_VALUES: usize = 20_000;
/// The most rows of one batch.
const BATCH_ROWS: usize = 500;

/// Where the records go.
#[derive(Clone, Debug)]
pub enum Target {
    /// A new table keyed by `pk` (`None`: rowid).
    New { table: String, pk: Option<String> },
    /// An existing table; `upsert` replaces rows with the same key.
    Existing { table: String, upsert: bool },
}

/// What an upload did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub table: String,
    /// The new table's columns and their types (empty for an existing table).
    pub columns: Vec<(String, &'static str)>,
    /// The schema of a new table.
    pub schema: Option<String>,
    pub written: u64,
    pub bad_count: u64,
    /// The first [`MAX_BAD_LISTED`] bad rows.
    pub bad: Vec<Bad>,
}

impl Report {
    fn bad_row(&mut self, bad: Bad) {
        self.bad_count += 1;
        if self.bad.len() < MAX_BAD_LISTED {
            self.bad.push(bad);
        }
    }
}

/// The type a value suggests: 0 none (null or empty), 1 integer, 2 float, 3 text.
fn rank(value: &Json) -> u8 {
    match value {
        Json::Null => 0,
        Json::Bool(_) => 1,
        Json::Number(n) if n.is_i64() => 1,
        Json::Number(_) => 2,
        Json::String(s) if s.is_empty() => 0,
        Json::String(s) if s.trim() == s && s.parse::<i64>().is_ok() => 1,
        Json::String(s) if s.trim() == s && s.parse::<f64>().is_ok_and(f64::is_finite) => 2,
        _ => 3,
    }
}

/// Each column of `sample` (in order of first appearance) with its type.
pub fn infer(sample: &[(u64, Map<String, Json>)]) -> Vec<(String, &'static str)> {
    let mut columns: Vec<(String, u8)> = Vec::new();
    for (_, row) in sample {
        for (key, value) in row {
            let r = rank(value);
            match columns.iter_mut().find(|(name, _)| name == key) {
                Some((_, kind)) => *kind = (*kind).max(r),
                None => columns.push((key.clone(), r)),
            }
        }
    }
    columns
        .into_iter()
        .map(|(name, kind)| {
            let t = match kind {
                1 => "integer",
                2 => "float",
                _ => "text",
            };
            (name, t)
        })
        .collect()
}

/// Whether a declared type stores text as it is (SQLite's text and blob
/// affinities); elsewhere an empty CSV value is stored as null.
fn keeps_empty(decl_type: &str) -> bool {
    let t = decl_type.to_ascii_uppercase();
    !t.contains("INT")
        && (t.is_empty()
            || ["CHAR", "CLOB", "TEXT", "BLOB"]
                .iter()
                .any(|k| t.contains(k)))
}

/// Writes `records` to `target` (inside the caller's transaction).
pub fn import(
    conn: &Connection,
    records: impl Iterator<Item = Record>,
    target: &Target,
) -> WriteResult<Report> {
    let mut records = records.peekable();
    let mut report = Report::default();
    let mut sample = Vec::new();
    let (live, upsert) = match target {
        Target::New { table, pk } => {
            for record in records.by_ref().take(SAMPLE_ROWS) {
                match record {
                    Ok(row) => sample.push(row),
                    Err(bad) => report.bad_row(bad),
                }
            }
            report.columns = infer(&sample);
            let schema = create(conn, table, &report.columns, pk.as_deref())?;
            report.schema = Some(schema);
            (rows::require_table(conn, table)?, false)
        }
        Target::Existing { table, upsert } => (rows::require_table(conn, table)?, *upsert),
    };
    report.table = live.name.clone();
    let mut batch = Batch::new(&live, upsert);
    for record in sample.into_iter().map(Ok).chain(records) {
        let (line, row) = match record {
            Ok(found) => found,
            Err(bad) => {
                report.bad_row(bad);
                continue;
            }
        };
        match batch.prepare(row) {
            Ok(row) => batch.push(line, row),
            Err(reason) => report.bad_row(Bad { line, reason }),
        }
        if batch.full() {
            batch.flush(conn, &mut report)?;
        }
    }
    batch.flush(conn, &mut report)?;
    Ok(report)
}

/// Creates the new table; returns its schema.
fn create(
    conn: &Connection,
    table: &str,
    columns: &[(String, &'static str)],
    pk: Option<&str>,
) -> WriteResult<String> {
    if columns.is_empty() {
        return Err(WriteError::invalid(
            "The upload has no rows to take columns from",
        ));
    }
    if live::table_sql(conn, table)?.is_some() {
        return Err(WriteError::invalid(format!("Table {table} already exists")));
    }
    if let Some(pk) = pk
        && !columns.iter().any(|(name, _)| name == pk)
    {
        return Err(WriteError::invalid(format!(
            "The primary key {pk} is not a column of the upload"
        )));
    }
    let def = TableDef {
        name: table.to_owned(),
        columns: columns
            .iter()
            .map(|(name, kind)| ColumnDef {
                name: name.clone(),
                sql_type: schema::api_type(kind).unwrap_or("TEXT").to_owned(),
                not_null: false,
                default: None,
            })
            .collect(),
        pk: pk.map(|p| vec![p.to_owned()]).unwrap_or_default(),
        foreign_keys: Vec::new(),
    };
    let sql = schema::create_sql(&def);
    exec(conn, &sql, Vec::new())?;
    Ok(sql)
}

/// Rows waiting to be written, with their lines.
struct Batch {
    table: String,
    /// Each column of the table and whether it keeps empty values.
    columns: Vec<(String, bool)>,
    keys: Vec<String>,
    upsert: bool,
    lines: Vec<u64>,
    rows: Vec<Map<String, Json>>,
    limit: usize,
}

impl Batch {
    fn new(live: &LiveTable, upsert: bool) -> Batch {
        let columns: Vec<(String, bool)> = live
            .columns
            .iter()
            .map(|c| (c.name.clone(), keeps_empty(&c.decl_type)))
            .collect();
        let limit = (BATCH_VALUES / columns.len().max(1)).clamp(1, BATCH_ROWS);
        Batch {
            table: live.name.clone(),
            columns,
            keys: live.key_columns(),
            upsert,
            lines: Vec::new(),
            rows: Vec::new(),
            limit,
        }
    }

    /// A record's values for the table: empty strings become null where the
    /// column is numeric; a column the table lacks refuses the row.
    fn prepare(&self, mut row: Map<String, Json>) -> Result<Map<String, Json>, String> {
        let unknown: Vec<&str> = row
            .keys()
            .filter(|k| {
                let rowid = self.keys == ["rowid"] && *k == "rowid";
                !(rowid || self.columns.iter().any(|(c, _)| c == *k))
            })
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(format!("The table has no column {}", unknown.join(", ")));
        }
        for (name, keeps) in &self.columns {
            if !keeps
                && let Some(value) = row.get_mut(name)
                && value.as_str() == Some("")
            {
                *value = Json::Null;
            }
        }
        if self.upsert {
            for key in &self.keys {
                if row.get(key).is_none_or(Json::is_null) {
                    return Err(format!("No value for the primary key {key}"));
                }
            }
        }
        Ok(row)
    }

    fn push(&mut self, line: u64, row: Map<String, Json>) {
        self.lines.push(line);
        self.rows.push(row);
    }

    fn full(&self) -> bool {
        self.rows.len() >= self.limit
    }

    fn options(&self) -> InsertOptions {
        InsertOptions {
            upsert: self.upsert,
            ..InsertOptions::default()
        }
    }

    /// Writes the rows in one savepoint; when that fails, each row in its own.
    fn flush(&mut self, conn: &Connection, report: &mut Report) -> WriteResult<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let lines = std::mem::take(&mut self.lines);
        match in_savepoint(conn, || {
            rows::insert(conn, &self.table, &rows, self.options())
        }) {
            Ok(()) => report.written += rows.len() as u64,
            Err(WriteError::Invalid(_)) => {
                for (line, row) in lines.into_iter().zip(rows) {
                    let one = std::slice::from_ref(&row);
                    match in_savepoint(conn, || {
                        rows::insert(conn, &self.table, one, self.options())
                    }) {
                        Ok(()) => report.written += 1,
                        Err(WriteError::Invalid(reasons)) => report.bad_row(Bad {
                            line,
                            reason: reasons.join("; "),
                        }),
                        Err(other) => return Err(other),
                    }
                }
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }
}

/// Runs `f` in a savepoint, undone when it fails.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce() -> WriteResult<T>) -> WriteResult<()> {
    exec(conn, "savepoint upload", Vec::new())?;
    match f() {
        Ok(_) => {
            exec(conn, "release upload", Vec::new())?;
            Ok(())
        }
        Err(err) => {
            exec(conn, "rollback to upload", Vec::new())?;
            exec(conn, "release upload", Vec::new())?;
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_come_from_the_sample() {
        let rows: Vec<(u64, Map<String, Json>)> = [
            json!({"a": "1", "b": "1.5", "c": "x", "d": ""}),
            json!({"a": 2, "b": "2", "c": "3", "d": null, "e": true}),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v.as_object().unwrap().clone()))
        .collect();
        assert_eq!(
            infer(&rows),
            vec![
                ("a".into(), "integer"),
                ("b".into(), "float"),
                ("c".into(), "text"),
                ("d".into(), "text"),
                ("e".into(), "integer"),
            ]
        );
        assert!(keeps_empty("TEXT") && keeps_empty("") && !keeps_empty("INTEGER"));
        assert!(!keeps_empty("REAL") && !keeps_empty("FLOAT"));
    }
}
