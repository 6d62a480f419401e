//! Caches in front of the catalog (spaces, database lists, tokens, permission
//! decisions). An answer is reused while it is younger than [`CATALOG_TTL`],
//! as the promise "a revocation or grant applies within a second" allows; and
//! beyond that for as long as the catalog's files have not changed at all.
//! A watcher thread stamps the catalog's files ten times a second (see
//! [`crate::stamp`]) and moves an epoch whenever they changed or are still
//! settling; an answer from an older epoch lives out its second and goes.
//! So a quiet catalog is read once per answer, however many spaces are served,
//! and a busy one behaves like a plain one-second cache.

use std::hash::Hash;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How long catalog answers may be reused without asking whether the catalog
/// changed: a revocation or grant change made anywhere applies within this time.
pub const CATALOG_TTL: Duration = Duration::from_secs(1);
/// How often the watcher stamps the catalog's files.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// Even an unchanged catalog's answers are read again after this long.
const LONGEST: Duration = Duration::from_secs(600);

/// Moves whenever the catalog's files may have changed.
#[derive(Clone)]
pub struct CatalogWatch {
    epoch: Arc<AtomicU64>,
}

impl CatalogWatch {
    /// Starts watching the catalog at `path`; the thread ends with the last clone.
    pub fn start(path: PathBuf) -> CatalogWatch {
        let epoch = Arc::new(AtomicU64::new(0));
        let weak: Weak<AtomicU64> = Arc::downgrade(&epoch);
        std::thread::Builder::new()
            .name("catalog-watch".into())
            .spawn(move || {
                let mut last = None;
                while let Some(epoch) = weak.upgrade() {
                    let now = crate::stamp::take(&path);
                    // An untrusted stamp (files still settling) counts as a change.
                    if now.is_none() || now != last {
                        epoch.fetch_add(1, Ordering::AcqRel);
                    }
                    last = now;
                    drop(epoch);
                    std::thread::sleep(WATCH_EVERY);
                }
            })
            .expect("starting the catalog watcher");
        CatalogWatch { epoch }
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    /// The epoch and time before the value was read.
    epoch: u64,
    read_at: Instant,
}

/// One cache of catalog answers, named for its metrics.
pub struct CatalogCache<K, V> {
    name: &'static str,
    entries: moka::sync::Cache<K, Entry<V>>,
    watch: CatalogWatch,
}

impl<K, V> CatalogCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(name: &'static str, capacity: u64, watch: &CatalogWatch) -> Self {
        CatalogCache {
            name,
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(LONGEST)
                .build(),
            watch: watch.clone(),
        }
    }

    /// Forgets every answer, so this process sees its own catalog change at once.
    pub fn forget_all(&self) {
        self.entries.invalidate_all();
    }

    /// A recent answer for `key`, if one is known (counted as a hit).
    pub fn fresh<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entries.get(key)?;
        if entry.read_at.elapsed() < CATALOG_TTL || entry.epoch == self.watch.epoch() {
            crate::metrics::metrics().cache_event(self.name, "hit");
            return Some(entry.value);
        }
        None
    }

    /// The answer for `key`, read with `load` unless a recent one is known.
    pub async fn get_or_load<F>(&self, key: K, load: F) -> anyhow::Result<V>
    where
        F: Future<Output = anyhow::Result<V>>,
    {
        if let Some(value) = self.fresh(&key) {
            return Ok(value);
        }
        crate::metrics::metrics().cache_event(self.name, "miss");
        // Taken before reading: a change during the read moves the epoch
        // past this one, so the answer cannot outlive its second.
        let (epoch, read_at) = (self.watch.epoch(), Instant::now());
        let value = load.await?;
        let entry = Entry {
            value: value.clone(),
            epoch,
            read_at,
        };
        self.entries.insert(key, entry);
        Ok(value)
    }
}
