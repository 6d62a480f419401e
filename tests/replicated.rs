//! Two libsette nodes serving embedded replicas of one real sqld primary
//! (`LIBSETTE_SQLD`): commands write through the primary, a write on node A
//! is read on node B when B is asked for A's frame, a token revoked through
//! one node is refused by the other within two seconds, and with the
//! primary down reads go on (marked stale) while writes get 503.

mod common;

use std::time::{Duration, Instant};

use common::sqld::{self, Sqld};
use common::{Server, cli_output};
use serde_json::{Value, json};

/// `libsette --primary … ARGS` on a node's folder.
fn node_cli(sqld: &Sqld, dir: &std::path::Path, args: &[&str]) -> String {
    let (url, admin) = (sqld.url(), sqld.admin_url());
    let mut all = vec!["--primary", &url, "--primary-admin-url", &admin];
    all.extend_from_slice(args);
    let output = cli_output(dir, &all);
    assert!(
        output.status.success(),
        "libsette {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn node(sqld: &Sqld) -> Server {
    let (url, admin) = (sqld.url(), sqld.admin_url());
    Server::start_in(
        tempfile::tempdir().unwrap(),
        &["--primary", &url, "--primary-admin-url", &admin],
    )
}

async fn post(server: &Server, path: &str, token: &str, body: Value) -> reqwest::Response {
    server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// GET as `token`, asking for at least `frame`.
async fn get_at(server: &Server, path: &str, token: &str, frame: u64) -> reqwest::Response {
    server
        .client
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .header("x-libsette-min-frame", frame.to_string())
        .send()
        .await
        .unwrap()
}

fn frame_of(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("x-libsette-frame")
        .expect("the answer says its frame")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_primary() {
    let Some(binary) = sqld::binary("two_nodes_share_one_primary") else {
        return;
    };
    let mut primary = Sqld::start(binary);
    let setup = tempfile::tempdir().unwrap();
    node_cli(&primary, setup.path(), &["user", "create", "alice"]);
    node_cli(
        &primary,
        setup.path(),
        &["space", "create", "acme", "--owner", "alice"],
    );
    node_cli(&primary, setup.path(), &["db", "create", "acme", "main"]);
    let token = node_cli(
        &primary,
        setup.path(),
        &["token", "create", "acme", "alice"],
    )
    .trim()
    .to_owned();
    let (a, b) = (node(&primary), node(&primary));

    let created = post(
        &a,
        "/acme/main/-/create",
        &token,
        json!({"table": "t", "columns": [{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}], "pk": "id"}),
    )
    .await;
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let inserted = post(
        &a,
        "/acme/main/t/-/insert",
        &token,
        json!({"rows": [{"id": 1, "v": "one"}, {"id": 2, "v": "two"}]}),
    )
    .await;
    assert_eq!(inserted.status(), 201);
    let frame = frame_of(&inserted);

    // B, asked for A's frame, has both rows at once.
    let read = get_at(&b, "/acme/main/t.json?_shape=array", &token, frame).await;
    assert_eq!(read.status(), 200);
    assert!(frame_of(&read) >= frame);
    let rows: Value = read.json().await.unwrap();
    assert_eq!(rows, json!([{"id": 1, "v": "one"}, {"id": 2, "v": "two"}]));
    // Answers are cached by the frame they were read at: the same read
    // again is a hit with the same ETag; a write moves the frame and the
    // answer with it.
    let path = "/acme/main/t.json?_shape=array&_sort=id";
    // (A cheap answer is kept on its second request, so the third hits.)
    let first = b.get(path, Some(&token)).await;
    b.get(path, Some(&token)).await;
    let again = b.get(path, Some(&token)).await;
    let hits = |m: &str| {
        common::metric(
            m,
            r#"libsette_cache_events_total{cache="results",event="hit"}"#,
        )
    };
    let metrics = b.get("/metrics", None).await.text;
    assert!(
        hits(&metrics) >= 1,
        "a replicated node answers from its result cache"
    );
    assert_eq!(first.headers.get("etag"), again.headers.get("etag"));
    let more = post(
        &a,
        "/acme/main/t/-/insert",
        &token,
        json!({"row": {"id": 9, "v": "nine"}}),
    )
    .await;
    let moved = frame_of(&more);
    let after = get_at(&b, path, &token, moved).await;
    assert_ne!(after.headers().get("etag"), first.headers.get("etag"));
    let rows: Value = after.json().await.unwrap();
    assert_eq!(
        rows.as_array().unwrap().len(),
        3,
        "the new row is in the new answer"
    );

    // A frame no one wrote yet: a bounded wait, then 503 with Retry-After.
    let ahead = b
        .client
        .get(format!(
            "{}/acme/main/t.json?_min_frame={}",
            b.base,
            frame + 1000
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ahead.status(), 503);
    assert!(ahead.headers().contains_key("retry-after"));
    let bad = b
        .client
        .get(format!("{}/acme/main/t.json?_min_frame=soon", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // A token revoked through node A's command line is refused by B soon.
    assert_eq!(b.get("/acme/main/t.json", Some(&token)).await.status, 200);
    node_cli(&primary, setup.path(), &["token", "revoke", "acme", &token]);
    let revoked = Instant::now();
    loop {
        if b.get("/acme/main/t.json", Some(&token)).await.status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(2),
            "B still accepts a revoked token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("revocation reached node B after {:?}", revoked.elapsed());

    // The primary stops: reads go on from the replica, marked stale; writes
    // get 503 with Retry-After. When it is back, writes work again.
    let writer = node_cli(
        &primary,
        setup.path(),
        &["token", "create", "acme", "alice"],
    )
    .trim()
    .to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    primary.stop();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stale = b.get("/acme/main/t.json?_shape=array", Some(&writer)).await;
    assert_eq!(stale.status, 200, "{}", stale.text);
    assert_eq!(
        stale
            .headers
            .get("x-libsette-stale")
            .map(|v| v.to_str().unwrap()),
        Some("1"),
        "a read the replica could not sync says so"
    );
    let metrics = b.get("/metrics", None).await.text;
    assert!(common::metric(&metrics, "libsette_replica_stale_reads_total") >= 1);
    assert!(
        common::metric(
            &metrics,
            r#"libsette_replica_sync_errors_total{kind="database"}"#
        ) >= 1
    );
    assert!(
        common::metric(
            &metrics,
            r#"libsette_replica_sync_seconds_count{kind="catalog"}"#
        ) > 0
    );
    let on_a = a.get("/metrics", None).await.text;
    assert!(common::metric(&on_a, "libsette_replica_write_seconds_count") >= 2);
    let refused = post(
        &a,
        "/acme/main/t/-/insert",
        &writer,
        json!({"row": {"id": 3, "v": "three"}}),
    )
    .await;
    assert_eq!(refused.status(), 503, "{:?}", refused.text().await);
    assert!(refused.headers().contains_key("retry-after"));
    primary.restart();
    let back = Instant::now();
    loop {
        let again = post(
            &a,
            "/acme/main/t/-/insert",
            &writer,
            json!({"row": {"id": 3, "v": "three"}}),
        )
        .await;
        if again.status() == 201 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "writes did not come back: {}",
            again.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every id in `t`, as node `server` reads it at `frame` or later.
async fn ids_on(server: &Server, token: &str, frame: u64) -> Vec<i64> {
    // One value, however many rows (a query answers at most 1,000 rows).
    let path = "/acme/main/-/query.json?sql=select+group_concat(id)+from+(select+id+from+t+order+by+id)&_shape=arrayfirst";
    let read = get_at(server, path, token, frame).await;
    assert_eq!(read.status(), 200);
    let joined: Vec<Option<String>> = read.json().await.unwrap();
    joined[0]
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_clients_on_two_nodes_end_identical() {
    let Some(binary) = sqld::binary("eight_clients_on_two_nodes_end_identical") else {
        return;
    };
    let seconds: u64 = std::env::var("LIBSETTE_REPLICATED_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let primary = Sqld::start(binary);
    let setup = tempfile::tempdir().unwrap();
    node_cli(&primary, setup.path(), &["user", "create", "alice"]);
    node_cli(
        &primary,
        setup.path(),
        &["space", "create", "acme", "--owner", "alice"],
    );
    node_cli(
        &primary,
        setup.path(),
        &[
            "space",
            "set",
            "acme",
            "--setting",
            "rate_limit_token_per_minute",
            "0",
        ],
    );
    node_cli(&primary, setup.path(), &["db", "create", "acme", "main"]);
    let token = node_cli(
        &primary,
        setup.path(),
        &["token", "create", "acme", "alice"],
    )
    .trim()
    .to_owned();
    let nodes = std::sync::Arc::new([node(&primary), node(&primary)]);
    let created = post(
        &nodes[0],
        "/acme/main/-/create",
        &token,
        json!({"table": "t", "columns": [{"name": "id", "type": "integer"}, {"name": "client", "type": "integer"}], "pk": "id"}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut clients = Vec::new();
    for client in 0..8i64 {
        let (nodes, token) = (nodes.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let node = &nodes[(client % 2) as usize];
            let (mut acked, mut frame, mut i) = (Vec::new(), 0u64, 0i64);
            while Instant::now() < until {
                i += 1;
                let id = client * 1_000_000 + i;
                let reply = post(
                    node,
                    "/acme/main/t/-/insert",
                    &token,
                    json!({"row": {"id": id, "client": client}}),
                )
                .await;
                if reply.status() == 201 {
                    frame = frame.max(frame_of(&reply));
                    acked.push(id);
                }
                // Now and then, read back at our own frame: our rows are there.
                if i % 10 == 0 {
                    let seen = ids_on(node, &token, frame).await;
                    let last = *acked.last().unwrap();
                    assert!(
                        seen.binary_search(&last).is_ok(),
                        "client {client} misses its row {last}"
                    );
                }
            }
            (acked, frame)
        }));
    }
    let (mut acked, mut frame) = (Vec::new(), 0);
    for client in clients {
        let (ids, last) = client.await.unwrap();
        acked.extend(ids);
        frame = frame.max(last);
    }
    acked.sort();
    assert!(
        acked.len() > 100,
        "only {} writes were acknowledged",
        acked.len()
    );
    let on_a = ids_on(&nodes[0], &token, frame).await;
    let on_b = ids_on(&nodes[1], &token, frame).await;
    let on_primary = primary_ids(&primary).await;
    assert_eq!(on_a, acked, "node A holds exactly the acknowledged rows");
    assert_eq!(on_b, acked, "node B holds exactly the acknowledged rows");
    assert_eq!(
        on_primary, acked,
        "the primary holds exactly the acknowledged rows"
    );
    eprintln!(
        "{} acknowledged writes in {seconds} s from 8 clients on 2 nodes; identical on both replicas and the primary (frame {frame})",
        acked.len()
    );
}

/// Every id in `t` on the primary itself, over sqld's HTTP API.
async fn primary_ids(primary: &Sqld) -> Vec<i64> {
    let body = json!({"requests": [
        {"type": "execute", "stmt": {"sql": "select id from t order by id"}},
        {"type": "close"}
    ]});
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/v2/pipeline", primary.url()))
        .header("x-namespace", "libsette-db-1")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["results"][0]["response"]["result"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row[0]["value"].as_str().unwrap().parse().unwrap())
        .collect()
}
