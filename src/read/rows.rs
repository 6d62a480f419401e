//! A statement's rows read into a [`ResultSet`]: through a raw statement
//! cell by cell where the connection allows (`crate::sqlite::RawStatement`),
//! else through libsql's rows; refused as soon as the answer passes its cap.

use libsql::{Connection, Value};

use super::cells::Rows;
use super::exec::{Caps, ReadError, ResultSet, Statement};
use super::values::answer_bytes;
use crate::sqlite::{RawStatement, now};

/// Whether `statement` binds every parameter of `prepared`: a kept statement
/// would otherwise reuse earlier bindings.
pub(super) fn all_bound(prepared: &libsql::Statement, statement: &Statement) -> bool {
    (1..=prepared.parameter_count() as i32).all(|i| {
        prepared
            .parameter_name(i)
            .is_some_and(|name| statement.params.iter().any(|(n, _)| n == name))
    })
}

/// As [`all_bound`], for a raw statement.
pub(super) fn all_bound_raw(prepared: &RawStatement, statement: &Statement) -> bool {
    (1..=prepared.parameter_count()).all(|i| {
        prepared
            .parameter_name(i)
            .is_some_and(|name| statement.params.iter().any(|(n, _)| n == name))
    })
}

/// As [`read_rows`], cell by cell from a raw statement (every parameter
/// bound: see [`all_bound_raw`]): each cell goes from SQLite's row straight
/// into the compact rows, with no value of its own.
pub(super) fn read_rows_raw(
    prepared: &RawStatement,
    statement: &Statement,
    caps: Caps,
) -> Result<ResultSet, ReadError> {
    for i in 1..=prepared.parameter_count() {
        let name = prepared.parameter_name(i).unwrap_or_default();
        if let Some((_, value)) = statement.params.iter().find(|(n, _)| n == name) {
            prepared.bind(i, value).map_err(sql_error)?;
        }
    }
    let count = prepared.column_count();
    let columns: Vec<String> = (0..count).map(|i| prepared.column_name(i)).collect();
    let mut out = ResultSet {
        rows: Rows::new(count),
        ..ResultSet::default()
    };
    while prepared.step().map_err(sql_error)? {
        if full(&mut out, statement) {
            break;
        }
        let mut bytes = 0;
        for (i, column) in columns.iter().enumerate() {
            prepared.with_value(i, |value| {
                bytes += answer_bytes(column, value);
                out.rows.push(value);
            });
        }
        out.rows.end_row();
        if out.rows.len() == 1 {
            // The first row tells how much room a default page (100 rows and
            // the one that shows there are more) needs; longer answers grow.
            let rows = statement.max_rows.unwrap_or(101).min(101);
            out.rows.reserve(rows, bytes as usize);
        }
        counted(&mut out, bytes, caps)?;
    }
    out.columns = columns;
    Ok(out)
}

/// Whether `out` holds as many rows as `statement` may give (it is then
/// marked truncated).
fn full(out: &mut ResultSet, statement: &Statement) -> bool {
    let full = statement.max_rows.is_some_and(|max| out.rows.len() >= max);
    out.truncated |= full;
    full
}

/// Counts a row's `bytes` into `out`, refusing the answer as soon as its
/// size passes the cap: the rows are never all held.
fn counted(out: &mut ResultSet, bytes: u64, caps: Caps) -> Result<(), ReadError> {
    out.bytes += bytes;
    if caps.answer > 0 && out.bytes > caps.answer {
        return Err(ReadError::TooLarge(caps.answer));
    }
    Ok(())
}

/// Prepares and runs a statement that is not kept.
pub(super) fn execute_once(
    conn: &Connection,
    statement: &Statement,
    caps: Caps,
) -> Result<ResultSet, ReadError> {
    let prepared = now(conn.prepare(&statement.sql)).map_err(sql_error)?;
    read_rows(&prepared, statement, caps)
}

pub(super) fn read_rows(
    prepared: &libsql::Statement,
    statement: &Statement,
    caps: Caps,
) -> Result<ResultSet, ReadError> {
    let mut params = statement.params.clone();
    if statement.fill_missing {
        for i in 1..=prepared.parameter_count() as i32 {
            if let Some(name) = prepared.parameter_name(i)
                && !params.iter().any(|(n, _)| n == name)
            {
                params.push((name.to_owned(), Value::Text(String::new())));
            }
        }
    }
    now(async {
        let mut rows = prepared.query(params).await?;
        let count = rows.column_count();
        let columns = (0..count)
            .map(|i| rows.column_name(i).unwrap_or_default().to_owned())
            .collect();
        let mut out = ResultSet {
            columns,
            rows: Rows::new(count as usize),
            ..ResultSet::default()
        };
        while let Some(row) = rows.next().await? {
            if full(&mut out, statement) {
                break;
            }
            let mut bytes = 0;
            for i in 0..count {
                let value = row.get_value(i)?;
                bytes += answer_bytes(&out.columns[i as usize], (&value).into());
                out.rows.push((&value).into());
            }
            out.rows.end_row();
            if let Err(refused) = counted(&mut out, bytes, caps) {
                return Ok(Err(refused));
            }
        }
        Ok(Ok(out))
    })
    .map_err(sql_error)?
}

pub(super) fn sql_error(err: libsql::Error) -> ReadError {
    match err {
        libsql::Error::SqliteFailure(code, _) if code & 0xff == 9 => ReadError::TimedOut,
        // SQLITE_TOOBIG: past the connection's length limit.
        libsql::Error::SqliteFailure(code, message) if code & 0xff == 18 => ReadError::Sql(
            format!("{message}: a value may be at most the max_value_mb setting"),
        ),
        // SQLITE_BUSY, SQLITE_LOCKED
        libsql::Error::SqliteFailure(code, message) if matches!(code & 0xff, 5 | 6) => {
            ReadError::Busy(message)
        }
        libsql::Error::SqliteFailure(_, message) => ReadError::Sql(message),
        other => ReadError::Sql(other.to_string()),
    }
}
