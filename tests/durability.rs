//! An acknowledged write survives `kill -9`: concurrent clients insert
//! batches into the real server, which is killed with SIGKILL at a random
//! moment; after a restart every acknowledged batch is there, whole, and no
//! batch is there in part. Several cycles, on loopback only.
//!
//! Stress mode (not in CI): `LIBSETTE_KILL_CYCLES=50 cargo test --test
//! durability -- --nocapture` runs 50 cycles and prints the totals.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Server;
use rand::Rng;
use serde_json::json;

/// Cycles in CI; `LIBSETTE_KILL_CYCLES` asks for more.
const CYCLES: usize = 4;
const CLIENTS: usize = 6;
const BATCH: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let cycles = std::env::var("LIBSETTE_KILL_CYCLES")
        .ok()
        .map_or(CYCLES, |n| {
            n.parse().expect("LIBSETTE_KILL_CYCLES is a number")
        });
    let started = std::time::Instant::now();
    let mut server = Server::start(&[]);
    server.cli(&["space", "create", "d", "--owner", "root"]);
    server.cli(&["db", "create", "d", "data"]);
    let token = server.token(&["d", "root"]);
    let reply = server
        .post(
            "/d/data/-/create",
            Some(&token),
            &json!({"table": "events", "columns": [
                {"name": "id", "type": "integer"},
                {"name": "batch", "type": "text"}
            ], "pk": "id"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);

    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut attempted: HashSet<String> = HashSet::new();
    let mut next_id = 1i64;
    for cycle in 0..cycles {
        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            let (http, base, token) = (server.client.clone(), server.base.clone(), token.clone());
            let acknowledged = acknowledged.clone();
            // Ids are handed out up front so every attempt is known.
            let first = next_id + (client as i64) * 100_000;
            let names: Vec<String> = (0..1000)
                .map(|b| format!("c{cycle}-{client}-{b}"))
                .collect();
            attempted.extend(names.iter().cloned());
            tasks.push(tokio::spawn(async move {
                for (b, name) in names.iter().enumerate() {
                    let rows: Vec<_> = (0..BATCH)
                        .map(|i| json!({"id": first + (b * BATCH + i) as i64, "batch": name}))
                        .collect();
                    let sent = http
                        .post(format!("{base}/d/data/events/-/insert"))
                        .bearer_auth(&token)
                        .json(&json!({"rows": rows}))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    match sent {
                        Ok(reply) if reply.status().as_u16() == 201 => {
                            acknowledged.lock().unwrap().push(name.clone())
                        }
                        Ok(reply) => panic!("insert answered {}", reply.status()),
                        // The server died under us.
                        Err(_) => return,
                    }
                }
            }));
        }
        next_id += (CLIENTS as i64) * 100_000;
        let delay = rand::thread_rng().gen_range(150..900);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // Server::stop sends SIGKILL: no shutdown, no checkpoint.
        let dir = server.stop();
        for task in tasks {
            task.await.unwrap();
        }
        server = Server::start_in(dir, &[]);
        let so_far = acknowledged.lock().unwrap().clone();
        check(&server, &token, &so_far, &attempted, cycle).await;
    }
    let acknowledged = acknowledged.lock().unwrap().len();
    assert!(
        acknowledged > cycles,
        "too few writes were acknowledged to prove anything"
    );
    // `check` fails on the first lost or half-applied batch: none were.
    eprintln!(
        "{cycles} SIGKILL cycles: {acknowledged} acknowledged batches ({} rows), 0 lost, in {:.1} s",
        acknowledged * BATCH,
        started.elapsed().as_secs_f64()
    );
}

async fn check(
    server: &Server,
    token: &str,
    acknowledged: &[String],
    attempted: &HashSet<String>,
    cycle: usize,
) {
    // The restarted server answers, and agrees with the file.
    let reply = server
        .get(
            "/d/data/-/query.json?sql=select+count(*)+as+n+from+events&_shape=array",
            Some(token),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let total = reply.json()[0]["n"].as_i64().unwrap();
    let file = server.data().join("spaces/d/data.db");
    let db = libsette::sqlite::open_file(&file).unwrap();
    let conn = libsette::sqlite::connect(&db).unwrap();
    let present: Vec<(String, i64)> = libsette::sqlite::query_all(
        &conn,
        "select batch, count(*) from events group by batch",
        (),
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
    .collect();
    assert_eq!(
        total,
        present.iter().map(|p| p.1).sum::<i64>(),
        "server and file disagree"
    );
    for (batch, n) in &present {
        assert_eq!(
            *n, BATCH as i64,
            "cycle {cycle}: batch {batch} is half applied"
        );
        assert!(attempted.contains(batch), "unknown batch {batch}");
    }
    let present: HashSet<&String> = present.iter().map(|(b, _)| b).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|b| !present.contains(b))
        .collect();
    assert!(
        lost.is_empty(),
        "cycle {cycle}: {} acknowledged batches were lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    eprintln!(
        "cycle {cycle}: {} batches acknowledged so far, {} present",
        acknowledged.len(),
        present.len()
    );
}
