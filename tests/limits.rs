//! Limits and quotas per space, against the real binary: request rates per
//! token and per anonymous address, concurrent queries, database size and
//! number of databases.

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Server, cli, cli_output, metric};
use serde_json::json;

/// A data folder with public spaces, each holding an empty database `d`.
fn folder(spaces: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for space in spaces {
        cli(dir.path(), &["space", "create", space, "--public"]);
        cli(dir.path(), &["db", "create", space, "d"]);
    }
    dir
}

fn set(dir: &tempfile::TempDir, space: &str, settings: &[(&str, &str)]) {
    let mut args = vec!["space", "set", space];
    for (name, value) in settings {
        args.extend(["--setting", name, value]);
    }
    cli(dir.path(), &args);
}

/// A 429 in Datasette's error shape, with a `Retry-After` in whole seconds.
fn assert_too_many(reply: &Reply, most_seconds: u64) {
    assert_eq!(reply.status, 429, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["ok"], json!(false));
    assert_eq!(body["status"], json!(429));
    assert!(body["errors"].as_array().is_some_and(|e| e.len() == 1));
    let seconds: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(
        (1..=most_seconds).contains(&seconds),
        "Retry-After {seconds}"
    );
}

fn query(space: &str, sql: &str) -> String {
    let sql: String = form_urlencoded::byte_serialize(sql.as_bytes()).collect();
    format!("/{space}/d/-/query.json?sql={sql}&_shape=array")
}

/// Runs until its time limit interrupts it.
const ENDLESS: &str =
    "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";

#[tokio::test]
async fn a_token_or_an_address_over_its_rate_gets_429_and_others_do_not() {
    let dir = folder(&["alpha"]);
    // The token limit for this space only; the anonymous one for the instance.
    set(&dir, "alpha", &[("rate_limit_token_per_minute", "5")]);
    let server = Server::start_in(dir, &["--setting", "rate_limit_anonymous_per_minute", "4"]);
    let (a, b) = (
        server.token(&["alpha", "root"]),
        server.token(&["alpha", "root"]),
    );
    for _ in 0..5 {
        assert_eq!(server.get("/alpha/d.json", Some(&a)).await.status, 200);
    }
    // Five a minute: one every 12 s.
    assert_too_many(&server.get("/alpha/d.json", Some(&a)).await, 12);
    assert_eq!(server.get("/alpha/d.json", Some(&b)).await.status, 200);

    for _ in 0..4 {
        assert_eq!(server.get("/alpha/d.json", None).await.status, 200);
    }
    assert_too_many(&server.get("/alpha/d.json", None).await, 15);
    // Another client address (all of 127/8 is loopback) is counted apart.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let reply = other
        .get(format!("{}/alpha/d.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    // Health and metrics are never limited.
    for _ in 0..10 {
        assert_eq!(server.get("/-/health", None).await.status, 200);
    }
    let metrics = server.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    let text = &metrics.text;
    assert_eq!(
        metric(text, r#"libsette_rate_limited_total{scope="token"}"#),
        1
    );
    assert_eq!(
        metric(text, r#"libsette_rate_limited_total{scope="address"}"#),
        1
    );
}

#[tokio::test]
async fn a_space_runs_at_most_its_concurrent_queries() {
    let dir = folder(&["alpha", "beta", "gamma"]);
    // alpha: one query at a time, and a short wait for a turn.
    set(
        &dir,
        "alpha",
        &[
            ("max_concurrent_queries", "1"),
            ("max_query_wait_ms", "300"),
            ("sql_time_limit_ms", "3000"),
        ],
    );
    // gamma: one at a time, but a wait long enough to queue.
    set(
        &dir,
        "gamma",
        &[
            ("max_concurrent_queries", "1"),
            ("max_query_wait_ms", "5000"),
            ("sql_time_limit_ms", "1500"),
        ],
    );
    let server = std::sync::Arc::new(Server::start_in(dir, &[]));
    let slow = |space: &'static str| {
        let server = server.clone();
        tokio::spawn(async move { server.get(&query(space, ENDLESS), None).await })
    };

    let alpha_slow = slow("alpha");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_too_many(&server.get(&query("alpha", "select 1"), None).await, 1);
    // Another space is not held up.
    let beta = server.get(&query("beta", "select 1"), None).await;
    assert_eq!(beta.json(), json!([{"1": 1}]));
    let timed_out = alpha_slow.await.unwrap();
    assert_eq!(timed_out.status, 400, "{}", timed_out.text);
    assert_eq!(
        server.get(&query("alpha", "select 1"), None).await.status,
        200
    );

    let gamma_slow = slow("gamma");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let queued = server.get(&query("gamma", "select 2"), None).await;
    assert_eq!(queued.json(), json!([{"2": 2}]), "it waited for its turn");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it ran only once the slow query ended: {:?}",
        started.elapsed()
    );
    assert_eq!(gamma_slow.await.unwrap().status, 400);

    let metrics = server.get("/metrics", None).await.text;
    assert_eq!(
        metric(&metrics, r#"libsette_rate_limited_total{scope="queries"}"#),
        1
    );
}

#[tokio::test]
async fn a_write_past_max_database_mb_is_refused_and_changes_nothing() {
    let dir = folder(&["alpha"]);
    set(&dir, "alpha", &[("max_database_mb", "1")]);
    let server = Server::start_in(dir, &[]);
    let token = server.token(&["alpha", "root"]);
    let t = Some(token.as_str());
    let rows: Vec<_> = (1..=10).map(|i| json!({"id": i, "v": "small"})).collect();
    let created = server
        .post(
            "/alpha/d/-/create",
            t,
            &json!({"table": "t", "rows": rows, "pk": "id"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // 1.6 MB of rows in one insert: past the 1 MB cap partway through.
    let big: Vec<_> = (0..8)
        .map(|i| json!({"id": 100 + i, "v": "x".repeat(200_000)}))
        .collect();
    let refused = server
        .post("/alpha/d/t/-/insert", t, &json!({"rows": big}))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let body = refused.json();
    assert_eq!(body["ok"], json!(false));
    assert!(
        body["error"].as_str().unwrap().contains("max_database_mb"),
        "{body}"
    );
    // The same through execute-write.
    let sql =
        "insert into t (id, v) select 1000 + value, zeroblob(300000) from json_each('[1,2,3,4,5]')";
    let refused = server
        .post("/alpha/d/-/execute-write", t, &json!({"sql": sql}))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    let ids = server.get("/alpha/d/t.json?_shape=array", t).await.json();
    let ids: Vec<i64> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>(), "nothing half-written");
    // A small write still fits.
    let small = server
        .post(
            "/alpha/d/t/-/insert",
            t,
            &json!({"row": {"id": 11, "v": "ok"}}),
        )
        .await;
    assert_eq!(small.status, 201, "{}", small.text);

    let dir = server.stop();
    let file = libsette::sqlite::open_plain(&dir.path().join("spaces/alpha/d.db")).unwrap();
    let conn = libsette::sqlite::connect(&file).unwrap();
    let check = libsette::sqlite::query_one(&conn, "pragma integrity_check", ())
        .unwrap()
        .unwrap();
    assert_eq!(check.get::<String>(0).unwrap(), "ok");
    let count = libsette::sqlite::query_one(&conn, "select count(*) from t", ())
        .unwrap()
        .unwrap();
    assert_eq!(count.get::<i64>(0).unwrap(), 11);
}

/// An SQLite file of about `mb` megabytes.
fn sqlite_file(dir: &std::path::Path, name: &str, mb: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let file = libsette::sqlite::open_plain(&path).unwrap();
    let conn = libsette::sqlite::connect(&file).unwrap();
    libsette::sqlite::execute_batch(
        &conn,
        &format!(
            "create table t (b blob); insert into t values (zeroblob({}))",
            mb << 20
        ),
    )
    .unwrap();
    path
}

fn fails_with(data: &std::path::Path, args: &[&str], needle: &str) {
    let output = cli_output(data, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn db_create_and_import_stop_at_max_databases_and_max_database_mb() {
    let dir = folder(&["alpha"]);
    let data = dir.path();
    let files = tempfile::tempdir().unwrap();
    set(
        &dir,
        "alpha",
        &[("max_databases", "2"), ("max_database_mb", "1")],
    );
    cli(data, &["db", "create", "alpha", "e"]);
    fails_with(data, &["db", "create", "alpha", "f"], "max_databases");
    let small = sqlite_file(files.path(), "small.db", 0);
    let small = small.to_str().unwrap();
    fails_with(data, &["db", "import", "alpha", small], "max_databases");
    // Replacing a database adds none.
    cli(
        data,
        &["db", "import", "alpha", small, "--name", "e", "--replace"],
    );
    let big = sqlite_file(files.path(), "big.db", 2);
    fails_with(
        data,
        &[
            "db",
            "import",
            "alpha",
            big.to_str().unwrap(),
            "--name",
            "e",
            "--replace",
        ],
        "max_database_mb",
    );
    let listed = cli(data, &["db", "list", "alpha"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!data.join("spaces/alpha/f.db").exists());
    assert!(!data.join("spaces/alpha/small.db").exists());
}

/// GET from loopback with an X-Forwarded-For header.
async fn forwarded(server: &Server, path: &str, client: &str) -> u16 {
    server
        .client
        .get(format!("{}{path}", server.base))
        .header("X-Forwarded-For", client)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate() {
    // Trusted: each client behind the proxy is counted apart, and a
    // client's own claim before the proxy's entry changes nothing.
    let server = Server::start_in(
        folder(&["alpha"]),
        &[
            "--setting",
            "rate_limit_anonymous_per_minute",
            "3",
            "--trusted-proxy",
            "127.0.0.0/8",
        ],
    );
    for _ in 0..3 {
        assert_eq!(
            forwarded(&server, "/alpha/d.json", "203.0.113.1").await,
            200
        );
    }
    assert_eq!(
        forwarded(&server, "/alpha/d.json", "203.0.113.1").await,
        429
    );
    assert_eq!(
        forwarded(&server, "/alpha/d.json", "198.51.100.9, 203.0.113.1").await,
        429,
        "a forged first hop does not make a new client"
    );
    assert_eq!(
        forwarded(&server, "/alpha/d.json", "203.0.113.2").await,
        200
    );
    // The proxy's own requests (no header) are a client of their own.
    assert_eq!(server.get("/alpha/d.json", None).await.status, 200);

    // Not trusted: the header is anyone's claim and is ignored.
    let server = Server::start_in(
        folder(&["alpha"]),
        &["--setting", "rate_limit_anonymous_per_minute", "3"],
    );
    for i in 0..3 {
        let client = format!("203.0.113.{}", 10 + i);
        assert_eq!(forwarded(&server, "/alpha/d.json", &client).await, 200);
    }
    assert_eq!(
        forwarded(&server, "/alpha/d.json", "203.0.113.99").await,
        429
    );
}

#[test]
fn a_bad_trusted_proxy_range_stops_serve() {
    let dir = folder(&["alpha"]);
    let output = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--trusted-proxy",
            "10.0.0.0/40",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("prefix length"), "{stderr}");
}
