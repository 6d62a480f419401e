//! Throughput and latency of the real server, printed as figures and as
//! ratios to the trivial endpoint measured in the same run (these machines
//! are shared and noisy, so only ratios compare across runs).
//!
//! `cargo bench --bench http` — set `BENCH_SECONDS` (default 3) per run,
//! `BENCH_ROUNDS` (default 3) runs per scenario, and `BENCH_SPACES` (default
//! 10000) for the many-spaces round-robin.
//! Under `cargo test` it runs as a short smoke test of the same scenarios.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use libsette::catalog::{Catalog, DataDir, databases, mirror, spaces};
use libsette::names::SpaceName;
use libsette::sqlite;

const CONCURRENCY: usize = 32;
const ROUND_ROBIN: &str = "round-robin over spaces";
const FIRST_VISITS: &str = "  first visit to each space";

struct Figures {
    name: String,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

/// What a scenario requests: a list taken round-robin, or URLs that never
/// repeat in a run (`unique`: the prefix with `&_bust=N` added).
struct Paths {
    list: Vec<String>,
    unique: bool,
    /// Where the next request starts: kept across runs of the scenario, so
    /// unique URLs stay unique.
    next: Arc<AtomicUsize>,
}

impl Paths {
    fn list(list: Vec<String>) -> Arc<Paths> {
        Arc::new(Paths {
            list,
            unique: false,
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn unique(prefix: &str) -> Arc<Paths> {
        Arc::new(Paths {
            list: vec![prefix.to_owned()],
            unique: true,
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn path(&self, i: usize) -> String {
        if self.unique {
            format!("{}&_bust={i}", self.list[0])
        } else {
            self.list[i % self.list.len()].clone()
        }
    }
}

/// Runs `paths` from CONCURRENCY workers for `seconds`, or (with `seconds`
/// of `None`) through the list exactly once.
async fn load(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    paths: Arc<Paths>,
    seconds: Option<f64>,
) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let next = match seconds {
        Some(_) => paths.next.clone(),
        None => Arc::new(AtomicUsize::new(0)),
    };
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, base, paths, stop, next, errors) = (
            client.clone(),
            base.to_owned(),
            paths.clone(),
            stop.clone(),
            next.clone(),
            errors.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if seconds.is_none() && i >= paths.list.len() {
                    break;
                }
                let t = Instant::now();
                match client.get(format!("{base}{}", paths.path(i))).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    if let Some(seconds) = seconds {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Figures {
        name: name.to_owned(),
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// A facetable-like table of 2,000 rows in `path`.
fn build_facetable(path: &Path) {
    let db = sqlite::open_plain(path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(
        &conn,
        "create table facetable (pk integer primary key, created text, planet_int integer, on_earth integer,
             state text, city text, tags text, n real, notes text);
         begin;",
    )
    .unwrap();
    let states = ["CA", "MI", "MC", "NY", "TX"];
    for i in 1..=2000i64 {
        sqlite::execute(
            &conn,
            "insert into facetable values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            (
                i,
                format!("2019-01-{:02} 08:00:00", 1 + i % 28),
                1 + i % 3,
                (i % 2 == 0) as i64,
                states[(i % 5) as usize],
                format!("city {}", i % 40),
                r#"["tag1", "tag2"]"#,
                i as f64 * 1.5,
                format!("note {i}"),
            ),
        )
        .unwrap();
    }
    sqlite::execute_batch(&conn, "commit").unwrap();
}

fn start_server(data: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_libsette"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--bind", "127.0.0.1:0"])
        // Every request comes from one address, far past a public default.
        .args(["--setting", "rate_limit_anonymous_per_minute", "0"])
        .env("LIBSETTE_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting libsette");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn proc_figures(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss_kb, fds)
}

/// `count` public spaces `t0…`, each with a copy of `template` as database `d`.
fn many_spaces(data: &DataDir, template: &Path, count: usize) {
    let catalog = Catalog::open(data).unwrap();
    let conn = catalog.conn().unwrap();
    for i in 0..count {
        let name = format!("t{i}");
        let space = spaces::create(&conn, &SpaceName::parse(&name).unwrap(), "root", true).unwrap();
        std::fs::create_dir_all(data.space_dir(&name)).unwrap();
        std::fs::copy(template, data.database_file(&name, "d")).unwrap();
        let row = databases::register(&conn, space.id, "d").unwrap();
        let file = sqlite::open_file(&data.database_file(&name, "d")).unwrap();
        mirror::refresh(&conn, row.id, &sqlite::connect(&file).unwrap()).unwrap();
    }
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let env = |name: &str, full_default: f64, smoke: f64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(if full { full_default } else { smoke })
    };
    let seconds = env("BENCH_SECONDS", 3.0, 0.1);
    let space_count = env("BENCH_SPACES", 10_000.0, 20.0) as usize;
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let fixtures = dir.path().join("fixtures.db");
    build_facetable(&fixtures);
    let small = dir.path().join("small.db");
    {
        let db = sqlite::open_plain(&small).unwrap();
        let conn = sqlite::connect(&db).unwrap();
        sqlite::execute_batch(&conn, "create table t (id integer primary key, v text); insert into t (v) values ('a'), ('b'), ('c');").unwrap();
    }
    {
        let catalog = Catalog::open(&data).unwrap();
        let conn = catalog.conn().unwrap();
        spaces::create(&conn, &SpaceName::parse("bench").unwrap(), "root", true).unwrap();
        libsette::import::import(&conn, &data, "bench", &fixtures, Some("fixtures"), false)
            .unwrap();
    }
    eprintln!("creating {space_count} spaces…");
    let setup = Instant::now();
    many_spaces(&data, &small, space_count);
    eprintln!("  done in {:.1} s", setup.elapsed().as_secs_f64());

    let (mut child, base) = start_server(data.root());
    if std::env::var("BENCH_HOLD").is_ok() {
        // For profiling by hand: keep the server up and say where it is.
        println!(
            "holding: {base} (pid {}) on {}",
            child.id(),
            data.root().display()
        );
        std::thread::sleep(Duration::from_secs(600));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let one = |p: &str| Paths::list(vec![p.to_owned()]);
    let unique = Paths::unique;
    let scenarios: Vec<(&str, Arc<Paths>)> = vec![
        ("trivial /-/health", one("/-/health")),
        (
            "facetable _size=10 (cached)",
            one("/bench/fixtures/facetable.json?_size=10"),
        ),
        (
            "facetable _size=10 (uncached)",
            unique("/bench/fixtures/facetable.json?_size=10"),
        ),
        (
            "facetable _size=100",
            one("/bench/fixtures/facetable.json?_size=100"),
        ),
        (
            "filtered and sorted",
            one("/bench/fixtures/facetable.json?state=CA&n__gt=100&_sort_desc=n&_size=20"),
        ),
        (
            "facet state",
            one("/bench/fixtures/facetable.json?_facet=state&_size=0"),
        ),
        (
            "query with :params",
            one(
                "/bench/fixtures/-/query.json?sql=select+*+from+facetable+where+state+%3D+%3As+limit+10&s=MI",
            ),
        ),
        ("single small space", one("/t0/d/t.json")),
        (
            ROUND_ROBIN,
            Paths::list(
                (0..space_count)
                    .map(|i| format!("/t{i}/d/t.json"))
                    .collect(),
            ),
        ),
    ];
    // BENCH_ONLY=text runs only the scenarios whose name contains it (the trivial one always runs).
    let only = std::env::var("BENCH_ONLY").ok();
    let scenarios: Vec<_> = scenarios
        .into_iter()
        .enumerate()
        .filter(|(i, (name, _))| *i == 0 || only.as_deref().is_none_or(|o| name.contains(o)))
        .map(|(_, s)| s)
        .collect();
    // Each scenario runs `rounds` times, each time just after the trivial
    // endpoint; its ratio is the median of those paired ratios, which keeps
    // the drift of a shared machine out of the figures.
    let rounds = env("BENCH_ROUNDS", 3.0, 1.0).max(1.0) as usize;
    let (trivial_name, trivial_paths) = scenarios[0].clone();
    let mut trivials = Vec::new();
    let mut results: Vec<(Figures, f64)> = Vec::new();
    runtime.block_on(async {
        // The trivial endpoint, run for `seconds`: every ratio's reference.
        let trivial_run = |seconds: f64| {
            load(
                &client,
                &base,
                trivial_name,
                trivial_paths.clone(),
                Some(seconds),
            )
        };
        trivial_run(0.3).await;
        for (name, paths) in scenarios.into_iter().skip(1) {
            if name == ROUND_ROBIN {
                // The first visit to each space opens its database cold: measured apart.
                let first = load(&client, &base, FIRST_VISITS, paths.clone(), None).await;
                let trivial = trivial_run(seconds).await;
                let ratio = first.rps / trivial.rps;
                results.push((first, ratio));
            } else {
                // Warm up briefly (fills caches for the cached scenarios).
                load(&client, &base, name, paths.clone(), Some(0.3)).await;
            }
            let mut runs = Vec::new();
            for _ in 0..rounds {
                let trivial = trivial_run(seconds).await;
                let figures = load(&client, &base, name, paths.clone(), Some(seconds)).await;
                assert_eq!(figures.errors, 0, "{name} had failed requests");
                let ratio = figures.rps / trivial.rps;
                trivials.push(trivial.rps);
                runs.push((figures, ratio));
            }
            runs.sort_by(|a, b| a.1.total_cmp(&b.1));
            results.push(runs.swap_remove(runs.len() / 2));
        }
    });
    let (rss_kb, fds) = proc_figures(child.id());
    let _ = child.kill();
    let _ = child.wait();
    trivials.sort_by(f64::total_cmp);
    let trivial = trivials.get(trivials.len() / 2).copied().unwrap_or(0.0);
    println!(
        "\n{:<34} {:>10} {:>9} {:>9} {:>8} {:>7}",
        "scenario", "req/s", "p50 ms", "p99 ms", "ratio", "errors"
    );
    println!(
        "{:<34} {:>10.0} {:>9} {:>9} {:>7.1}% {:>7}",
        trivial_name, trivial, "", "", 100.0, 0
    );
    for (f, ratio) in &results {
        println!(
            "{:<34} {:>10.0} {:>9.2} {:>9.2} {:>7.1}% {:>7}",
            f.name,
            f.rps,
            f.p50_ms,
            f.p99_ms,
            100.0 * ratio,
            f.errors
        );
        assert_eq!(f.errors, 0, "{} had failed requests", f.name);
    }
    println!(
        "(ratio: median over {rounds} rounds of req/s against the trivial endpoint run just before)"
    );
    let ratio = |name: &str| {
        results
            .iter()
            .find(|(f, _)| f.name == name)
            .map(|(_, r)| *r)
    };
    if let (Some(single), Some(many)) = (ratio("single small space"), ratio(ROUND_ROBIN)) {
        println!(
            "\nround-robin over {space_count} spaces: {:.1}% of single-space throughput",
            100.0 * many / single
        );
    }
    println!(
        "server RSS at the end: {:.1} MB, open file descriptors: {fds}",
        rss_kb as f64 / 1024.0
    );
}
