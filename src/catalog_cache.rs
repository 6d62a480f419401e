//! Caches in front of the catalog (spaces, database lists, tokens, permission
//! decisions). An answer is reused while it is younger than [`CATALOG_TTL`],
//! as the promise "a revocation or grant applies within a second" allows; and
//! beyond that for as long as the catalog's files have not changed at all.
//! A watcher thread stamps the catalog's files ten times a second (see
//! [`crate::stamp`]) and moves an epoch whenever they changed or are still
//! settling; an answer from an older epoch lives out its second and goes.
//! So a quiet catalog is read once per answer, however many spaces are served,
//! and a busy one behaves like a plain one-second cache.
//!
//! A request run under [`noting_basis`] also learns the [`Basis`] of the
//! answers it used: for how long a decision made from them holds (the front
//! index, `crate::http::front`, keeps a whole answer for that long).

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
    /// Moves whenever this process forgets answers (its own change).
    forgotten: Arc<AtomicU64>,
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
        CatalogWatch {
            epoch,
            forgotten: Default::default(),
        }
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether answers resting on `basis` may still be used, as each answer
    /// would be by its own cache: younger than [`CATALOG_TTL`], or read in
    /// the current epoch; and nothing forgotten here since.
    pub fn holds(&self, basis: &Basis) -> bool {
        // The epochs first: they hold while the catalog is unchanged, and
        // spare the clock (read several times a request otherwise).
        basis.forgotten == self.forgotten.load(Ordering::Acquire)
            && ((basis.lowest_epoch == basis.highest_epoch && basis.highest_epoch == self.epoch())
                || basis.oldest.elapsed() < CATALOG_TTL)
    }
}

/// What the catalog answers a request used rest on: their oldest read and
/// the span of epochs they were read in.
#[derive(Clone, Copy, Debug)]
pub struct Basis {
    oldest: Instant,
    lowest_epoch: u64,
    highest_epoch: u64,
    forgotten: u64,
}

impl Basis {
    fn with(self, epoch: u64, read_at: Instant) -> Basis {
        Basis {
            oldest: self.oldest.min(read_at),
            lowest_epoch: self.lowest_epoch.min(epoch),
            highest_epoch: self.highest_epoch.max(epoch),
            forgotten: self.forgotten,
        }
    }
}

tokio::task_local! {
    static BASIS: std::cell::Cell<Option<Basis>>;
}

/// Runs `work`, also returning the basis of every catalog answer it used
/// (`None` if it used none).
pub async fn noting_basis<F: Future>(watch: &CatalogWatch, work: F) -> (F::Output, Option<Basis>) {
    // Taken first: forgetting during the work leaves the basis stale.
    let start = Basis {
        oldest: Instant::now(),
        lowest_epoch: u64::MAX,
        highest_epoch: 0,
        forgotten: watch.forgotten.load(Ordering::Acquire),
    };
    let cell = std::cell::Cell::new(None);
    BASIS
        .scope(cell, async move {
            let output = work.await;
            let used = BASIS.with(|cell| cell.get());
            (
                output,
                used.map(|b: Basis| Basis {
                    forgotten: start.forgotten,
                    ..b
                }),
            )
        })
        .await
}

/// Adds one answer to the current request's basis, if it is noted.
fn note(epoch: u64, read_at: Instant) {
    let _ = BASIS.try_with(|cell| {
        let start = Basis {
            oldest: read_at,
            lowest_epoch: epoch,
            highest_epoch: epoch,
            forgotten: 0,
        };
        cell.set(Some(cell.get().map_or(start, |b| b.with(epoch, read_at))));
    });
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
    entries: crate::cache::Moka<K, Entry<V>>,
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
                .build_with_hasher(crate::cache::CacheHasher::new()),
            watch: watch.clone(),
        }
    }

    /// Forgets every answer, so this process sees its own catalog change at once.
    pub fn forget_all(&self) {
        self.watch.forgotten.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// A recent answer for `key`, if one is known (counted as a hit).
    pub fn fresh<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entries.get(key)?;
        if entry.epoch == self.watch.epoch() || entry.read_at.elapsed() < CATALOG_TTL {
            crate::metrics::metrics().cache_event(self.name, "hit");
            note(entry.epoch, entry.read_at);
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
        note(epoch, read_at);
        let entry = Entry {
            value: value.clone(),
            epoch,
            read_at,
        };
        self.entries.insert(key, entry);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch_at(epoch: u64) -> CatalogWatch {
        CatalogWatch {
            epoch: Arc::new(AtomicU64::new(epoch)),
            forgotten: Default::default(),
        }
    }

    fn read(epoch: u64, ago_ms: u64) -> (u64, Instant) {
        let at = Instant::now() - Duration::from_millis(ago_ms);
        (epoch, at)
    }

    fn basis(reads: &[(u64, Instant)]) -> Basis {
        let (epoch, at) = reads[0];
        let first = Basis {
            oldest: at,
            lowest_epoch: epoch,
            highest_epoch: epoch,
            forgotten: 0,
        };
        reads[1..].iter().fold(first, |b, &(e, at)| b.with(e, at))
    }

    #[test]
    fn a_basis_holds_while_every_answer_in_it_would() {
        let watch = watch_at(7);
        // Read long ago in the current epoch: the catalog has not changed.
        assert!(watch.holds(&basis(&[read(7, 5000), read(7, 3000)])));
        // One answer from an older epoch lives out its second, no longer,
        // however current the others are.
        assert!(watch.holds(&basis(&[read(6, 500), read(7, 10)])));
        assert!(!watch.holds(&basis(&[read(6, 1500), read(7, 10)])));
        // The catalog changed since: a second from the oldest read.
        let moved = watch_at(8);
        assert!(moved.holds(&basis(&[read(7, 200)])));
        assert!(!moved.holds(&basis(&[read(7, 1200)])));
    }

    #[tokio::test]
    async fn forgetting_here_ends_every_basis_taken_before() {
        let watch = watch_at(1);
        let cache: CatalogCache<u8, u8> = CatalogCache::new("test", 10, &watch);
        let (_, noted) = noting_basis(&watch, async {
            cache.get_or_load(1, async { Ok(2) }).await.unwrap();
            cache.fresh(&1).unwrap();
        })
        .await;
        let noted = noted.expect("two answers used");
        assert!(watch.holds(&noted));
        cache.forget_all();
        assert!(!watch.holds(&noted));
        let (_, none) = noting_basis(&watch, async {}).await;
        assert!(none.is_none());
    }
}
