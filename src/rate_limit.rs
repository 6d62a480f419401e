//! Requests per minute per token, per signed-in user and per client address:
//! a generic cell rate algorithm (GCRA) over a bounded moka map, so a flood
//! of callers costs bounded memory and each caller one small lock.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Who is counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// An API token, by id.
    Token(i64),
    /// A user signed in with a session cookie, by id.
    User(i64),
    /// An anonymous client of one space, by address (IPv6 by its /64, which
    /// one client usually holds whole).
    Address(i64, IpAddr),
}

impl Caller {
    /// An anonymous client of `space_id` at `ip`.
    pub fn address(space_id: i64, ip: IpAddr) -> Caller {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        };
        Caller::Address(space_id, ip)
    }

    /// The bounded label `/metrics` counts refusals under.
    pub fn scope(&self) -> &'static str {
        match self {
            Caller::Token(_) => "token",
            Caller::User(_) => "user",
            Caller::Address(..) => "address",
        }
    }
}

/// Callers remembered at once; past this the least used are forgotten
/// (which only forgives them: the limiter fails open, never shut).
const CALLERS: u64 = 100_000;

/// Each caller's theoretical arrival time: the limiter's whole state.
pub struct RateLimiter {
    cells: moka::sync::Cache<Caller, Arc<Mutex<Instant>>>,
}

impl Default for RateLimiter {
    fn default() -> RateLimiter {
        RateLimiter {
            cells: moka::sync::Cache::builder()
                .max_capacity(CALLERS)
                // Idle for a minute, a caller's cell is as good as new.
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }
}

impl RateLimiter {
    /// Counts one request of `caller`, allowed `per_minute` (in a burst of up
    /// to that many, then evenly); 0 means no limit. When refused, says how
    /// long until the next request would be allowed.
    pub fn check(&self, caller: Caller, per_minute: u64) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let interval = Duration::from_secs(60) / per_minute.min(u32::MAX as u64) as u32;
        let tolerance = Duration::from_secs(60).saturating_sub(interval);
        let cell = self.cells.get_with(caller, || Arc::new(Mutex::new(now)));
        let mut tat = cell.lock().unwrap_or_else(|e| e.into_inner());
        let start = (*tat).max(now);
        let ahead = start - now;
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        *tat = start + interval;
        Ok(())
    }
}

/// Whole seconds to wait, at least one, for a `Retry-After` header.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_and_others_unaffected() {
        let limiter = RateLimiter::default();
        for _ in 0..5 {
            assert!(limiter.check(Caller::Token(1), 5).is_ok());
        }
        let wait = limiter.check(Caller::Token(1), 5).unwrap_err();
        // One request every 12 s: the next is allowed within that.
        assert!(wait <= Duration::from_secs(12) && !wait.is_zero());
        assert_eq!(retry_after_secs(wait), wait.as_secs_f64().ceil() as u64);
        assert!(limiter.check(Caller::Token(2), 5).is_ok());
        assert!(limiter.check(Caller::Token(1), 0).is_ok(), "0 is no limit");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Caller::address(1, a), Caller::address(1, b));
        assert_ne!(Caller::address(1, a), Caller::address(1, c));
        let v4: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            Caller::address(1, v4),
            Caller::address(1, "10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
