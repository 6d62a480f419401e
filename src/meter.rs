//! What a request's reads did, for the result cache to judge the answer by:
//! the CPU time they took (wherever they ran, whatever queues they waited
//! in) and whether any of them may answer differently when run again.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

tokio::task_local! {
    static WORK: Arc<Meter>;
}

/// What a request's reads did, as far as caching its answer goes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    /// CPU time spent reading, in place or on the blocking pool.
    pub cpu: Duration,
    /// A read's answer may differ if run again (see [`mark_volatile`]).
    pub volatile: bool,
}

#[derive(Default)]
struct Meter {
    cpu_nanos: AtomicU64,
    volatile: AtomicBool,
}

/// Runs `work`, also returning what its reads did: the CPU time they took,
/// whatever the queues they waited in, and whether any was volatile.
pub async fn metered<F: Future>(work: F) -> (F::Output, Work) {
    let meter = Arc::new(Meter::default());
    let output = WORK.scope(meter.clone(), work).await;
    let work = Work {
        cpu: Duration::from_nanos(meter.cpu_nanos.load(Ordering::Relaxed)),
        volatile: meter.volatile.load(Ordering::Relaxed),
    };
    (output, work)
}

/// Adds to the current request's CPU time, if it is metered.
pub fn add_work(cpu: Duration) {
    let _ = WORK.try_with(|meter| {
        meter
            .cpu_nanos
            .fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
    });
}

/// Notes that the current request read something that may differ on the
/// next run (`random()`, `datetime('now')`): its answer must not be reused.
pub fn mark_volatile() {
    let _ = WORK.try_with(|meter| meter.volatile.store(true, Ordering::Relaxed));
}

/// Runs `f` and measures the CPU time this thread spent on it.
pub fn on_cpu<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let before = thread_cpu();
    let value = f();
    (value, thread_cpu().saturating_sub(before))
}

/// [`on_cpu`] for work that rarely takes `long`: when its wall time is
/// shorter, that is its CPU time too (nothing in it waits), and the second
/// reading of the thread's clock, a system call, is skipped.
pub fn on_cpu_brief<T>(long: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
    let before = thread_cpu();
    let started = std::time::Instant::now();
    let value = f();
    let wall = started.elapsed();
    let cpu = match wall < long {
        true => wall,
        false => thread_cpu().saturating_sub(before),
    };
    (value, cpu)
}

fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
    if ok {
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_work_counts_its_wall_time_and_long_work_its_cpu() {
        let long = Duration::from_millis(1);
        let ((), cpu) = on_cpu_brief(long, || {});
        assert!(cpu < long);
        // Sleeping past `long` takes wall time but next to no CPU.
        let ((), cpu) = on_cpu_brief(long, || std::thread::sleep(Duration::from_millis(20)));
        assert!(cpu < Duration::from_millis(10), "{cpu:?}");
    }
}
