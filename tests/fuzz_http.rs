//! The HTTP fuzz test: a real server with a private space `alpha` whose
//! names and data carry canary strings and a public space `beta`, and a few
//! thousand mutated requests from a fixed seed. It fails on any 5xx, any
//! request without an answer in time, any canary of alpha in an answer to a
//! request not allowed to see it, a host path or reflected markup in an
//! answer, a change to alpha's data, and any panic in the server's log.
//!
//! `LIBSETTE_FUZZ_REQUESTS=100000 LIBSETTE_FUZZ_SEED=7 cargo test --test fuzz_http -- --nocapture`
//! runs a longer campaign.

#[path = "fuzz/bodies.rs"]
mod bodies;
mod common;
#[path = "fuzz/gen.rs"]
mod fuzz_gen;
#[path = "fuzz/pools.rs"]
mod pools;
#[path = "fuzz/wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fuzz_gen::{Gen, Request, Who};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

/// Strings only alpha's databases hold; the first four are what a token
/// restricted to `cnrydb/cnryvis` may see.
/// Strings only alpha's databases hold; the first five are what a token
/// restricted to `cnrydb/cnryvis` may see (`cnryhid` is named by the
/// visible table's foreign key, as in Datasette).
const CANARIES: &[&str] = &[
    "cnrydb",
    "cnryvis",
    "cnryviscol",
    "cnryvalvis",
    "cnryhid",
    "cnryhidcol",
    "cnryvalhid",
    "cnryview",
    "cnryscratch",
];
const VISIBLE_TO_RESTRICTED: usize = 5;
const WORKERS: u64 = 3;
const TIMEOUT: Duration = Duration::from_secs(20);

const ALPHA_SQL: &str = "
    create table cnryhid (id integer primary key, cnryhidcol text, ref integer);
    create table cnryvis (id integer primary key, cnryviscol text, n integer,
        ref integer references cnryhid(id));
    create view cnryview as select * from cnryhid;
    insert into cnryhid select value, 'CNRYVALHID ' || value, value from (with recursive s(value) as (select 1 union all select value + 1 from s where value < 5) select value from s);
    insert into cnryvis select value, 'CNRYVALVIS ' || value, value % 3, value from (with recursive s(value) as (select 1 union all select value + 1 from s where value < 5) select value from s);
";
const BETA_SQL: &str = "
    create table other (id integer primary key, item text);
    create table items (id integer primary key, name text, n integer, tags text,
        other_id integer references other(id));
    create virtual table items_fts using fts5(name, content=items, content_rowid=id);
    insert into other values (1, 'one'), (2, 'two');
    insert into items select value, 'item ' || value, value % 3, '[\"a\", \"b\"]', 1 + value % 2
        from (with recursive s(value) as (select 1 union all select value + 1 from s where value < 8) select value from s);
    insert into items_fts (rowid, name) select id, name from items;
";

/// Writes a database file for `db import`.
fn build(path: &std::path::Path, sql: &str) {
    let db = libsette::sqlite::open_plain(path).unwrap();
    let conn = db.connect().unwrap();
    libsette::sqlite::execute_batch(&conn, sql).unwrap();
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The canaries `answer` shows that `request` may not see and did not name.
fn leaks(request: &Request, answer: &wire::Answer) -> Vec<&'static str> {
    let hidden = match request.who {
        Who::AlphaFull => return vec![],
        Who::AlphaRestricted => &CANARIES[VISIBLE_TO_RESTRICTED..],
        _ => CANARIES,
    };
    let mut text = answer.head.to_ascii_lowercase();
    text.push_str(&String::from_utf8_lossy(&answer.body).to_ascii_lowercase());
    let asked = String::from_utf8_lossy(&request.bytes()).to_ascii_lowercase();
    hidden
        .iter()
        .copied()
        .filter(|c| text.contains(c))
        .filter(|c| {
            !asked.contains(c)
                && !request
                    .mentioned
                    .iter()
                    .any(|m| m.to_ascii_lowercase().contains(c))
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    failures: Vec<String>,
    sent: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_never_fail_hang_or_leak() {
    let total = env_number("LIBSETTE_FUZZ_REQUESTS", 5000);
    let seed = env_number("LIBSETTE_FUZZ_SEED", 11);
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| common::cli(dir.path(), args).trim().to_owned();
    cli(&["space", "create", "alpha", "--owner", "ann"]);
    cli(&["space", "create", "beta", "--owner", "bob", "--public"]);
    // A foreign key from the visible table to the hidden one (labels,
    // expansion), a view of the hidden one, and full-text search in beta.
    let file = dir.path().join("import.db");
    build(&file, ALPHA_SQL);
    cli(&[
        "db",
        "import",
        "alpha",
        file.to_str().unwrap(),
        "--name",
        "cnrydb",
    ]);
    std::fs::remove_file(&file).unwrap();
    build(&file, BETA_SQL);
    cli(&[
        "db",
        "import",
        "beta",
        file.to_str().unwrap(),
        "--name",
        "pub",
    ]);
    std::fs::remove_file(&file).unwrap();
    cli(&["db", "create", "alpha", "cnryscratch"]);
    let tokens = vec![
        (Who::AlphaFull, cli(&["token", "create", "alpha", "ann"])),
        (
            Who::AlphaRestricted,
            cli(&[
                "token",
                "create",
                "alpha",
                "ann",
                "-r",
                "cnrydb",
                "cnryvis",
                "view-table",
            ]),
        ),
        (Who::BetaFull, cli(&["token", "create", "beta", "bob"])),
        (
            Who::BetaRestricted,
            cli(&[
                "token",
                "create",
                "beta",
                "bob",
                "-r",
                "pub",
                "items",
                "view-table",
            ]),
        ),
    ];

    // The server, its log kept for the panic check.
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--spaces-domain",
            "fuzz.test",
            // Rate limits high enough that mutated requests reach their
            // handlers (tests/limits.rs tests the limits themselves).
            "--setting",
            "rate_limit_anonymous_per_minute",
            "1000000",
            "--setting",
            "rate_limit_token_per_minute",
            "1000000",
        ])
        .env("LIBSETTE_LOG", "warn")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let addr = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let post = |path: &str, token: &str, body: serde_json::Value| {
        let request = client
            .post(format!("http://{addr}{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert!(status < 300, "{status}: {}", response.text().await.unwrap());
        }
    };
    let alpha = &tokens[0].1;
    post(
        "/alpha/cnryscratch/-/create",
        alpha,
        json!({"table": "s1", "rows": [{"id": 1, "v": "x"}], "pk": "id"}),
    )
    .await;
    let snapshot = |token: String| async {
        let r = client.get(format!("http://{addr}/alpha/cnrydb/-/query.json?sql=select+id%2C+cnryviscol%2C+ref+from+cnryvis+union+all+select+id%2C+cnryhidcol%2C+ref+from+cnryhid"))
            .bearer_auth(token).send().await.unwrap();
        r.text().await.unwrap()
    };
    let before = snapshot(alpha.clone()).await;
    assert!(
        before.contains("CNRYVALHID 5") && before.contains("CNRYVALVIS 5"),
        "{before}"
    );
    // The checks can see a leak: the restricted token reads its table, anonymous gets nothing.
    let r = client
        .get(format!("http://{addr}/alpha/cnrydb/cnryvis.json"))
        .bearer_auth(&tokens[1].1)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("CNRYVALVIS 1"));
    assert_eq!(
        client
            .get(format!("http://{addr}/beta/pub/items.json"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (tokens, tally, addr) = (tokens.clone(), tally.clone(), addr.clone());
        let data_dir = dir.path().to_string_lossy().into_owned();
        let count = total / WORKERS + u64::from(w < total % WORKERS);
        workers.push(tokio::spawn(async move {
            let mut maker = Gen::new(
                StdRng::seed_from_u64(seed * 1000 + w),
                &tokens,
                addr.clone(),
            );
            let mut wire = wire::Wire::new(&addr);
            // The first worker starts with every identity on the plain paths.
            let corpus = if w == 0 { maker.corpus() } else { vec![] };
            let mut corpus = corpus.into_iter();
            for _ in 0..count {
                let request = corpus.next().unwrap_or_else(|| maker.request());
                let result = wire
                    .send(&request.bytes(), request.method == "HEAD", TIMEOUT)
                    .await;
                let mut tally = tally.lock().unwrap();
                tally.sent += 1;
                let problem = match result {
                    Err(e) => Some(format!("no answer ({e})")),
                    Ok(answer) => {
                        *tally.statuses.entry(answer.status).or_default() += 1;
                        let leaked = leaks(&request, &answer);
                        let body = String::from_utf8_lossy(&answer.body);
                        let html = answer
                            .head
                            .to_ascii_lowercase()
                            .contains("content-type: text/html");
                        if answer.status >= 500 {
                            Some(format!(
                                "{} {}",
                                answer.status,
                                String::from_utf8_lossy(&answer.body)
                            ))
                        } else if !leaked.is_empty() {
                            Some(format!(
                                "leaked {leaked:?} in {} {}",
                                answer.status,
                                String::from_utf8_lossy(&answer.body)
                                    .chars()
                                    .take(400)
                                    .collect::<String>()
                            ))
                        } else if body.contains(&data_dir) || answer.head.contains(&data_dir) {
                            Some(format!(
                                "a host path in {} {}",
                                answer.status,
                                body.chars().take(400).collect::<String>()
                            ))
                        } else if html
                            && (body.contains("<script>fzx") || body.contains("<img src=x"))
                        {
                            Some(format!("markup reflected in the {} page", answer.status))
                        } else {
                            None
                        }
                    }
                };
                if let Some(problem) = problem {
                    tally
                        .failures
                        .push(format!("{problem}\n    request: {}", request.describe()));
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    // A fresh token: a fuzzed request may have revoked the first one.
    let after = snapshot(cli(&["token", "create", "alpha", "ann"])).await;
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tally = tally.lock().unwrap();
    let histogram: Vec<String> = tally
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!(
        "fuzz_http: {} requests (seed {seed}) in {:.1} s, {:.0}/s; statuses {{{}}}; {} failures; {} panics in the log",
        tally.sent,
        elapsed.as_secs_f64(),
        tally.sent as f64 / elapsed.as_secs_f64(),
        histogram.join(", "),
        tally.failures.len(),
        log.matches("panicked").count(),
    );
    // Every failure in the output (see it with --nocapture); the first in the assertion.
    for failure in &tally.failures {
        println!("FAILURE {failure}");
    }
    // The server's own account of failures: errors behind a 500, panics.
    for line in log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("panicked"))
        .take(20)
    {
        println!("SERVER {line}");
    }
    let mut problems: Vec<String> = tally.failures.iter().take(20).cloned().collect();
    if !alive {
        problems.push("the server died".into());
    }
    if log.contains("panicked") {
        problems.push(format!(
            "panics in the server log:\n{}",
            log.lines()
                .filter(|l| l.contains("panicked"))
                .take(10)
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if after != before {
        problems.push(format!(
            "alpha's canary data changed:\nbefore {before}\nafter {after}"
        ));
    }
    assert!(
        problems.is_empty(),
        "{} failures of {} requests; the first:\n{}",
        tally.failures.len(),
        tally.sent,
        problems.join("\n")
    );
}
