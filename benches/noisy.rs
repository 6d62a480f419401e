//! Noisy neighbour: one space floods heavy queries (16 clients, each query
//! 200–900 ms of SQLite work, its SQL never repeated) beside a quiet space
//! doing small reads. Prints the quiet space's p50/p99 alone and under the
//! flood, and their ratio (the aim: p99 within 3× of solo).
//!
//! `cargo bench --bench noisy` — `BENCH_SECONDS` (default 5) per phase.
//! Under `cargo test` it runs as a short smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, cli, metric};

const FLOODERS: usize = 16;
const QUIET_CLIENTS: usize = 2;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 5.0 } else { 0.5 });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(noisy_neighbour(Duration::from_secs_f64(seconds)));
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// SQL that counts to `n` the slow way: pure CPU in SQLite.
fn heavy_sql(n: u64) -> String {
    format!(
        "with recursive c(x) as (select 1 union all select x + 1 from c where x < {n}) \
         select count(*) from c"
    )
}

async fn noisy_neighbour(phase: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let quiet_file = dir.path().join("quiet.db");
    {
        let db = libsette::sqlite::open_plain(&quiet_file).unwrap();
        let conn = libsette::sqlite::connect(&db).unwrap();
        libsette::sqlite::execute_batch(
            &conn,
            "create table t (id integer primary key, v text);
             insert into t (v) select 'row ' || value from json_each(
               (select json_group_array(x) from (with recursive c(x) as
                 (select 1 union all select x + 1 from c where x < 1000) select x from c)));",
        )
        .unwrap();
    }
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path();
    for space in ["quiet", "noisy"] {
        cli(data, &["space", "create", space, "--public"]);
    }
    let quiet_path = quiet_file.to_str().unwrap();
    cli(data, &["db", "import", "quiet", quiet_path, "--name", "d"]);
    cli(data, &["db", "create", "noisy", "d"]);
    // Every client is on one address: the anonymous rate limit is off here,
    // so what is measured is the concurrency limit and the scheduling.
    let server = Arc::new(Server::start_in(
        folder,
        &["--setting", "rate_limit_anonymous_per_minute", "0"],
    ));

    // How far SQLite counts in a millisecond here, to size the heavy queries.
    let n = 300_000;
    let started = Instant::now();
    let reply = server
        .get(
            &format!("/noisy/d/-/query.json?sql={}", encode(&heavy_sql(n))),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let per_ms = (n as f64 / (started.elapsed().as_secs_f64() * 1000.0)).max(1.0);

    quiet(&server, Duration::from_millis(300)).await;
    let solo = quiet(&server, phase).await;

    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let unique = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..FLOODERS {
        let (server, stop, counts, unique) =
            (server.clone(), stop.clone(), counts.clone(), unique.clone());
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = unique.fetch_add(1, Ordering::Relaxed) as u64;
                // 200–900 ms of work, spread evenly; never the same SQL twice.
                let ms = 200 + (i * 7919) % 700;
                let sql = heavy_sql((ms as f64 * per_ms) as u64 + i);
                let path = format!("/noisy/d/-/query.json?sql={}", encode(&sql));
                let status = server.get(&path, None).await.status;
                let slot = match status {
                    200 => 0,
                    429 => 1,
                    400 => 2,
                    _ => 3,
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1).min(phase)).await;
    let flooded = quiet(&server, phase).await;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }
    let metrics = server.get("/metrics", None).await.text;

    println!(
        "\nheavy query: {per_ms:.0} steps/ms; flood of {FLOODERS} clients: {} answered, \
         {} refused (429), {} over time (400), {} other",
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
        counts[2].load(Ordering::Relaxed),
        counts[3].load(Ordering::Relaxed),
    );
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>7}",
        "quiet space, small reads", "requests", "p50 ms", "p99 ms", "errors"
    );
    for (name, f) in [("alone", &solo), ("beside the flood", &flooded)] {
        println!(
            "{name:<26} {:>9} {:>9.2} {:>9.2} {:>7}",
            f.count, f.p50_ms, f.p99_ms, f.errors
        );
    }
    println!(
        "p99 under flood / p99 alone: {:.2}× (aim: at most 3×); p50: {:.2}×",
        flooded.p99_ms / solo.p99_ms,
        flooded.p50_ms / solo.p50_ms
    );
    println!(
        "server: reads in place {}, on the pool {}, moved {}; queries refused {}",
        metric(&metrics, r#"libsette_reads_total{place="in_place"}"#),
        metric(&metrics, r#"libsette_reads_total{place="pool"}"#),
        metric(&metrics, r#"libsette_reads_total{place="moved"}"#),
        metric(&metrics, r#"libsette_rate_limited_total{scope="queries"}"#),
    );
    assert_eq!(
        solo.errors + flooded.errors,
        0,
        "the quiet space had errors"
    );
    assert_eq!(counts[3].load(Ordering::Relaxed), 0, "the flood saw 5xx");
}

struct Latencies {
    count: usize,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

/// Small reads of the quiet space from a few clients for `phase`; every
/// URL is new, so each is a real read and never a cached answer.
async fn quiet(server: &Arc<Server>, phase: Duration) -> Latencies {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let sql = encode("select * from t where id = :id");
    let until = Instant::now() + phase;
    let mut clients = Vec::new();
    for _ in 0..QUIET_CLIENTS {
        let (server, sql) = (server.clone(), sql.clone());
        clients.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            while Instant::now() < until {
                let i = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = format!(
                    "/quiet/d/-/query.json?sql={sql}&id={}&_bust={i}&_shape=array",
                    i % 1000 + 1
                );
                let started = Instant::now();
                if server.get(&path, None).await.status != 200 {
                    errors += 1;
                }
                latencies.push(started.elapsed());
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for client in clients {
        let (latencies, failed) = client.await.unwrap();
        all.extend(latencies);
        errors += failed;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Latencies {
        count: all.len(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        errors,
    }
}
