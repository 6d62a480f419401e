//! The write API's logic, apart from HTTP: request validation, JSON values
//! to SQL values, the SQL of each write, schema text for create and alter,
//! and the analysis of `/-/execute-write` statements. Every function here
//! runs inside one transaction on a database's single writer
//! ([`crate::tenant::TenantDb::write`]).

pub mod analysis;
pub mod json;
pub mod live;
pub mod records;
pub mod rows;
pub mod schema;
pub mod upload;
pub mod values;

use libsql::{Connection, Value};

use crate::sqlite::{Own, execute_own, now};

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// 400: every problem found; nothing was changed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// 404, naming what is missing, as Datasette does on write endpoints.
    #[error("{0}")]
    NotFound(String),
    /// The database reached its size limit (`max_database_mb`; SQLite's
    /// SQLITE_FULL): the transaction was rolled back whole.
    #[error("{FULL_MESSAGE}")]
    Full,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a write that would pass a database's size limit is told.
pub const FULL_MESSAGE: &str = "Database is full: this space's max_database_mb limit (or the disk) \
     leaves no room for this write, and nothing was written";

/// Whether `err` is SQLite's SQLITE_FULL, wherever in its chain.
pub fn is_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(cause.downcast_ref::<libsql::Error>(),
            Some(libsql::Error::SqliteFailure(code, _)) if code & 0xff == 13)
    })
}

impl WriteError {
    pub fn invalid(message: impl Into<String>) -> WriteError {
        WriteError::Invalid(vec![message.into()])
    }
}

pub type WriteResult<T> = Result<T, WriteError>;

/// SQLite's own message for a failed statement is the user's answer (a 400);
/// anything else is ours.
pub fn sql_error(err: libsql::Error) -> WriteError {
    match err {
        libsql::Error::SqliteFailure(code, _) if code & 0xff == 13 => WriteError::Full,
        libsql::Error::SqliteFailure(_, message) => WriteError::invalid(message),
        other => WriteError::invalid(other.to_string()),
    }
}

/// Runs one statement; returns the rows it changed.
pub fn exec(conn: &Connection, sql: &str, params: Vec<Value>) -> WriteResult<u64> {
    now(conn.execute(sql, params)).map_err(sql_error)
}

/// [`exec`] for SQL this program wrote (never a user's): kept on a writer.
pub fn exec_own(conn: &impl Own, sql: &str, params: Vec<Value>) -> WriteResult<u64> {
    execute_own(conn, sql, params).map_err(sql_error)
}

/// Rows of a query with their column names.
pub fn select(
    conn: &Connection,
    sql: &str,
    params: impl libsql::params::IntoParams,
) -> WriteResult<(Vec<String>, Vec<Vec<Value>>)> {
    now(async { collect(conn.query(sql, params).await?).await }).map_err(sql_error)
}

/// [`select`] for SQL this program wrote (never a user's): kept on a writer.
pub fn select_own(
    conn: &impl Own,
    sql: &str,
    params: impl libsql::params::IntoParams,
) -> WriteResult<(Vec<String>, Vec<Vec<Value>>)> {
    conn.own(sql, |statement| {
        now(async { collect(statement.query(params).await?).await })
    })
    .and_then(|rows| rows)
    .map_err(sql_error)
}

async fn collect(mut rows: libsql::Rows) -> libsql::Result<(Vec<String>, Vec<Vec<Value>>)> {
    let count = rows.column_count();
    let columns: Vec<String> = (0..count)
        .map(|i| rows.column_name(i).unwrap_or_default().to_owned())
        .collect();
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(
            (0..count)
                .map(|i| row.get_value(i))
                .collect::<libsql::Result<Vec<_>>>()?,
        );
    }
    Ok((columns, out))
}

/// Python's `repr()` of a list of strings, as in `Record not found: ['1']`.
pub fn python_list_repr(values: &[String]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            let quote = if v.contains('\'') && !v.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        })
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_reprs() {
        assert_eq!(python_list_repr(&["999".into()]), "['999']");
        assert_eq!(
            python_list_repr(&["a".into(), "it's".into()]),
            "['a', \"it's\"]"
        );
    }
}
