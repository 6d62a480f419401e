//! Reads on a replicated node as a share of reads on a local data folder,
//! in the same run, and the latency of writes delegated to the primary
//! beside local writes. Needs a sqld binary in `LIBSETTE_SQLD` (else it
//! says it skipped). Both nodes hold the same table of 1,000 rows; every
//! read URL is new, so neither answers from a cache.
//!
//! `cargo bench --bench replica` — `BENCH_SECONDS` (default 5) per phase.
//! Under `cargo test` it runs as a short smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use common::sqld::{self, Sqld};
use serde_json::json;

const CLIENTS: usize = 8;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 5.0 } else { 0.3 });
    let Some(binary) = sqld::binary("bench replica") else {
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(
            binary,
            Duration::from_secs_f64(seconds),
            if full { 200 } else { 20 },
        ));
}

/// `libsette [--primary …] ARGS` on `dir`.
fn cli(primary: Option<&Sqld>, dir: &std::path::Path, args: &[&str]) -> String {
    let flags = primary.map(|p| (p.url(), p.admin_url()));
    let mut all: Vec<&str> = Vec::new();
    if let Some((url, admin)) = &flags {
        all.extend(["--primary", url, "--primary-admin-url", admin]);
    }
    all.extend_from_slice(args);
    common::cli(dir, &all)
}

/// A node (local or replicated) with space `s`, database `d`, table `t` of
/// 1,000 rows written through its API; its token.
async fn node(primary: Option<&Sqld>) -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    cli(primary, dir.path(), &["user", "create", "bench"]);
    cli(
        primary,
        dir.path(),
        &["space", "create", "s", "--owner", "bench"],
    );
    cli(
        primary,
        dir.path(),
        &[
            "space",
            "set",
            "s",
            "--setting",
            "rate_limit_token_per_minute",
            "0",
        ],
    );
    cli(primary, dir.path(), &["db", "create", "s", "d"]);
    let token = cli(primary, dir.path(), &["token", "create", "s", "bench"])
        .trim()
        .to_owned();
    let flags = primary.map(|p| (p.url(), p.admin_url()));
    let extra: Vec<&str> = match &flags {
        Some((url, admin)) => vec!["--primary", url, "--primary-admin-url", admin],
        None => vec![],
    };
    let server = Server::start_in(dir, &extra);
    let create = json!({"table": "t", "pk": "id", "columns": [
        {"name": "id", "type": "integer"}, {"name": "v", "type": "text"}]});
    assert_eq!(
        server
            .post("/s/d/-/create", Some(&token), &create)
            .await
            .status,
        201
    );
    // Inserts take at most 100 rows a request (Datasette's max_insert_rows).
    for batch in 0..10 {
        let rows: Vec<_> = (1..=100)
            .map(|i| batch * 100 + i)
            .map(|i| json!({"id": i, "v": format!("row {i}")}))
            .collect();
        let reply = server
            .post("/s/d/t/-/insert", Some(&token), &json!({"rows": rows}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    (server, token)
}

/// Requests per second of small uncached reads from `CLIENTS` clients.
async fn reads(server: &Arc<Server>, token: &str, phase: Duration) -> f64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let until = Instant::now() + phase;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (server, token) = (server.clone(), token.to_owned());
        clients.push(tokio::spawn(async move {
            let mut done = 0usize;
            while Instant::now() < until {
                let i = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = format!(
                    "/s/d/-/query.json?sql=select+*+from+t+where+id+%3D+:id&id={}&_bust={i}&_shape=array",
                    i % 1000 + 1
                );
                assert_eq!(server.get(&path, Some(&token)).await.status, 200);
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for client in clients {
        total += client.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// p50 and p99 in ms of `n` single-row inserts, one at a time.
async fn writes(server: &Server, token: &str, n: usize) -> (f64, f64) {
    let mut times = Vec::new();
    for i in 0..n {
        let body = json!({"row": {"id": 10_000 + i, "v": "w"}});
        let started = Instant::now();
        assert_eq!(
            server
                .post("/s/d/t/-/insert", Some(token), &body)
                .await
                .status,
            201
        );
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |p: f64| {
        times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    (ms(0.5), ms(0.99))
}

async fn run(binary: std::path::PathBuf, phase: Duration, n_writes: usize) {
    let primary = Sqld::start(binary);
    let (local, local_token) = node(None).await;
    let (replica, replica_token) = node(Some(&primary)).await;
    let (local, replica) = (Arc::new(local), Arc::new(replica));
    // Warm both, then alternate so that drift on a shared machine hits both.
    reads(&local, &local_token, Duration::from_millis(300)).await;
    reads(&replica, &replica_token, Duration::from_millis(300)).await;
    let (mut on_local, mut on_replica) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        on_local.push(reads(&local, &local_token, phase).await);
        on_replica.push(reads(&replica, &replica_token, phase).await);
    }
    let (lw50, lw99) = writes(&local, &local_token, n_writes).await;
    let (rw50, rw99) = writes(&replica, &replica_token, n_writes).await;
    println!(
        "\nuncached small reads, {CLIENTS} clients, 3 alternating runs of {:.1} s",
        phase.as_secs_f64()
    );
    for (i, (l, r)) in on_local.iter().zip(&on_replica).enumerate() {
        println!(
            "  run {}: local file {l:>8.0} req/s, replica {r:>8.0} req/s: {:.1}%",
            i + 1,
            r / l * 100.0
        );
    }
    let total = |v: &[f64]| v.iter().sum::<f64>();
    println!(
        "replica reads as a share of local reads: {:.1}% (aim: at least 80%)",
        total(&on_replica) / total(&on_local) * 100.0
    );
    println!("single-row inserts, one at a time ({n_writes} each):");
    println!("  local file:             p50 {lw50:>7.2} ms, p99 {lw99:>7.2} ms");
    println!("  delegated to primary:   p50 {rw50:>7.2} ms, p99 {rw99:>7.2} ms");
}
