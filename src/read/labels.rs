//! Foreign-key labels: which column of a table labels its rows (as Datasette's
//! `label_column_for_table` decides), where a foreign key really points, and
//! the labels of a set of key values (`_labels`, `_label`, column facets).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use libsql::Value;

use super::exec::{self, ReadError, Statement};
use super::table_sql::Params;
use super::values::to_text;
use crate::catalog::mirror::{ForeignKey, TableSchema};
use crate::names::quote_ident;
use crate::tenant::{Schema, TenantDb};

/// A SQLite value usable as a map key, equal where Python's `==` is:
/// `1` and `1.0` are the same key, `1` and `'1'` are not. NULL has none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Int(i64),
    Real(u64),
    Text(String),
    Blob(Vec<u8>),
}

impl Key {
    pub fn of(value: &Value) -> Option<Key> {
        match value {
            Value::Null => None,
            Value::Integer(i) => Some(Key::Int(*i)),
            Value::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(Key::Int(*f as i64)),
            Value::Real(f) => Some(Key::Real(f.to_bits())),
            Value::Text(s) => Some(Key::Text(s.clone())),
            Value::Blob(b) => Some(Key::Blob(b.clone())),
        }
    }
}

/// The labels of one column: key value → label value.
pub type Labels = HashMap<Key, Value>;

/// SQLite's affinity rules as sqlite-utils applies them: is this declared type text?
fn is_text_type(declared: &str) -> bool {
    let t = declared.trim().to_ascii_uppercase();
    t.is_empty() || (!t.contains("INT") && ["CHAR", "CLOB", "TEXT"].iter().any(|k| t.contains(k)))
}

/// Chooses the label column from a table's columns (name, declared type) and
/// the columns that carry a single-column unique index: the one unique text
/// column; else a column called `name` or `title`; else, for a two-column
/// table with `id` or `pk`, the other column.
pub fn choose_label_column(columns: &[(&str, &str)], unique: &[String]) -> Option<String> {
    let unique_text: Vec<&str> = columns
        .iter()
        .filter(|(name, ty)| is_text_type(ty) && unique.iter().any(|u| u == name))
        .map(|(name, _)| *name)
        .collect();
    if let [only] = unique_text.as_slice() {
        return Some((*only).to_owned());
    }
    if let Some((name, _)) = columns.iter().find(|(name, _)| {
        let lower = name.to_lowercase();
        lower == "name" || lower == "title"
    }) {
        return Some((*name).to_owned());
    }
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let is_key = |n: &&str| *n == "id" || *n == "pk";
    if names.len() == 2 && names.iter().any(is_key) && !names.iter().all(is_key) {
        return names.into_iter().find(|n| !is_key(n)).map(str::to_owned);
    }
    None
}

/// The label column of `table`, reading its unique indexes from the tenant database.
pub async fn label_column(
    handle: Arc<TenantDb>,
    table: &TableSchema,
    time_limit: Duration,
) -> Result<Option<String>, ReadError> {
    // Each unique index with the column(s) it covers; expression columns have no name.
    let sql = "select il.name, ii.name from pragma_index_list(:t) il, pragma_index_info(il.name) ii \
               where il.\"unique\" = 1";
    let result = exec::run(
        handle,
        Statement::internal(
            sql,
            vec![(":t".into(), Value::Text(table.name.clone()))],
            time_limit,
        ),
    )
    .await?;
    let mut per_index: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for row in result.rows.to_values() {
        let column = match &row[1] {
            Value::Text(c) => Some(c.clone()),
            _ => None,
        };
        per_index.entry(to_text(&row[0])).or_default().push(column);
    }
    let unique: Vec<String> = per_index
        .into_values()
        .filter_map(|cols| match cols.as_slice() {
            [Some(c)] => Some(c.clone()),
            _ => None,
        })
        .collect();
    let columns: Vec<(&str, &str)> = table
        .columns
        .iter()
        .filter(|c| !c.hidden)
        .map(|c| (c.name.as_str(), c.decl_type.as_str()))
        .collect();
    Ok(choose_label_column(&columns, &unique))
}

/// Where a foreign key's values can be looked up.
#[derive(Clone, Debug, PartialEq)]
pub struct Target<'a> {
    pub table: &'a TableSchema,
    pub column: String,
}

/// The table a foreign key points at (matched without regard to case, as
/// SQLite does), or `None` when it names no table. A key declared without a
/// column points at the other table's single primary key.
pub fn target<'a>(schema: &'a Schema, fk: &ForeignKey) -> Option<Target<'a>> {
    let table = schema
        .tables
        .iter()
        .find(|t| t.kind == "table" && t.name.eq_ignore_ascii_case(&fk.other_table))?;
    let names_column = table
        .columns
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(&fk.other_column));
    let column = if names_column {
        fk.other_column.clone()
    } else {
        // The mirror writes `rowid` for a key declared without a column.
        let pks: Vec<_> = table.columns.iter().filter(|c| c.pk > 0).collect();
        match pks.as_slice() {
            [pk] => pk.name.clone(),
            [] if fk.other_column == "rowid" => "rowid".into(),
            _ => return None,
        }
    };
    Some(Target { table, column })
}

/// The labels of `values` in `target`. Without a label column every value
/// is labelled by its own text; values with no row in the target get no label.
/// A lookup that runs out of time gives no labels rather than an error.
pub async fn fetch(
    handle: Arc<TenantDb>,
    target: &Target<'_>,
    label_column: Option<&str>,
    values: &[Value],
    time_limit: Duration,
) -> Result<Labels, ReadError> {
    let mut distinct: HashMap<Key, &Value> = HashMap::new();
    for value in values {
        if let Some(key) = Key::of(value) {
            distinct.entry(key).or_insert(value);
        }
    }
    let Some(label_column) = label_column else {
        return Ok(distinct
            .into_iter()
            .map(|(k, v)| (k, Value::Text(to_text(v))))
            .collect());
    };
    if distinct.is_empty() {
        return Ok(Labels::new());
    }
    let mut params = Params::default();
    let placeholders: Vec<String> = distinct
        .values()
        .map(|v| params.add((*v).clone()))
        .collect();
    let sql = format!(
        "select {col}, {label} from {table} where {col} in ({})",
        placeholders.join(", "),
        col = quote_ident(&target.column),
        label = quote_ident(label_column),
        table = quote_ident(&target.table.name),
    );
    match exec::run(handle, Statement::internal(sql, params.0, time_limit)).await {
        Ok(result) => Ok(result
            .rows
            .to_values()
            .into_iter()
            .filter_map(|mut row| {
                let label = row.pop()?;
                Some((Key::of(&row[0])?, label))
            })
            .collect()),
        Err(ReadError::TimedOut) => Ok(Labels::new()),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(columns: &[(&str, &str)], unique: &[&str]) -> Option<String> {
        let unique: Vec<String> = unique.iter().map(|s| s.to_string()).collect();
        choose_label_column(columns, &unique)
    }

    #[test]
    fn label_column_choice() {
        // The single unique text column wins over `name`.
        assert_eq!(
            choose(
                &[("id", "INTEGER"), ("code", "TEXT"), ("name", "TEXT")],
                &["code"]
            ),
            Some("code".into())
        );
        // Two unique text columns: fall back to name/title, case-insensitively.
        assert_eq!(
            choose(
                &[
                    ("id", "INTEGER"),
                    ("a", "TEXT"),
                    ("b", "VARCHAR(9)"),
                    ("Title", "TEXT")
                ],
                &["a", "b"]
            ),
            Some("Title".into())
        );
        // A unique integer column is not a label.
        assert_eq!(
            choose(
                &[("id", "INTEGER"), ("n", "INTEGER"), ("x", "REAL")],
                &["n"]
            ),
            None
        );
        // Two columns, one of them id: the other.
        assert_eq!(
            choose(&[("id", "INTEGER"), ("v", "INTEGER")], &[]),
            Some("v".into())
        );
        assert_eq!(choose(&[("id", "INTEGER"), ("pk", "INTEGER")], &[]), None);
        assert_eq!(choose(&[("a", "INTEGER"), ("b", "TEXT")], &[]), None);
        // An undeclared type counts as text.
        assert_eq!(
            choose(&[("id", ""), ("slug", "")], &["slug"]),
            Some("slug".into())
        );
    }

    #[test]
    fn keys_compare_like_python() {
        assert_eq!(Key::of(&Value::Real(1.0)), Key::of(&Value::Integer(1)));
        assert_ne!(
            Key::of(&Value::Text("1".into())),
            Key::of(&Value::Integer(1))
        );
        assert_eq!(Key::of(&Value::Null), None);
    }
}
