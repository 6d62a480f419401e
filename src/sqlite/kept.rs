//! A connection that keeps the statements it prepared last, for this
//! program's own SQL: a lookup by key, or a write of a few rows, spends
//! much of its time parsing and planning otherwise.

use std::cell::RefCell;

use anyhow::{Context, Result};
use libsql::params::IntoParams;
use libsql::{Connection, Statement};

use super::{Closing, Sql, SqlRow, first_line, now};

/// A connection and the statements it keeps (dropped first: fields drop in
/// order, and the connection's last close comes after its statements').
pub struct Kept {
    statements: KeptList<Statement>,
    conn: Closing,
}

/// Statements kept by their SQL, the most recently used last, up to `most`
/// (0: each prepared afresh): a connection's libsql statements, or its raw
/// ones ([`super::raw::RawKept`]).
pub(super) struct KeptList<S> {
    statements: RefCell<Vec<(String, S)>>,
    most: usize,
}

impl<S> KeptList<S> {
    pub(super) fn new(most: usize) -> KeptList<S> {
        KeptList {
            statements: RefCell::new(Vec::new()),
            most,
        }
    }

    /// Runs `f` with the statement kept for `sql` (made by `prepare` when
    /// none is), then `reset`s it for its next use.
    pub(super) fn with<T>(
        &self,
        sql: &str,
        prepare: impl FnOnce() -> libsql::Result<S>,
        reset: impl FnOnce(&S),
        f: impl FnOnce(&S) -> T,
    ) -> libsql::Result<T> {
        if self.most == 0 {
            return Ok(f(&prepare()?));
        }
        let mut statements = self.statements.borrow_mut();
        match statements.iter().position(|(kept, _)| kept == sql) {
            Some(i) => {
                let entry = statements.remove(i);
                statements.push(entry);
            }
            None => {
                let statement = prepare()?;
                if statements.len() >= self.most {
                    statements.remove(0);
                }
                statements.push((sql.to_owned(), statement));
            }
        }
        let statement = &statements.last().expect("just pushed").1;
        let result = f(statement);
        reset(statement);
        Ok(result)
    }
}

impl Kept {
    /// `conn`, keeping up to `most` statements. A replica's statements
    /// ignore `reset()`, so one kept would hold its read snapshot forever:
    /// give it 0.
    pub fn new(conn: Closing, most: usize) -> Kept {
        Kept {
            statements: KeptList::new(most),
            conn,
        }
    }

    /// Runs `f` with a prepared statement for `sql` that this connection
    /// keeps for its next uses, then resets it, ending its read. Only for
    /// SQL written by this program: a statement is authorised when it is
    /// prepared, so user SQL must always be prepared afresh under its
    /// authorizer. A kept statement keeps its earlier bindings: `f` must
    /// bind every parameter.
    pub fn with_kept<T>(&self, sql: &str, f: impl FnOnce(&Statement) -> T) -> libsql::Result<T> {
        self.statements
            .with(sql, || now(self.conn.prepare(sql)), Statement::reset, f)
    }

    /// Up to `limit` rows of a kept statement.
    fn kept_rows(&self, sql: &str, params: impl IntoParams, limit: usize) -> Result<Vec<SqlRow>> {
        self.with_kept(sql, |statement| {
            now(async {
                let mut rows = statement.query(params).await?;
                let mut out = Vec::new();
                while out.len() < limit
                    && let Some(row) = rows.next().await?
                {
                    out.push(SqlRow::copy(&row)?);
                }
                Ok(out)
            })
        })
        .and_then(|result| result)
        .with_context(|| format!("running {}", first_line(sql)))
    }
}

impl std::ops::Deref for Kept {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// This program's own SQL runs a kept statement (see [`Kept::with_kept`]).
impl Sql for Kept {
    fn all(&self, sql: &str, params: impl IntoParams) -> Result<Vec<SqlRow>> {
        self.kept_rows(sql, params, usize::MAX)
    }

    fn one(&self, sql: &str, params: impl IntoParams) -> Result<Option<SqlRow>> {
        Ok(self.kept_rows(sql, params, 1)?.pop())
    }
}

/// Where this program's own SQL is prepared: afresh on a plain connection,
/// kept on a [`Kept`] one. Never for user SQL (see [`Kept::with_kept`]).
pub trait Own {
    /// Runs `f` with a statement prepared for `sql`.
    fn own<T>(&self, sql: &str, f: impl FnOnce(&Statement) -> T) -> libsql::Result<T>;
    /// The connection itself, for everything else.
    fn conn(&self) -> &Connection;
}

impl Own for Connection {
    fn own<T>(&self, sql: &str, f: impl FnOnce(&Statement) -> T) -> libsql::Result<T> {
        let statement = now(self.prepare(sql))?;
        Ok(f(&statement))
    }

    fn conn(&self) -> &Connection {
        self
    }
}

impl Own for Kept {
    fn own<T>(&self, sql: &str, f: impl FnOnce(&Statement) -> T) -> libsql::Result<T> {
        self.with_kept(sql, f)
    }

    fn conn(&self) -> &Connection {
        self
    }
}

/// Runs one statement of this program's own SQL on `conn` (kept there if
/// it keeps statements); the rows it changed.
pub fn execute_own(conn: &impl Own, sql: &str, params: impl IntoParams) -> libsql::Result<u64> {
    conn.own(sql, |statement| now(statement.execute(params)))?
        .map(|changed| changed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{Sql, connect, execute_batch, open_file};

    /// A kept statement answers for each call's parameters, and for the
    /// table as it is now: one replaced under it is prepared again.
    #[test]
    fn kept_statements_follow_their_table_through_a_schema_change() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_file(&dir.path().join("k.db")).unwrap();
        let conn = Kept::new(connect(&db).unwrap(), 2);
        execute_batch(&conn, "create table t (a text, b integer)").unwrap();
        let insert = "insert into t (a, b) values (?1, ?2)";
        assert_eq!(execute_own(&conn, insert, ("x", 1)).unwrap(), 1);
        assert_eq!(execute_own(&conn, insert, ("y", 2)).unwrap(), 1);
        execute_batch(
            &conn,
            "drop table t; create table t (b integer, extra text default 'd', a text)",
        )
        .unwrap();
        assert_eq!(execute_own(&conn, insert, ("z", 3)).unwrap(), 1);
        let rows = conn
            .all("select b, extra, a from t order by b", ())
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<i64>(0).unwrap(), 3);
        assert_eq!(rows[0].get::<String>(1).unwrap(), "d");
        assert_eq!(rows[0].get::<String>(2).unwrap(), "z");
        // The table is gone: the kept statement fails as a fresh one would.
        execute_batch(&conn, "drop table t").unwrap();
        let err = execute_own(&conn, insert, ("w", 4)).unwrap_err();
        assert!(err.to_string().contains("no such table"), "{err}");
    }
}
