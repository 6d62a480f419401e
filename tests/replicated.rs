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
    let read = b
        .client
        .get(format!("{}/acme/main/t.json?_shape=array", b.base))
        .bearer_auth(&token)
        .header("x-libsette-min-frame", frame.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert!(frame_of(&read) >= frame);
    let rows: Value = read.json().await.unwrap();
    assert_eq!(rows, json!([{"id": 1, "v": "one"}, {"id": 2, "v": "two"}]));
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
