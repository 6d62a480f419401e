//! Short reads run in place, on the async worker that needs them: for a page
//! of a table, the trip to the blocking pool and back cost more CPU than the
//! read itself. A watchdog thread bounds the stay: a read still running
//! after [`BUDGET`] is interrupted, and the caller runs it again on the
//! blocking pool under its real time limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use libsql::Connection;

/// How long a read may hold an async worker before it is interrupted.
pub const BUDGET: Duration = Duration::from_millis(1);
/// How often the watchdog looks while reads run in place: a read is
/// interrupted between BUDGET and BUDGET + TICK after it starts.
const TICK: Duration = Duration::from_millis(1);
/// After this long without seeing a read in place, the watchdog sleeps until
/// the next one wakes it, so an idle server has no thread ticking.
const IDLE_AFTER: Duration = Duration::from_millis(100);

/// The read a worker thread is running in place, if any.
struct Watch {
    deadline: Instant,
    conn: Connection,
    fired: bool,
}

type Slot = Mutex<Option<Watch>>;

struct Watchdog {
    /// One slot per thread that has run a read in place.
    slots: Mutex<Vec<Arc<Slot>>>,
    thread: Thread,
    asleep: AtomicBool,
}

thread_local! {
    static SLOT: Arc<Slot> = {
        let slot = Arc::new(Mutex::new(None));
        watchdog().slots.lock().expect("watchdog lock").push(slot.clone());
        slot
    };
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| {
        let thread = std::thread::Builder::new()
            .name("read-watchdog".into())
            .spawn(watch)
            .expect("starting the read watchdog");
        Watchdog {
            slots: Mutex::new(Vec::new()),
            thread: thread.thread().clone(),
            asleep: AtomicBool::new(false),
        }
    })
}

fn watch() {
    let mut last_seen = Instant::now();
    loop {
        std::thread::sleep(TICK);
        let dog = watchdog();
        let now = Instant::now();
        if interrupt_overruns(dog, now) {
            last_seen = now;
        } else if now.duration_since(last_seen) > IDLE_AFTER {
            dog.asleep.store(true, Ordering::SeqCst);
            // Look once more after saying so: a read that started before the
            // flag was set is seen here, one that starts after it wakes us.
            if !interrupt_overruns(dog, Instant::now()) {
                std::thread::park();
            }
            dog.asleep.store(false, Ordering::SeqCst);
            last_seen = Instant::now();
        }
    }
}

/// Interrupts every read past its deadline; says whether any read was running.
fn interrupt_overruns(dog: &Watchdog, now: Instant) -> bool {
    let mut any = false;
    for slot in dog.slots.lock().expect("watchdog lock").iter() {
        let mut watch = slot.lock().expect("watch lock");
        if let Some(watch) = watch.as_mut() {
            any = true;
            if !watch.fired && now >= watch.deadline {
                // Under the slot's lock: the read cannot end and another
                // begin on this thread before the interrupt lands.
                let _ = watch.conn.interrupt();
                watch.fired = true;
            }
        }
    }
    any
}

/// Runs `read` on `conn` here and now, interrupting it after `limit` (at
/// most [`BUDGET`]). Also says whether the watchdog interrupted it: a read
/// that failed after that must run again elsewhere. (One that succeeded is
/// complete; an interrupt it did not see is cleared by SQLite when the
/// connection's next statement starts.)
pub fn run<T>(conn: &Connection, limit: Duration, read: impl FnOnce() -> T) -> (T, bool) {
    SLOT.with(|slot| {
        *slot.lock().expect("watch lock") = Some(Watch {
            deadline: Instant::now() + limit.min(BUDGET),
            conn: conn.clone(),
            fired: false,
        });
        // Even if `read` panics, the watch ends with it: a later interrupt
        // could otherwise stop another statement on the same connection.
        let watching = Watching(slot);
        let dog = watchdog();
        if dog.asleep.load(Ordering::SeqCst) {
            dog.thread.unpark();
        }
        let value = read();
        (value, watching.end())
    })
}

/// SQL that overran its time in place, per database: it rests on the
/// blocking pool, but not for ever. Once its pause is over, the first read
/// of it that takes less than [`BUDGET`] of CPU there ends the rest; each
/// further overrun doubles the pause. (Remembered for ever, one overrun
/// under a profiler or a stalled machine sent a table's reads to the pool
/// until its handle closed, at two thirds of the speed. A trial in place
/// would not do: under load the pool's queue holds every read turn.)
#[derive(Default)]
pub struct Overruns(Mutex<Vec<Overrun>>);

struct Overrun {
    hash: u64,
    /// Overruns after the first, so far.
    strikes: u32,
    /// Resting on the pool until at least then.
    resting: Option<Instant>,
}

/// How much SQL is remembered per database.
const OVERRUNS_KEPT: usize = 64;
/// The pause after a first overrun; each further one doubles it, up to MAX_PAUSE.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(64);

impl Overruns {
    /// Whether `sql` must run on the pool.
    pub fn resting(&self, sql: &str) -> bool {
        let kept = self.0.lock().expect("overruns lock");
        // Nearly always empty: then every read is spared hashing its SQL.
        if kept.is_empty() {
            return false;
        }
        let hash = sql_hash(sql);
        kept.iter().any(|o| o.hash == hash && o.resting.is_some())
    }

    /// `sql` overran in place (again).
    pub fn mark(&self, sql: &str) {
        self.mark_at(sql, Instant::now())
    }

    fn mark_at(&self, sql: &str, now: Instant) {
        let hash = sql_hash(sql);
        let mut kept = self.0.lock().expect("overruns lock");
        if let Some(overrun) = kept.iter_mut().find(|o| o.hash == hash) {
            overrun.strikes = overrun.strikes.saturating_add(1);
            overrun.resting = Some(now + pause(overrun.strikes));
            return;
        }
        if kept.len() >= OVERRUNS_KEPT {
            kept.remove(0);
        }
        kept.push(Overrun {
            hash,
            strikes: 0,
            resting: Some(now + pause(0)),
        });
    }

    /// A read of `sql` took less than [`BUDGET`] of CPU: past its pause, it
    /// may run in place again.
    pub fn fitted(&self, sql: &str) {
        self.fitted_at(sql, Instant::now())
    }

    fn fitted_at(&self, sql: &str, now: Instant) {
        let mut kept = self.0.lock().expect("overruns lock");
        if kept.is_empty() {
            return;
        }
        let hash = sql_hash(sql);
        if let Some(overrun) = kept.iter_mut().find(|o| o.hash == hash)
            && overrun.resting.is_some_and(|until| now >= until)
        {
            overrun.resting = None;
        }
    }
}

fn pause(strikes: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(1 << strikes.min(6))
        .min(MAX_PAUSE)
}

/// A 64-bit hash of SQL text, to remember it by.
fn sql_hash(sql: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    sql.hash(&mut hasher);
    hasher.finish()
}

/// A watch in a slot, ended when dropped.
struct Watching<'a>(&'a Slot);

impl Watching<'_> {
    /// Ends the watch; says whether it fired.
    fn end(self) -> bool {
        let watch = self.0.lock().expect("watch lock").take();
        watch.is_some_and(|watch| watch.fired)
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        if let Ok(mut watch) = self.0.lock() {
            watch.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{connect, open_plain, query_one};

    fn connection() -> (tempfile::TempDir, libsql::Database, crate::sqlite::Closing) {
        let dir = tempfile::tempdir().unwrap();
        let db = open_plain(&dir.path().join("t.db")).unwrap();
        let conn = connect(&db).unwrap();
        (dir, db, conn)
    }

    /// Counts to `n` the slow way.
    fn count_to(n: i64) -> String {
        format!(
            "with recursive c(x) as (select 1 union all select x + 1 from c where x < {n}) \
             select count(*) from c"
        )
    }

    #[test]
    fn a_long_read_is_interrupted_and_the_connection_reads_again() {
        let (_dir, _db, conn) = connection();
        let started = Instant::now();
        let (result, fired) = run(&conn, Duration::from_secs(5), || {
            query_one(&conn, &count_to(i64::MAX), ())
        });
        assert!(fired);
        assert!(result.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not interrupted in time"
        );

        let (result, fired) = run(&conn, Duration::from_secs(5), || {
            query_one(&conn, "select 1", ())
        });
        assert!(!fired);
        assert_eq!(result.unwrap().unwrap().get::<i64>(0).unwrap(), 1);
    }

    #[test]
    fn a_read_that_panics_leaves_no_watch_behind() {
        let (_dir, _db, conn) = connection();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&conn, BUDGET, || panic!("a bug in a read"))
        }));
        assert!(panicked.is_err());
        // A watch left behind would interrupt whatever the connection runs
        // when its deadline passes.
        assert!(SLOT.with(|slot| slot.lock().unwrap().is_none()));
        let row = query_one(&conn, &count_to(300_000), ()).unwrap().unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 300_000);
    }

    #[test]
    fn sql_that_overran_rests_on_the_pool_for_a_growing_pause() {
        let overruns = Overruns::default();
        let t0 = Instant::now();
        let (slow, other) = ("select slow", "select other");
        overruns.mark_at(slow, t0);
        assert!(overruns.resting(slow));
        assert!(!overruns.resting(other));
        // A fast read before the pause is over changes nothing.
        overruns.fitted_at(slow, t0);
        assert!(overruns.resting(slow));
        // After it, a fast read ends the rest.
        overruns.fitted_at(slow, t0 + FIRST_PAUSE);
        assert!(!overruns.resting(slow));
        // A second overrun rests twice as long.
        overruns.mark_at(slow, t0);
        overruns.fitted_at(slow, t0 + FIRST_PAUSE);
        assert!(overruns.resting(slow));
        overruns.fitted_at(slow, t0 + 2 * FIRST_PAUSE);
        assert!(!overruns.resting(slow));
        // The pause stops growing at MAX_PAUSE.
        for _ in 0..40 {
            overruns.mark_at(slow, t0);
        }
        overruns.fitted_at(slow, t0 + MAX_PAUSE);
        assert!(!overruns.resting(slow));
    }
}
