//! Runs one read statement on a pooled connection of a tenant database, on
//! the blocking pool, under a time limit that really stops it: when the limit
//! passes, `Connection::interrupt()` ends the statement and the connection
//! stays usable. User SQL also runs under an authorizer that refuses writes,
//! ATTACH, extension loading and pragmas outside Datasette's allow-list.

use std::sync::Arc;
use std::time::Duration;

use libsql::{AuthAction, AuthContext, Authorization, Connection, Value};

use super::sql_text::ALLOWED_PRAGMAS;
use crate::sqlite::{Pooled, add_work, now, on_cpu};
use crate::tenant::TenantDb;

/// One statement to run.
#[derive(Clone, Debug)]
pub struct Statement {
    pub sql: String,
    /// Named parameters, keys with their prefix (`:p0`).
    pub params: Vec<(String, Value)>,
    /// Bind `''` to every parameter of the SQL that `params` lacks (Datasette's
    /// behaviour for `?sql=` with a missing `:name`).
    pub fill_missing: bool,
    /// Keep at most this many rows; one more sets `truncated`.
    pub max_rows: Option<usize>,
    pub time_limit: Duration,
    /// The SQL came from a user: run it under the read-only authorizer.
    pub user_sql: bool,
}

impl Statement {
    /// Internal SQL with named parameters.
    pub fn internal(
        sql: impl Into<String>,
        params: Vec<(String, Value)>,
        time_limit: Duration,
    ) -> Statement {
        Statement {
            sql: sql.into(),
            params,
            fill_missing: false,
            max_rows: None,
            time_limit,
            user_sql: false,
        }
    }
}

/// Rows of a result, values copied out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub truncated: bool,
}

impl ResultSet {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The time limit passed and the statement was interrupted.
    #[error("SQL query took too long")]
    TimedOut,
    /// SQLite refused the statement; the message is SQLite's and safe to show.
    #[error("{0}")]
    Sql(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Runs `statement` against `db` without blocking a tokio worker.
pub async fn run(db: Arc<TenantDb>, statement: Statement) -> Result<ResultSet, ReadError> {
    let limit = statement.time_limit;
    let purpose = if statement.user_sql {
        "sql"
    } else {
        "internal"
    };
    let started = std::time::Instant::now();
    let (sql, params) = (statement.sql.clone(), statement.params.clone());
    let turn = db.reader_turn().await;
    // One trip to the blocking pool, keeping a clone of the connection to
    // interrupt it with. An idle connection is taken here; opening a new one
    // blocks, so the task does that and hands the clone back.
    let (mut task, interrupter) = match db.idle_conn() {
        Some(conn) => {
            let interrupter = (*conn).clone();
            let task = tokio::task::spawn_blocking(move || {
                let _turn = turn;
                on_cpu(|| execute(&conn, &statement))
            });
            (task, Some(interrupter))
        }
        None => {
            let (handed, interrupter) = tokio::sync::oneshot::channel::<Connection>();
            let task = tokio::task::spawn_blocking(move || {
                let _turn = turn;
                on_cpu(|| {
                    let conn = db.conn()?;
                    let _ = handed.send((*conn).clone());
                    execute(&conn, &statement)
                })
            });
            (task, interrupter.await.ok())
        }
    };
    let joined = match tokio::time::timeout(limit, &mut task).await {
        Ok(joined) => joined,
        Err(_) => {
            if let Some(conn) = &interrupter {
                let _ = conn.interrupt();
            }
            task.await
        }
    };
    let joined = joined.map(|(result, cpu)| {
        add_work(cpu);
        result
    });
    if let Ok(result) = &joined {
        let error = result.as_ref().err().map(|e| e.to_string());
        super::trace::record(&sql, &params, started.elapsed(), error.as_deref());
    }
    let m = crate::metrics::metrics();
    m.query_seconds
        .with_label_values(&[purpose])
        .observe(started.elapsed().as_secs_f64());
    match joined {
        Ok(result) => {
            if let Ok(rows) = &result {
                m.rows_returned
                    .with_label_values(&[purpose])
                    .inc_by(rows.rows.len() as u64);
            }
            result
        }
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// The read-only authorizer for user SQL.
fn authorize(ctx: &AuthContext) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        AuthAction::Pragma { pragma_name, .. } => {
            if ALLOWED_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => Authorization::Deny,
    }
}

fn execute(conn: &Pooled, statement: &Statement) -> Result<ResultSet, ReadError> {
    if !statement.user_sql {
        let kept = conn
            .with_kept(&statement.sql, |prepared| {
                all_bound(prepared, statement).then(|| read_rows(prepared, statement))
            })
            .map_err(sql_error)?;
        if let Some(result) = kept {
            return result;
        }
    }
    if statement.user_sql {
        conn.authorizer(Some(Arc::new(authorize)))
            .map_err(sql_error)?;
    }
    let result = execute_once(conn, statement);
    if statement.user_sql {
        conn.authorizer(None).map_err(sql_error)?;
    }
    result
}

/// Whether `statement` binds every parameter of `prepared`: a kept statement
/// would otherwise reuse earlier bindings.
fn all_bound(prepared: &libsql::Statement, statement: &Statement) -> bool {
    (1..=prepared.parameter_count() as i32).all(|i| {
        prepared
            .parameter_name(i)
            .is_some_and(|name| statement.params.iter().any(|(n, _)| n == name))
    })
}

/// Prepares and runs a statement that is not kept.
fn execute_once(conn: &Connection, statement: &Statement) -> Result<ResultSet, ReadError> {
    let prepared = now(conn.prepare(&statement.sql)).map_err(sql_error)?;
    read_rows(&prepared, statement)
}

fn read_rows(prepared: &libsql::Statement, statement: &Statement) -> Result<ResultSet, ReadError> {
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
            ..ResultSet::default()
        };
        while let Some(row) = rows.next().await? {
            if statement.max_rows.is_some_and(|max| out.rows.len() >= max) {
                out.truncated = true;
                break;
            }
            out.rows.push(
                (0..count)
                    .map(|i| row.get_value(i))
                    .collect::<libsql::Result<_>>()?,
            );
        }
        Ok(out)
    })
    .map_err(sql_error)
}

fn sql_error(err: libsql::Error) -> ReadError {
    match err {
        libsql::Error::SqliteFailure(code, _) if code & 0xff == 9 => ReadError::TimedOut,
        libsql::Error::SqliteFailure(_, message) => ReadError::Sql(message),
        other => ReadError::Sql(other.to_string()),
    }
}
