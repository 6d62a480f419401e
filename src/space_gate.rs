//! A space's shares of the server, shared by every open database of the
//! space: how many of its reads run at once (`max_concurrent_queries`), how
//! long a read waits for a turn (`max_query_wait_ms`), and how large each
//! of its database files may grow (`max_database_mb`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::settings::Settings;

/// Turns when `max_concurrent_queries` is 0 (no limit).
const UNLIMITED: usize = 1 << 20;

/// One space's limits, read on every read and write without a lock.
pub struct SpaceGate {
    turns: Arc<Semaphore>,
    /// Turns the semaphore holds in all (given out or not).
    size: AtomicUsize,
    /// The `max_concurrent_queries` asked for, which `size` follows.
    wanted: AtomicUsize,
    wait_ms: AtomicU64,
    /// Bytes one database file may hold (0: no limit).
    max_bytes: AtomicU64,
    resizing: Mutex<()>,
}

impl SpaceGate {
    fn new(settings: &Settings) -> SpaceGate {
        let gate = SpaceGate {
            turns: Arc::new(Semaphore::new(0)),
            size: AtomicUsize::new(0),
            wanted: AtomicUsize::new(usize::MAX),
            wait_ms: AtomicU64::new(0),
            max_bytes: AtomicU64::new(0),
            resizing: Mutex::new(()),
        };
        gate.fit(settings);
        gate
    }

    /// Follows the space's settings (they may change while the server runs):
    /// a few atomic loads when nothing changed.
    pub fn fit(&self, settings: &Settings) {
        self.wait_ms
            .store(settings.int("max_query_wait_ms"), Ordering::Relaxed);
        self.max_bytes.store(
            settings.int("max_database_mb").saturating_mul(1 << 20),
            Ordering::Relaxed,
        );
        let wanted = match settings.int("max_concurrent_queries") {
            0 => UNLIMITED,
            n => (n as usize).min(UNLIMITED),
        };
        if self.wanted.load(Ordering::Relaxed) != wanted
            || self.size.load(Ordering::Relaxed) != wanted
        {
            self.resize(wanted);
        }
    }

    /// Adds or withdraws turns; turns held now are withdrawn by a later call.
    fn resize(&self, wanted: usize) {
        let _one_at_a_time = self.resizing.lock().unwrap_or_else(|e| e.into_inner());
        self.wanted.store(wanted, Ordering::Relaxed);
        let size = self.size.load(Ordering::Relaxed);
        if wanted > size {
            self.turns.add_permits(wanted - size);
            self.size.store(wanted, Ordering::Relaxed);
        } else if wanted < size {
            let withdrawn = self.turns.forget_permits(size - wanted);
            self.size.store(size - withdrawn, Ordering::Relaxed);
        }
    }

    /// A turn to read, if one is free now.
    pub fn try_turn(&self) -> Option<OwnedSemaphorePermit> {
        self.turns.clone().try_acquire_owned().ok()
    }

    /// Waits for a turn to read, at most `max_query_wait_ms`; `None` when
    /// the space has too many reads running for that long.
    pub async fn turn(&self) -> Option<OwnedSemaphorePermit> {
        let wait = Duration::from_millis(self.wait_ms.load(Ordering::Relaxed));
        match tokio::time::timeout(wait, self.turns.clone().acquire_owned()).await {
            Ok(permit) => permit.ok(),
            Err(_) => None,
        }
    }

    /// The most bytes one database of the space may hold (0: no limit).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }
}

/// Gates by space name: one per space while any of its databases is open.
#[derive(Clone, Default)]
pub struct SpaceGates {
    live: Arc<Mutex<HashMap<String, Weak<SpaceGate>>>>,
}

impl SpaceGates {
    /// The gate of `space`, shared with its other open databases; a new one
    /// starts from `settings` (a live one keeps what [`SpaceGate::fit`] set).
    pub fn get(&self, space: &str, settings: &Settings) -> Arc<SpaceGate> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gate) = live.get(space).and_then(Weak::upgrade) {
            return gate;
        }
        // Only opening a database comes here: the sweep is cheap beside it.
        live.retain(|_, gate| gate.strong_count() > 0);
        let gate = Arc::new(SpaceGate::new(settings));
        live.insert(space.to_owned(), Arc::downgrade(&gate));
        gate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[tokio::test]
    async fn turns_follow_the_setting_and_waits_end() {
        let gates = SpaceGates::default();
        let s = settings(&[("max_concurrent_queries", "2"), ("max_query_wait_ms", "20")]);
        let gate = gates.get("a", &s);
        assert!(
            Arc::ptr_eq(&gate, &gates.get("a", &s)),
            "one gate per space"
        );
        let first = gate.try_turn().unwrap();
        let _second = gate.try_turn().unwrap();
        assert!(gate.try_turn().is_none());
        assert!(gate.turn().await.is_none(), "the wait ends");
        // Shrinking while turns are held takes effect as they come back.
        let one = settings(&[("max_concurrent_queries", "1")]);
        gate.fit(&one);
        drop(first);
        gate.fit(&one);
        assert!(gate.try_turn().is_none());
        gate.fit(&settings(&[("max_concurrent_queries", "3")]));
        assert!(gate.try_turn().is_some());
        assert!(gates.get("b", &s).try_turn().is_some(), "spaces are apart");
    }
}
