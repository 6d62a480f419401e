//! Runs one read statement on a pooled connection of a tenant database, in
//! place when it is short and else on the blocking pool, under a time limit
//! that really stops it: when the limit passes, `Connection::interrupt()`
//! ends the statement and the connection stays usable. User SQL also runs
//! under an authorizer that refuses writes, ATTACH, extension loading and
//! pragmas outside Datasette's allow-list.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libsql::{AuthAction, AuthContext, Authorization, Connection, Value};
use tokio::sync::OwnedSemaphorePermit;

use super::cells::Rows;
use super::in_place::BUDGET;
use super::rows::{all_bound, all_bound_raw, execute_once, read_rows, read_rows_raw, sql_error};
use super::sql_text::ALLOWED_PRAGMAS;
use crate::meter::{add_work, mark_volatile, on_cpu, on_cpu_brief};
use crate::sqlite::{Pooled, without_waiting};
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
    pub rows: Rows,
    pub truncated: bool,
    /// The SQL calls a function such as `random()` or `datetime('now')`: run
    /// again, it may answer differently, so the answer is never cached.
    pub volatile: bool,
    /// About how many bytes the rows take as JSON (see [`answer_bytes`]).
    pub bytes: u64,
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
    /// The file was locked by another connection for longer than it waits.
    #[error("{0}")]
    Busy(String),
    /// The space had `max_concurrent_queries` reads running for all of
    /// `max_query_wait_ms`: the read never started.
    #[error("Too many queries running in this space: try again shortly")]
    Crowded,
    /// SQLite refused the statement; the message is SQLite's and safe to show.
    #[error("{0}")]
    Sql(String),
    /// The rows would pass the answer cap (`max_response_mb`), in bytes.
    #[error(
        "The answer is larger than {} MB (the max_response_mb setting): ask for fewer rows or columns, or stream CSV with _stream=on",
        .0 / (1024 * 1024)
    )]
    TooLarge(u64),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What one read may build: the space's caps on one value and on the answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caps {
    /// SQLite's length limit, in bytes (0: SQLite's own).
    pub value: u64,
    /// The rows' size as JSON, in bytes (0: no cap).
    pub answer: u64,
}

impl Caps {
    fn of(db: &TenantDb) -> Caps {
        Caps {
            value: db.max_value(),
            answer: db.max_answer(),
        }
    }
}

/// Runs `statement` against `db`: in place if it is short (see
/// [`super::in_place`]), else on the blocking pool.
pub async fn run(db: Arc<TenantDb>, statement: Statement) -> Result<ResultSet, ReadError> {
    let purpose = if statement.user_sql {
        "sql"
    } else {
        "internal"
    };
    let started = Instant::now();
    let caps = Caps::of(&db);
    let (result, statement, place) = match in_place(&db, &statement, caps) {
        Ok(result) => (result, statement, "in_place"),
        Err(moved) => {
            let place = if moved.is_some() { "moved" } else { "pool" };
            let out_of_time = moved.as_ref().is_some_and(|m| m.out_of_time);
            let (result, statement, cpu) = on_pool(&db, statement, moved, started, caps).await;
            // Running out of time in place can be bad luck (the worker was
            // descheduled); SQL that really needs the time stays off it.
            if out_of_time && cpu >= BUDGET {
                db.overruns.mark(&statement.sql);
            } else if cpu < BUDGET {
                db.overruns.fitted(&statement.sql);
            }
            (result, statement, place)
        }
    };
    if result.as_ref().is_ok_and(|rows| rows.volatile) {
        mark_volatile();
    }
    let elapsed = started.elapsed();
    super::trace::record(
        &statement.sql,
        &statement.params,
        elapsed,
        result.as_ref().err().map(|e| e.to_string()).as_deref(),
    );
    let m = crate::metrics::metrics();
    crate::metrics::series(&m.reads, &[place]).inc();
    crate::metrics::series(&m.query_seconds, &[purpose]).observe(elapsed.as_secs_f64());
    if let Ok(rows) = &result {
        crate::metrics::series(&m.rows_returned, &[purpose]).inc_by(rows.rows.len() as u64);
    }
    result
}

/// What a read that began in place hands to the blocking pool.
struct Moved {
    turn: OwnedSemaphorePermit,
    space_turn: OwnedSemaphorePermit,
    conn: Pooled,
    /// It ran out of time in place (else the file was busy).
    out_of_time: bool,
}

/// Runs the read here if a turn and an idle connection are free and its SQL
/// is not resting on the pool after an overrun; when it must run on the
/// pool, gives back what it took.
fn in_place(
    db: &TenantDb,
    statement: &Statement,
    caps: Caps,
) -> Result<Result<ResultSet, ReadError>, Option<Box<Moved>>> {
    if db.overruns.resting(&statement.sql) {
        return Err(None);
    }
    let Some(space_turn) = db.gate.try_turn() else {
        return Err(None);
    };
    let Some(turn) = db.try_reader_turn() else {
        return Err(None);
    };
    let Some(conn) = db.idle_conn() else {
        return Err(None);
    };
    let ((result, cpu), fired) = super::in_place::run(&conn, statement.time_limit, || {
        on_cpu_brief(BUDGET, || {
            without_waiting(&conn, || execute(&conn, statement, caps))
        })
    });
    add_work(cpu);
    let moved = |out_of_time| {
        Err(Some(Box::new(Moved {
            turn,
            space_turn,
            conn,
            out_of_time,
        })))
    };
    match result {
        // Interrupted: the pool runs it again, and the CPU it takes there
        // decides whether it rests on the pool (see `run`). A stall seen here
        // may be the machine's (a stolen or profiled CPU), not the SQL's.
        Ok(Err(ReadError::TimedOut)) if fired && statement.time_limit > BUDGET => moved(true),
        Ok(Err(ReadError::Busy(_))) => moved(false),
        result => {
            if rests_after_finishing(fired, cpu) {
                db.overruns.mark(&statement.sql);
            }
            result.or_else(|err| Ok(Err(ReadError::Internal(err))))
        }
    }
}

/// A read that finished in place although the watchdog fired held this
/// worker past its budget on the CPU (one SQLite function call cannot be
/// interrupted): it rests on the pool, as no run there will judge it.
fn rests_after_finishing(fired: bool, cpu: Duration) -> bool {
    fired && cpu >= BUDGET
}

/// Runs the read on the blocking pool under what is left of its time limit,
/// interrupting it when that passes; gives the statement back with the CPU
/// time it took there.
async fn on_pool(
    db: &Arc<TenantDb>,
    statement: Statement,
    moved: Option<Box<Moved>>,
    started: Instant,
    caps: Caps,
) -> (Result<ResultSet, ReadError>, Statement, Duration) {
    let limit = statement.time_limit.saturating_sub(started.elapsed());
    // Its time went in place: running it again could only be interrupted.
    if limit.is_zero() {
        return (Err(ReadError::TimedOut), statement, Duration::ZERO);
    }
    // A turn of the space first (bounded wait), then of the database: a
    // read waiting for the database's turn holds the space's, never the reverse.
    let (turn, conn) = match moved {
        Some(moved) => {
            let Moved {
                turn,
                space_turn,
                conn,
                ..
            } = *moved;
            ((space_turn, turn), Some(conn))
        }
        None => {
            let Some(space_turn) = db.gate.turn().await else {
                crate::metrics::metrics()
                    .rate_limited
                    .with_label_values(&["queries"])
                    .inc();
                return (Err(ReadError::Crowded), statement, Duration::ZERO);
            };
            ((space_turn, db.reader_turn().await), db.idle_conn())
        }
    };
    // One trip to the blocking pool, keeping a clone of the connection to
    // interrupt it with. Opening a new connection blocks, so the task does
    // that and hands the clone back.
    let (mut task, interrupter) = match conn {
        Some(conn) => {
            let interrupter = (*conn).clone();
            let task = tokio::task::spawn_blocking(move || {
                let _turn = turn;
                yield_to_workers();
                let (result, cpu) = on_cpu(|| execute(&conn, &statement, caps));
                (result, statement, cpu)
            });
            (task, Some(interrupter))
        }
        None => {
            let db = db.clone();
            let (handed, interrupter) = tokio::sync::oneshot::channel::<Connection>();
            let task = tokio::task::spawn_blocking(move || {
                let _turn = turn;
                yield_to_workers();
                let (result, cpu) = on_cpu(|| {
                    let conn = db.conn()?;
                    let _ = handed.send((*conn).clone());
                    execute(&conn, &statement, caps)
                });
                (result, statement, cpu)
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
    match joined {
        Ok((result, statement, cpu)) => {
            add_work(cpu);
            (result, statement, cpu)
        }
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// Lowers the scheduling priority of this blocking-pool thread, once: reads
/// that reach the pool are the long ones, and on a busy machine they must
/// not take the CPU from the async workers, which serve every other
/// tenant's short reads. (The thread keeps it for later work: it is all
/// blocking work, which the workers should come before.)
fn yield_to_workers() {
    #[cfg(target_os = "linux")]
    {
        thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if !LOWERED.with(|l| l.replace(true)) {
            // SAFETY: gettid, setpriority and sched_setscheduler only read
            // their arguments; on Linux, a thread id changes that thread
            // alone.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, POOL_NICENESS);
                let param = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param);
            }
        }
    }
}

/// The niceness of blocking threads that ran a long read (0 is the
/// default, 19 the lowest priority), in case SCHED_IDLE is refused. Under
/// SCHED_IDLE a waking worker preempts such a thread at once; at nice 19 the
/// scheduler may first let it finish its slice. Measured with `cargo bench
/// --bench noisy`, the quiet space's p99 under a flood was 5.8-6.5x its solo
/// p99 at nice 10 and 2.4-4.1x at 19 (see BENCHMARKS.md for SCHED_IDLE);
/// the flood still gets every idle cycle.
#[cfg(target_os = "linux")]
const POOL_NICENESS: libc::c_int = 19;

/// SQLite's functions whose result depends on when or how often they are
/// called. (The date and time functions only do so with 'now', or with no
/// argument; any call counts.)
const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "randomblob",
    "changes",
    "total_changes",
    "last_insert_rowid",
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    "current_date",
    "current_time",
    "current_timestamp",
];

/// The read-only authorizer for user SQL; it also notes in `volatile` a call
/// to a function that makes the answer differ from one run to the next.
fn authorize(ctx: &AuthContext, volatile: &AtomicBool) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } => {
            if VOLATILE_FUNCTIONS
                .iter()
                .any(|f| function_name.eq_ignore_ascii_case(f))
            {
                volatile.store(true, Ordering::Relaxed);
            }
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

fn execute(conn: &Pooled, statement: &Statement, caps: Caps) -> Result<ResultSet, ReadError> {
    conn.set_max_value(caps.value);
    if statement.user_sql {
        return execute_user_sql(conn, statement, caps);
    }
    let raw = conn.with_raw(&statement.sql, |prepared| {
        all_bound_raw(prepared, statement).then(|| read_rows_raw(prepared, statement, caps))
    });
    let kept = match raw {
        Some(raw) => raw,
        None => conn.with_kept(&statement.sql, |prepared| {
            all_bound(prepared, statement).then(|| read_rows(prepared, statement, caps))
        }),
    }
    .map_err(sql_error)?;
    match kept {
        Some(result) => result,
        None => execute_once(conn, statement, caps),
    }
}

/// User SQL: prepared afresh under the read-only authorizer, which also
/// tells whether the answer is volatile.
fn execute_user_sql(
    conn: &Connection,
    statement: &Statement,
    caps: Caps,
) -> Result<ResultSet, ReadError> {
    let volatile = Arc::new(AtomicBool::new(false));
    let noted = volatile.clone();
    conn.authorizer(Some(Arc::new(move |ctx: &AuthContext| {
        authorize(ctx, &noted)
    })))
    .map_err(sql_error)?;
    let result = execute_once(conn, statement, caps);
    conn.authorizer(None).map_err(sql_error)?;
    result.map(|rows| ResultSet {
        volatile: volatile.load(Ordering::Relaxed),
        ..rows
    })
}
