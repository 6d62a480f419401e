//! Bulk insert throughput: 100,000 rows through `/-/insert` in batches of
//! `max_insert_rows` (100), from 4 concurrent clients, printed in rows/s.
//! `cargo bench --bench insert`; under `cargo test` it inserts 2,000 rows
//! as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::Server;
use serde_json::json;

const BATCH: usize = 100;
const CLIENTS: usize = 4;

fn main() {
    let rows = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        2_000
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bulk_insert_throughput(rows));
}

async fn bulk_insert_throughput(rows: usize) {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "b", "--owner", "root"]);
    server.cli(&["db", "create", "b", "data"]);
    let token = server.token(&["b", "root"]);
    let reply = server
        .post(
            "/b/data/-/create",
            Some(&token),
            &json!({"table": "t", "columns": [
                {"name": "id", "type": "integer"},
                {"name": "name", "type": "text"},
                {"name": "score", "type": "float"},
                {"name": "flag", "type": "integer"}
            ], "pk": "id"}),
        )
        .await;
    assert_eq!(reply.status, 201);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (http, base, token) = (server.client.clone(), server.base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for batch in (client..rows / BATCH).step_by(CLIENTS) {
                let rows: Vec<_> = (0..BATCH)
                    .map(|i| {
                        let n = batch * BATCH + i;
                        json!({"name": format!("row {n}"), "score": n as f64 / 3.0, "flag": n % 2})
                    })
                    .collect();
                let reply = http
                    .post(format!("{base}/b/data/t/-/insert"))
                    .bearer_auth(&token)
                    .json(&json!({"rows": rows}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status().as_u16(), 201);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let took = started.elapsed();
    let count = server
        .get(
            "/b/data/-/query.json?sql=select+count(*)+as+n+from+t&_shape=array",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(count[0]["n"], json!(rows));
    println!(
        "inserted {rows} rows in batches of {BATCH} with {CLIENTS} clients in {took:.2?}: {:.0} rows/s",
        rows as f64 / took.as_secs_f64()
    );
}
