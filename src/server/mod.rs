//! `libsette serve`: opens the data folder (creating it, with the demo space,
//! when new), binds, prints where to go, and serves until Ctrl-C or SIGTERM;
//! then it finishes the requests in flight (bounded), empties every WAL
//! into its database and exits 0.

mod logs;
mod options;

pub use options::{ConnectionArgs, LogFormat, ServeArgs};

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::RngCore;

use crate::app::{App, Config};
use crate::catalog::{Catalog, DataDir};
use crate::settings::Settings;
use crate::{conn, demo, http};

/// The session-signing secret: given, or generated once and kept in the data folder.
fn load_or_create_secret(data: &DataDir, given: Option<String>) -> Result<String> {
    if let Some(secret) = given {
        return Ok(secret);
    }
    let path = data.secret();
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    write_private(&path, &secret)?;
    Ok(secret)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// How often a node syncs its catalog replica: revocations and grants made
/// through any node reach this one within about this (plus the catalog
/// caches' second).
const CATALOG_SYNC: Duration = Duration::from_millis(250);

pub fn run(data: DataDir, args: ServeArgs) -> Result<()> {
    let _log = logs::init(args.log_format);
    // Secrets first: a missing secret file must stop us before the data folder changes.
    let given_secret = args.secret()?;
    let metrics_token = args.metrics_token()?;
    let pairs: Vec<(String, String)> = args
        .settings
        .chunks(2)
        .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default()))
        .collect();
    let settings = Settings::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // A replicated catalog opens over the network: inside the runtime.
    let entered = runtime.enter();
    // A node of a replicated deployment gets no demo: its catalog is shared.
    let fresh = !data.catalog().exists() && data.replication().is_none();
    let catalog = Catalog::open(&data)?;
    // A new data folder: the demo space, and a one-time login link for its
    // owner, the instance admin (as `datasette --root` prints one).
    let root_code = if fresh {
        let conn = catalog.conn()?;
        demo::create(&conn, &data).context("creating the demo space")?;
        let admin =
            crate::catalog::users::find_id(&conn, demo::OWNER)?.context("the demo owner exists")?;
        crate::catalog::logins::set_admin(&conn, admin, true)?;
        Some(crate::catalog::logins::create_code(&conn, admin)?)
    } else {
        None
    };
    let secret = load_or_create_secret(&data, given_secret)?;
    // Bound before the app is built: the default public URL is the address.
    let listener = std::net::TcpListener::bind(&args.bind)
        .with_context(|| format!("binding {}", args.bind))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    if args.public_url.is_none() && addr.ip().is_unspecified() {
        tracing::warn!(
            "bound to {addr}: absolute URLs in answers will name localhost; set --public-url"
        );
    }
    let public_url = args
        .public_url
        .unwrap_or_else(|| crate::origin::Origin::from_bind(addr));
    let descriptors = descriptor_limit();
    let databases = open_database_budget(descriptors);
    let limits = connection_limits(&args.connections, descriptors, databases)?;
    let config = Config {
        settings,
        cors: args.cors,
        spaces_domain: args.spaces_domain,
        public_url,
        secret,
        metrics_token,
        max_open_databases: databases,
        result_cache_bytes: args.result_cache_mb.saturating_mul(1 << 20),
    };
    // Links for people use the public URL: the bound address may be 0.0.0.0.
    let public = config.public_url.with_scheme(false);
    data.remove_snapshots();
    data.remove_uploads();
    let app = App::new(data.clone(), catalog, config);
    if let Some(replica) = app.catalog.replica.clone() {
        let admin = app.data.replication().map(|r| r.admin.clone());
        let admin = admin.expect("a catalog replica comes with its primary");
        runtime.spawn(crate::replica::keep_synced(replica, admin, CATALOG_SYNC));
    }
    let replicated = app.data.replication().is_some();
    let served = runtime.block_on(async move {
        // Before anything is printed: whoever reads the address may stop us at once.
        let stop = stop_signal()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let dir = data.root().display();
        println!("libsette listening on http://{addr}");
        if replicated {
            println!("A node on the primary's replicas: spaces come from its catalog");
        } else {
            println!("Browse the demo space:  {public}/{}/", demo::SPACE);
        }
        println!("Mint an API token:      libsette --data-dir {dir} token create SPACE ACTOR");
        println!(
            "  for example:          libsette --data-dir {dir} token create {} {}",
            demo::SPACE,
            demo::OWNER
        );
        if let Some(code) = root_code {
            println!(
                "Log in as {} (works once, for 24 hours): {public}/-/auth-token?token={code}",
                demo::OWNER
            );
        }
        std::io::stdout().flush()?;
        conn::serve(listener, http::Http::new(app.clone()), limits, stop).await;
        checkpoint_all(&app).await;
        Ok::<_, anyhow::Error>(())
    });
    // Work cut off by the drain may still hold a blocking thread: wait a little, not forever.
    drop(entered);
    runtime.shutdown_timeout(Duration::from_secs(5));
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Empties every open database's WAL into its file, the catalog's last, so
/// a stopped server leaves whole files (copied, backed up or upgraded as they are).
async fn checkpoint_all(app: &App) {
    let (open, unfinished) = app.tenants.checkpoint_all().await;
    let catalog = match app.catalog.checkpoint().await {
        Ok(done) => done,
        Err(err) => {
            tracing::warn!("checkpointing the catalog: {err:#}");
            false
        }
    };
    tracing::info!(
        databases = open,
        unfinished = unfinished + usize::from(!catalog),
        "checkpointed"
    );
}

/// At most this many tenant databases stay open: each holds ~130 KB of
/// SQLite memory (connection, schema, lookaside, shared-memory index), so
/// this keeps them near 70 MB. Cached answers need no open database.
pub const MAX_OPEN_DATABASES: u64 = 512;

/// Descriptors kept for the catalog, the listener, logs and imports.
const RESERVED_DESCRIPTORS: u64 = 64;

/// Descriptors a busy database holds at most: four readers and the writer
/// with their files and WALs, and the shared memory (11), with room.
const DESCRIPTORS_PER_DATABASE: u64 = 20;

/// Connections at most by default: each costs memory (buffers, a task),
/// and a public server rarely needs more; `--max-connections` raises it.
const MAX_CONNECTIONS: u64 = 10_000;

/// The descriptor limit, raised to its hard maximum first; `None` where
/// there is none to read.
fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                if limit.rlim_cur < limit.rlim_max {
                    let raised = libc::rlimit {
                        rlim_cur: limit.rlim_max,
                        rlim_max: limit.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        limit.rlim_cur = limit.rlim_max;
                    }
                }
                return Some(limit.rlim_cur);
            }
        }
    }
    None
}

/// How many tenant databases may stay open: the budget follows the
/// descriptor limit, keeping 256 for sockets and the catalog, and never
/// passes [`MAX_OPEN_DATABASES`].
fn open_database_budget(descriptors: Option<u64>) -> u64 {
    match descriptors {
        Some(n) => (n.saturating_sub(256) / DESCRIPTORS_PER_DATABASE).clamp(64, MAX_OPEN_DATABASES),
        None => MAX_OPEN_DATABASES,
    }
}

/// The connection limits: by default, connections get the descriptors the
/// databases' budget leaves (at least 128: at a tiny limit both floors
/// overcommit), so sockets can never starve the databases.
fn connection_limits(
    args: &ConnectionArgs,
    descriptors: Option<u64>,
    databases: u64,
) -> Result<conn::Limits> {
    let secs = |n: u64| (n > 0).then(|| Duration::from_secs(n));
    let left = descriptors.map_or(MAX_CONNECTIONS, |n| {
        n.saturating_sub(RESERVED_DESCRIPTORS + databases * DESCRIPTORS_PER_DATABASE)
    });
    Ok(conn::Limits {
        header: secs(args.header_timeout_secs),
        idle: secs(args.idle_timeout_secs),
        body: secs(args.body_timeout_secs),
        max_connections: args
            .max_connections
            .unwrap_or(left.clamp(128, MAX_CONNECTIONS) as usize),
        max_per_address: args.max_connections_per_address,
        drain: secs(args.shutdown_timeout_secs),
        proxies: std::sync::Arc::new(conn::proxies::TrustedProxies::parse(&args.trusted_proxies)?),
    })
}

/// Resolves on the first SIGTERM or Ctrl-C (SIGINT). The handlers are in
/// place when this returns, so a signal that comes before the first poll
/// is not lost (nor does it kill the process).
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        Ok(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "stop asked for");
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
