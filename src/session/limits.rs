//! Bounds on logging in. Each attempt is counted as a failure *before* its
//! password is checked (so a burst of concurrent attempts cannot all slip
//! past the limit), per user name and client address (so an attacker
//! elsewhere cannot lock the real user out) and per address; and only a few
//! argon2 checks run at once, each holding 19 MiB, on threads of their own:
//! on the shared blocking pool every thread's heap would keep its 19 MiB.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};

/// How long failed attempts are remembered, from the first one.
pub const LOGIN_WINDOW_SECS: u64 = 300;
/// Failed attempts allowed for one user name from one address in the window.
pub const MAX_FAILURES_PER_USER_AND_ADDRESS: u32 = 10;
/// Failed attempts allowed from one address (an IPv6 /64) in the window.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 50;
/// Password checks that may run at once.
pub const HASHES_AT_ONCE: usize = 4;
/// How long an attempt waits for a free check before it is refused.
pub const HASH_WAIT: Duration = Duration::from_secs(2);

struct Counter {
    count: AtomicU32,
    since: Instant,
}

impl Counter {
    /// Seconds until this counter is forgotten.
    fn retry_after(&self) -> u64 {
        LOGIN_WINDOW_SECS
            .saturating_sub(self.since.elapsed().as_secs())
            .max(1)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Failure counters (bounded in memory) and the password checks' threads.
pub struct LoginLimiter {
    failures: moka::sync::Cache<String, Arc<Counter>>,
    /// One permit per checking thread: a check waits for one, briefly.
    turns: Arc<Semaphore>,
    jobs: mpsc::SyncSender<Job>,
}

/// Why an attempt is not tried.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures: retry after this many seconds.
    Limited(u64),
}

/// An attempt, counted as a failure unless it succeeds or is withdrawn.
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    pair_key: String,
    pair: Arc<Counter>,
    address: Arc<Counter>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        // Holders of a turn never exceed the threads, so a send never waits.
        let (jobs, queue) = mpsc::sync_channel::<Job>(HASHES_AT_ONCE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..HASHES_AT_ONCE {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("login-check-{i}"))
                .spawn(move || {
                    // Ends when the limiter (the sender) is dropped.
                    loop {
                        let job = queue
                            .lock()
                            .map_err(drop)
                            .and_then(|q| q.recv().map_err(drop));
                        let Ok(job) = job else { break };
                        // A panicking check must not take its thread along.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .expect("starting a login check thread");
        }
        LoginLimiter {
            failures: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(LOGIN_WINDOW_SECS))
                .build(),
            turns: Arc::new(Semaphore::new(HASHES_AT_ONCE)),
            jobs,
        }
    }
}

/// The part of an address one client controls: the address, or an IPv6 /64.
fn address_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl LoginLimiter {
    fn counter(&self, key: String) -> Arc<Counter> {
        self.failures.get_with(key, || {
            Arc::new(Counter {
                count: AtomicU32::new(0),
                since: Instant::now(),
            })
        })
    }

    /// Counts an attempt for `user` from `address`, or refuses it when
    /// either has used up its failures.
    pub fn begin(&self, user: &str, address: IpAddr) -> Result<Attempt<'_>, Refusal> {
        // A user name is at most 64 characters; longer input cannot grow the keys.
        let user: String = user.chars().take(64).collect();
        let address = address_key(address);
        let pair_key = format!("u:{user}\0{address}");
        let pair = self.counter(pair_key.clone());
        let address = self.counter(format!("a:{address}"));
        let over = |c: &Counter, max| c.count.fetch_add(1, Ordering::AcqRel) >= max;
        let pair_over = over(&pair, MAX_FAILURES_PER_USER_AND_ADDRESS);
        let address_over = over(&address, MAX_FAILURES_PER_ADDRESS);
        let attempt = Attempt {
            limiter: self,
            pair_key,
            pair,
            address,
        };
        if pair_over || address_over {
            let wait = [(pair_over, &attempt.pair), (address_over, &attempt.address)]
                .iter()
                .filter(|(over, _)| *over)
                .map(|(_, c)| c.retry_after())
                .max()
                .unwrap_or(1);
            attempt.withdraw();
            return Err(Refusal::Limited(wait));
        }
        Ok(attempt)
    }

    /// Runs a password check on a checking thread once one is free, waiting
    /// at most [`HASH_WAIT`]; `None` when the server is too busy. The turn is
    /// held until the check ends, even if the request is dropped meanwhile.
    pub async fn check<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let turn = tokio::time::timeout(HASH_WAIT, self.turns.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(check());
            drop(turn);
        });
        self.jobs.try_send(job).ok()?;
        result.await.ok()
    }
}

impl Attempt<'_> {
    /// The password was right: the user's failures from this address are
    /// forgotten, and the attempt does not count against the address.
    pub fn succeeded(self) {
        self.limiter.failures.invalidate(&self.pair_key);
        self.address.count.fetch_sub(1, Ordering::AcqRel);
    }

    /// The password was never checked: the attempt does not count.
    pub fn withdraw(self) {
        self.pair.count.fetch_sub(1, Ordering::AcqRel);
        self.address.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn failures_count_per_user_and_address() {
        let limiter = LoginLimiter::default();
        for _ in 0..MAX_FAILURES_PER_USER_AND_ADDRESS {
            drop(limiter.begin("alice", ip("1.2.3.4")).unwrap());
        }
        assert!(matches!(
            limiter.begin("alice", ip("1.2.3.4")),
            Err(Refusal::Limited(s)) if s > 0 && s <= LOGIN_WINDOW_SECS
        ));
        // Elsewhere the real user is not locked out, and succeeding there
        // leaves the attacker's lock in place.
        limiter.begin("alice", ip("5.6.7.8")).unwrap().succeeded();
        assert!(limiter.begin("alice", ip("1.2.3.4")).is_err());
        assert!(limiter.begin("bob", ip("1.2.3.4")).is_ok());
    }

    #[test]
    fn withdrawn_and_successful_attempts_do_not_count() {
        let limiter = LoginLimiter::default();
        for _ in 0..3 * MAX_FAILURES_PER_USER_AND_ADDRESS {
            limiter.begin("alice", ip("1.2.3.4")).unwrap().withdraw();
        }
        for _ in 0..MAX_FAILURES_PER_USER_AND_ADDRESS - 1 {
            drop(limiter.begin("alice", ip("1.2.3.4")).unwrap());
        }
        limiter.begin("alice", ip("1.2.3.4")).unwrap().succeeded();
        assert!(limiter.begin("alice", ip("1.2.3.4")).is_ok(), "reset");
    }

    #[test]
    fn an_address_has_its_own_limit_and_ipv6_counts_by_64() {
        let limiter = LoginLimiter::default();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            let address = ip(&format!("2001:db8:1:2::{i:x}"));
            drop(limiter.begin(&format!("user{i}"), address).unwrap());
        }
        assert!(limiter.begin("other", ip("2001:db8:1:2:ffff::1")).is_err());
        assert!(limiter.begin("other", ip("2001:db8:1:3::1")).is_ok());
        assert_eq!(address_key(ip("::ffff:10.0.0.1")), "10.0.0.1");
    }
}
