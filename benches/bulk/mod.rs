//! Bulk insert through `/-/insert` on libsette and on Datasette 1.0a41, in
//! the same sitting: the same rows, batches of 100 (Datasette's default
//! `max_insert_rows`) from 4 concurrent clients, each side on a fresh server.
//!
//! Self-contained (reqwest, serde_json, tempfile) so any bench can include it
//! with `#[path]`. Datasette lives in a throwaway venv at
//! `{target}/bench-venv`, made with `python3 -m venv` and pip in full
//! (`--bench`) mode only; smoke runs use it only if it is already there.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BATCH: usize = 100;
pub const CLIENTS: usize = 4;
/// Issue 17's target for libsette ÷ Datasette.
pub const TARGET_RATIO: f64 = 20.0;
pub const DATASETTE: &str = "datasette==1.0a41";
const DATASETTE_VERSION: &str = "1.0a41";
const SECRET: &str = "bulk-bench-secret";

/// One comparison; the figures are the best round of each side.
pub struct Bulk {
    pub rows: usize,
    pub libsette_rows_per_s: f64,
    pub datasette_rows_per_s: Option<f64>,
    /// Why Datasette was not measured, when it was not.
    pub skipped: Option<String>,
}

impl Bulk {
    /// libsette ÷ Datasette, when both were measured.
    pub fn ratio(&self) -> Option<f64> {
        self.datasette_rows_per_s
            .map(|d| self.libsette_rows_per_s / d)
    }
}

/// Inserts `rows` rows (100,000 in full mode, 2,000 otherwise) into each
/// server, alternating libsette and Datasette for `BULK_ROUNDS` rounds
/// (default 2 in full mode, 1 otherwise). Panics on any non-2xx answer or a
/// wrong row count; a Datasette that cannot be installed or started is
/// reported in `skipped` instead.
pub async fn compare(libsette_bin: &Path, full: bool) -> Bulk {
    let rows = if full { 100_000 } else { 2_000 };
    let rounds: usize = std::env::var("BULK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(if full { 2 } else { 1 });
    // Bodies are built before timing so neither side pays for the client.
    let bodies = Arc::new(bodies(rows));
    let mut datasette = datasette_bin(full);
    let mut best_libsette: f64 = 0.0;
    let mut best_datasette: Option<f64> = None;
    for round in 1..=rounds {
        let l = libsette_round(libsette_bin, &bodies, rows).await;
        best_libsette = best_libsette.max(l);
        let d = match &datasette {
            Ok(bin) => match datasette_round(bin, &bodies, rows).await {
                Ok(d) => Some(d),
                Err(reason) => {
                    datasette = Err(reason);
                    None
                }
            },
            Err(_) => None,
        };
        if let Some(d) = d {
            best_datasette = Some(best_datasette.map_or(d, |b: f64| b.max(d)));
        }
        let shown = d.map_or("-".to_owned(), |d| format!("{d:.0}"));
        println!("bulk round {round}: libsette {l:.0} rows/s, Datasette {shown} rows/s");
    }
    Bulk {
        rows,
        libsette_rows_per_s: best_libsette,
        datasette_rows_per_s: best_datasette,
        skipped: datasette.err(),
    }
}

/// The JSON bodies of every batch, in batch order.
fn bodies(rows: usize) -> Vec<String> {
    (0..rows.div_ceil(BATCH))
        .map(|batch| {
            let rows: Vec<Value> = (batch * BATCH..((batch + 1) * BATCH).min(rows))
                .map(
                    |n| json!({"name": format!("row {n}"), "score": n as f64 / 3.0, "flag": n % 2}),
                )
                .collect();
            json!({ "rows": rows }).to_string()
        })
        .collect()
}

fn create_body() -> Value {
    json!({"table": "t", "columns": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "text"},
        {"name": "score", "type": "float"},
        {"name": "flag", "type": "integer"}
    ], "pk": "id"})
}

/// POSTs `body` and returns the answer's JSON; panics unless it is 2xx.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: String) -> Value {
    let reply = http
        .post(url)
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    read(url, reply).await
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let reply = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    read(url, reply).await
}

async fn read(url: &str, reply: reqwest::Response) -> Value {
    let status = reply.status();
    let text = reply.text().await.unwrap_or_default();
    assert!(status.is_success(), "{url} answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

/// Creates table `t` at `db_url`, then times every batch into it from
/// `CLIENTS` tasks; returns rows/s.
async fn insert_all(db_url: &str, token: &str, bodies: &Arc<Vec<String>>, rows: usize) -> f64 {
    let http = reqwest::Client::new();
    post(
        &http,
        &format!("{db_url}/-/create"),
        token,
        create_body().to_string(),
    )
    .await;
    let insert = format!("{db_url}/t/-/insert");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (http, insert, token, bodies) = (
            http.clone(),
            insert.clone(),
            token.to_owned(),
            bodies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for body in bodies.iter().skip(client).step_by(CLIENTS) {
                post(&http, &insert, &token, body.clone()).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("an insert client failed");
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

/// Kills the process when dropped, also on a panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// --- libsette ---

async fn libsette_round(bin: &Path, bodies: &Arc<Vec<String>>, rows: usize) -> f64 {
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(["--setting", "rate_limit_token_per_minute", "0"])
        .env_remove("LIBSETTE_DATA_DIR")
        .env("LIBSETTE_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let server = Killed(child);
    let first = lines
        .next()
        .expect("libsette serve printed nothing")
        .expect("reading libsette serve's output");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let cli = |args: &[&str]| {
        let out = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove("LIBSETTE_DATA_DIR")
            .output()
            .expect("running the libsette CLI");
        assert!(
            out.status.success(),
            "libsette {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    cli(&["space", "create", "b", "--owner", "root"]);
    cli(&["db", "create", "b", "data"]);
    let token = cli(&["token", "create", "b", "root"]);
    let per_s = insert_all(&format!("{base}/b/data"), &token, bodies, rows).await;
    let count = get(
        &reqwest::Client::new(),
        &format!("{base}/b/data/-/query.json?sql=select+count(*)+as+n+from+t&_shape=array"),
        &token,
    )
    .await;
    assert_eq!(count[0]["n"], json!(rows), "libsette holds the wrong count");
    drop(server);
    per_s
}

// --- Datasette ---

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Whether `bin` is Datasette 1.0a41.
fn is_wanted(bin: &Path) -> bool {
    Command::new(bin).arg("--version").output().is_ok_and(|o| {
        o.status.success()
            && String::from_utf8_lossy(&o.stdout)
                .trim()
                .ends_with(DATASETTE_VERSION)
    })
}

/// The venv's `datasette`, installed first in full mode; `Err` says why not.
fn datasette_bin(full: bool) -> Result<PathBuf, String> {
    let venv = target_dir().join("bench-venv");
    let bin = venv.join("bin").join("datasette");
    if is_wanted(&bin) {
        return Ok(bin);
    }
    if !full {
        return Err(format!(
            "no {DATASETTE} in {} (cargo bench --bench insert installs it)",
            venv.display()
        ));
    }
    println!("installing {DATASETTE} into {} ...", venv.display());
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        DATASETTE,
    ]))?;
    if is_wanted(&bin) {
        Ok(bin)
    } else {
        Err(format!("{} is not {DATASETTE} after pip", bin.display()))
    }
}

/// Runs a setup command; `Err` holds its last line of complaint.
fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .map_err(|e| format!("{shown} could not run: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Err(format!(
        "{shown} failed ({}): {}",
        out.status,
        last.unwrap_or("no output")
    ))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// One Datasette round on a fresh database file; `Err` when Datasette could
/// not be started (answers other than 2xx still panic).
async fn datasette_round(
    bin: &Path,
    bodies: &Arc<Vec<String>>,
    rows: usize,
) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temp folder: {e}"))?;
    let file = dir.path().join("data.db");
    let log = dir.path().join("datasette.log");
    let port = free_port()?;
    // --root lets the root actor (and its signed tokens) do everything.
    let child = Command::new(bin)
        .arg("serve")
        .arg(&file)
        .args(["--create", "--root", "--secret", SECRET, "-h", "127.0.0.1"])
        .args(["-p", &port.to_string()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let mut server = Killed(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&mut server, &base, &log).await?;
    let out = Command::new(bin)
        .args(["create-token", "root", "--secret", SECRET])
        .output()
        .map_err(|e| format!("datasette create-token: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "datasette create-token failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let per_s = insert_all(&format!("{base}/data"), &token, bodies, rows).await;
    let count = get(
        &reqwest::Client::new(),
        &format!("{base}/data/-/query.json?sql=select+count(*)+as+n+from+t&_shape=array"),
        &token,
    )
    .await;
    // (Its table JSON stops counting at 10,001, hence the SQL.)
    assert_eq!(
        count[0]["n"],
        json!(rows),
        "Datasette holds the wrong count"
    );
    drop(server);
    // And the file itself, read by the venv's own sqlite3 after Datasette
    // has gone, so the rows are on disk and not only in its answers.
    let python = bin.with_file_name("python");
    let out = Command::new(&python)
        .args(["-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from t').fetchone()[0])"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let on_disk = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        on_disk,
        rows.to_string(),
        "Datasette's file holds the wrong count: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(per_s)
}

/// Polls `/-/versions.json` until Datasette answers (30 s at most).
async fn wait_until_up(server: &mut Killed, base: &str, log: &Path) -> Result<(), String> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let tail = || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        last.unwrap_or("no output").to_owned()
    };
    loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            return Err(format!("datasette serve exited ({status}): {}", tail()));
        }
        let reply = http.get(format!("{base}/-/versions.json")).send().await;
        if reply.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "datasette serve did not answer in 30 s: {}",
                tail()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
