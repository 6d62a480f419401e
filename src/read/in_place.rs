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

    fn connection() -> (tempfile::TempDir, libsql::Database, Connection) {
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
}
