//! Tables as the writer sees them: an ordinary table's columns, keys and
//! foreign keys, read from the file inside the write's transaction.

use libsql::{Connection, Value};

use super::{WriteError, WriteResult, select, select_own};
use crate::sqlite::Own;

/// A column as `pragma table_xinfo` reports it.
#[derive(Clone, Debug)]
pub struct LiveColumn {
    pub name: String,
    pub decl_type: String,
    pub notnull: bool,
    /// The default's SQL text, as declared.
    pub default: Option<String>,
    pub pk: i64,
}

/// A single-column foreign key.
#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKey {
    pub column: String,
    pub other_table: String,
    pub other_column: String,
    /// ` ON DELETE CASCADE` and the like, or empty.
    pub actions: String,
}

/// An ordinary table, read on the connection that will write to it.
#[derive(Clone, Debug)]
pub struct LiveTable {
    pub name: String,
    pub columns: Vec<LiveColumn>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl LiveTable {
    /// Primary key columns in key order; empty for a rowid table.
    pub fn pks(&self) -> Vec<String> {
        let mut pks: Vec<&LiveColumn> = self.columns.iter().filter(|c| c.pk > 0).collect();
        pks.sort_by_key(|c| c.pk);
        pks.into_iter().map(|c| c.name.clone()).collect()
    }

    /// The columns that identify a row: the primary keys, or rowid.
    pub fn key_columns(&self) -> Vec<String> {
        let pks = self.pks();
        if pks.is_empty() {
            vec!["rowid".into()]
        } else {
            pks
        }
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
    }
}

pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::Text(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Whether `name` is an ordinary table (not a view, virtual or shadow table).
pub fn is_ordinary_table(conn: &impl Own, name: &str) -> WriteResult<bool> {
    let (_, kind) = select_own(
        conn,
        "select type from pragma_table_list where schema = 'main' and name = ?1",
        vec![Value::Text(name.into())],
    )?;
    Ok(kind.first().and_then(|r| text(&r[0])).as_deref() == Some("table"))
}

/// The ordinary table `name` (not a view, virtual or shadow table), if it exists.
pub fn live_table(conn: &impl Own, name: &str) -> WriteResult<Option<LiveTable>> {
    if !is_ordinary_table(conn, name)? {
        return Ok(None);
    }
    let (_, cols) = select_own(
        conn,
        "select name, type, \"notnull\", dflt_value, pk from pragma_table_xinfo(?1)
         where hidden = 0 order by cid",
        vec![Value::Text(name.into())],
    )?;
    let columns = cols
        .iter()
        .map(|r| LiveColumn {
            name: text(&r[0]).unwrap_or_default(),
            decl_type: text(&r[1]).unwrap_or_default(),
            notnull: matches!(r[2], Value::Integer(1)),
            default: text(&r[3]),
            pk: match r[4] {
                Value::Integer(i) => i,
                _ => 0,
            },
        })
        .collect();
    let (_, fks) = select_own(
        conn,
        "select \"from\", \"table\", \"to\", on_update, on_delete, id, seq
         from pragma_foreign_key_list(?1) order by id, seq",
        vec![Value::Text(name.into())],
    )?;
    let mut foreign_keys = Vec::new();
    for r in &fks {
        let other_table = text(&r[1]).unwrap_or_default();
        let other_column = match text(&r[2]) {
            Some(c) => c,
            None => single_pk(conn.conn(), &other_table)?,
        };
        let mut actions = String::new();
        for (word, value) in [("UPDATE", &r[3]), ("DELETE", &r[4])] {
            if let Some(action) = text(value).filter(|a| a != "NO ACTION") {
                actions.push_str(&format!(" ON {word} {action}"));
            }
        }
        foreign_keys.push(ForeignKey {
            column: text(&r[0]).unwrap_or_default(),
            other_table,
            other_column,
            actions,
        });
    }
    Ok(Some(LiveTable {
        name: name.to_owned(),
        columns,
        foreign_keys,
    }))
}

/// The stored `CREATE TABLE` text of `name`.
pub fn table_sql(conn: &Connection, name: &str) -> WriteResult<Option<String>> {
    let (_, rows) = select(
        conn,
        "select sql from sqlite_master where type = 'table' and name = ?1",
        vec![Value::Text(name.into())],
    )?;
    Ok(rows.first().and_then(|r| text(&r[0])))
}

/// The one primary key column of `table`, which a foreign key without a column names.
pub(super) fn single_pk(conn: &Connection, table: &str) -> WriteResult<String> {
    let (_, rows) = select(
        conn,
        "select name from pragma_table_info(?1) where pk > 0",
        vec![Value::Text(table.into())],
    )?;
    match rows.as_slice() {
        [one] => Ok(text(&one[0]).unwrap_or_default()),
        [] if table_exists(conn, table)? => Ok("rowid".into()),
        _ => Err(WriteError::invalid(format!(
            "Could not detect single primary key for table '{table}'"
        ))),
    }
}

fn table_exists(conn: &Connection, table: &str) -> WriteResult<bool> {
    let (_, rows) = select(
        conn,
        "select 1 from sqlite_master where type = 'table' and name = ?1",
        vec![Value::Text(table.into())],
    )?;
    Ok(!rows.is_empty())
}
