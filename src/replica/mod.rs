//! Embedded replicas of a sqld (libsql-server) primary: libSQL's own
//! replication, never a protocol of ours.
//!
//! The primary holds every database as a namespace (the catalog one, each
//! tenant database another, named from catalog ids); a node keeps a replica
//! file of each in its data folder. A [`Replica`] syncs that file from the
//! primary and sends writes there; reads, with their authorizer and time
//! limits, run on plain read-only connections to the same file
//! ([`Replica::open_reader`]), because libsql's replica connections have no
//! authorizer, no `interrupt()` and no busy timeout.

pub mod admin;
pub mod metrics;
pub mod options;
pub mod point;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The longest a sync or an admin call may take: libsql's client sets no
/// timeout of its own.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the primary is and how a node proves itself to it.
#[derive(Clone)]
pub struct Primary {
    /// sqld's HTTP listener, which also serves replication (gRPC).
    pub url: String,
    /// sqld's admin listener.
    pub admin_url: String,
    /// A JWT the primary accepts (`--auth-jwt-key-file`), or empty.
    pub token: String,
    /// The admin listener's `--admin-auth-key`, if it has one.
    pub admin_key: Option<String>,
}

/// A node's link to its primary: where it is, and its admin API.
pub struct Replication {
    pub primary: Primary,
    pub admin: admin::Admin,
    /// How old a tenant replica's last sync may be before a read syncs it.
    pub max_staleness: Duration,
}

impl fmt::Debug for Replication {
    // Never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replication")
            .field("primary", &self.primary.url)
            .field("admin", &self.primary.admin_url)
            .finish()
    }
}

impl Replication {
    pub fn new(primary: Primary) -> Replication {
        let admin = admin::Admin::new(&primary.admin_url, primary.admin_key.clone());
        Replication {
            primary,
            admin,
            max_staleness: Duration::from_millis(500),
        }
    }

    /// Opens the replica of tenant database `id` at `path`, creating its
    /// namespace on the primary if needed, and syncs it once.
    pub async fn open_database(&self, id: i64, path: &Path) -> Result<Replica> {
        let ns = Namespace::database(id)?;
        let replica = Replica::open(&self.primary, &ns, path).await?;
        replica.sync().await?;
        Ok(replica)
    }
}

tokio::task_local! {
    static READ_AT: std::cell::Cell<ReadAt>;
}

/// A write the primary could not take (unreachable, or it failed to
/// answer): the client may retry, nothing was acknowledged.
#[derive(Debug, thiserror::Error)]
#[error("The primary cannot take writes right now: try again shortly")]
pub struct PrimaryUnavailable;

/// Where a request read or wrote on replicas: the highest frame, and
/// whether a replica it read could not sync.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReadAt {
    pub frame: Option<u64>,
    pub stale: bool,
}

/// Runs a request, also returning where it read or wrote on replicas.
pub async fn framed<F: std::future::Future>(work: F) -> (F::Output, ReadAt) {
    READ_AT
        .scope(std::cell::Cell::new(ReadAt::default()), async move {
            let output = work.await;
            (output, READ_AT.with(|r| r.get()))
        })
        .await
}

/// Notes the frame the current request read or wrote at (the highest wins).
pub fn note_frame(frame: u64) {
    let _ = READ_AT.try_with(|r| {
        let mut at = r.get();
        at.frame = Some(at.frame.map_or(frame, |had| had.max(frame)));
        r.set(at);
    });
}

/// Notes that the current request read a replica that could not sync.
pub fn note_stale() {
    let _ = READ_AT.try_with(|r| {
        let mut at = r.get();
        at.stale = true;
        r.set(at);
    });
}

/// A namespace name on the primary. sqld only checks that a name is not
/// empty and then uses it as a folder name, so libsette makes every name
/// itself, from catalog ids, and checks it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// The catalog's namespace.
    pub fn catalog() -> Namespace {
        Namespace("libsette-catalog".to_owned())
    }

    /// A tenant database's namespace, from its catalog id (never reused).
    pub fn database(id: i64) -> Result<Namespace> {
        if id <= 0 {
            bail!("database id {id} cannot name a namespace");
        }
        Ok(Namespace(format!("libsette-db-{id}")))
    }

    /// Checks a name found elsewhere (a URL, a file name).
    pub fn parse(name: &str) -> Result<Namespace> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.starts_with("libsette-")
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            bail!("{name:?} is not a libsette namespace");
        }
        Ok(Namespace(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One embedded replica: its file, its sync state, and the libsql database
/// that syncs it and delegates writes to the primary.
pub struct Replica {
    db: Arc<libsql::Database>,
    path: PathBuf,
    namespace: Namespace,
    /// The frame the file holds, as of the last sync (0: none yet).
    frame: AtomicU64,
    last_sync: Mutex<Option<Instant>>,
}

impl Replica {
    /// Opens (creating if needed) the replica file at `path` of namespace
    /// `ns`. Must run inside the tokio runtime; it does not sync.
    pub async fn open(primary: &Primary, ns: &Namespace, path: &Path) -> Result<Replica> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut http = hyper014::client::HttpConnector::new();
        http.set_nodelay(true);
        let db =
            libsql::Builder::new_remote_replica(path, primary.url.clone(), primary.token.clone())
                .connector(http)
                .namespace(ns.as_str())
                .read_your_writes(true)
                .build()
                .await
                .with_context(|| format!("opening the replica of {ns}"))?;
        let replica = Replica {
            db: Arc::new(db),
            path: path.to_owned(),
            namespace: ns.clone(),
            frame: AtomicU64::new(0),
            last_sync: Mutex::new(None),
        };
        if let Ok(Some(frame)) = replica.db.replication_index().await {
            replica.frame.store(frame, Ordering::Release);
        }
        Ok(replica)
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The frame the replica file holds, as of its last sync.
    pub fn frame(&self) -> u64 {
        self.frame.load(Ordering::Acquire)
    }

    /// How long ago the last successful sync ended.
    pub fn since_sync(&self) -> Option<Duration> {
        self.last_sync
            .lock()
            .expect("sync time")
            .map(|at| at.elapsed())
    }

    /// Pulls what the primary has; the frame the file then holds.
    pub async fn sync(&self) -> Result<u64> {
        let started = Instant::now();
        let synced = match tokio::time::timeout(SYNC_TIMEOUT, self.db.sync()).await {
            Ok(synced) => synced.with_context(|| format!("syncing {}", self.namespace)),
            Err(_) => Err(anyhow::anyhow!(
                "syncing {}: the primary did not answer in time",
                self.namespace
            )),
        };
        self.measure(started, synced.is_ok());
        Ok(self.note_synced(synced?.frame_no()))
    }

    /// Syncs until the file holds at least `frame`, or `wait` ran out.
    pub async fn sync_until(&self, frame: u64, wait: Duration) -> Result<u64> {
        if self.frame() >= frame {
            return Ok(self.frame());
        }
        let started = Instant::now();
        let wait = wait.min(SYNC_TIMEOUT);
        let synced = match tokio::time::timeout(wait, self.db.sync_until(frame)).await {
            Ok(synced) => synced.with_context(|| format!("syncing {}", self.namespace)),
            Err(_) => Err(anyhow::anyhow!(
                "{} did not reach frame {frame} in time",
                self.namespace
            )),
        };
        self.measure(started, synced.is_ok());
        Ok(self.note_synced(synced?.frame_no()))
    }

    /// Counts a sync's time, and its failure.
    fn measure(&self, started: Instant, ok: bool) {
        let m = &crate::metrics::metrics().replica;
        let kind = match self.namespace == Namespace::catalog() {
            true => "catalog",
            false => "database",
        };
        m.sync_seconds
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        if !ok {
            m.sync_errors.with_label_values(&[kind]).inc();
        }
    }

    fn note_synced(&self, frame: Option<u64>) -> u64 {
        if let Some(frame) = frame {
            self.frame.fetch_max(frame, Ordering::AcqRel);
        }
        *self.last_sync.lock().expect("sync time") = Some(Instant::now());
        self.frame()
    }

    /// The replica's libsql database (reads local, writes to the primary).
    pub fn database(&self) -> Arc<libsql::Database> {
        self.db.clone()
    }

    /// A connection whose writes go to the primary (reads on it are local).
    /// Writes must run inside the tokio runtime.
    pub fn writer(&self) -> Result<libsql::Connection> {
        self.db.connect().context("connecting to the replica")
    }

    /// The frame the latest write through this replica produced.
    pub fn written_frame(&self) -> Option<u64> {
        self.db.max_write_replication_index()
    }

    /// A plain read-only database on the replica file, for user SQL under
    /// the authorizer and time limits local files get.
    pub fn open_reader(&self) -> Result<libsql::Database> {
        crate::sqlite::open_file_read_only(&self.path)
    }
}

/// Syncs `replica` every `every` for as long as the runtime runs; failures
/// are logged and counted, and the replica keeps serving what it has.
pub async fn keep_synced(replica: Arc<Replica>, admin: admin::Admin, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let metrics = &crate::metrics::metrics().replica;
    for round in 0u64.. {
        tick.tick().await;
        if let Some(age) = replica.since_sync() {
            metrics.catalog_since_sync_seconds.set(age.as_secs_f64());
        }
        // The lag as the primary counts it, every few seconds.
        if round % 20 == 0
            && let Ok(primary) = admin.frame(replica.namespace()).await
        {
            let lag = primary.saturating_sub(replica.frame());
            metrics.catalog_lag_frames.set(lag as i64);
        }
        // Applying frames writes the file: on the blocking pool, not on a
        // worker that serves requests.
        let r = replica.clone();
        let synced =
            crate::sqlite::blocking(move || tokio::runtime::Handle::current().block_on(r.sync()))
                .await;
        match synced {
            Ok(_) if failing => {
                failing = false;
                tracing::info!(namespace = %replica.namespace(), "syncing works again");
            }
            Ok(_) => {}
            Err(err) => {
                if !failing {
                    tracing::warn!(namespace = %replica.namespace(), "sync failed: {err:#}");
                }
                failing = true;
            }
        }
    }
}
