//! A graceful stop, as `docker compose down` and rolling upgrades send it:
//! on SIGTERM the real server stops accepting, finishes what is in flight
//! (at most `--shutdown-timeout-secs`), empties every WAL into its database
//! and exits 0; every acknowledged write is there after a restart.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

const CLIENTS: usize = 4;
const BATCH: usize = 10;

/// Space `s` with databases `one` and `two`, each with table `events`; a root token.
async fn world(server: &Server) -> String {
    server.cli(&["space", "create", "s", "--owner", "root"]);
    let token = server.token(&["s", "root"]);
    for db in ["one", "two"] {
        server.cli(&["db", "create", "s", db]);
    }
    for db in ["one", "two"] {
        let create = json!({"table": "events", "columns": [
            {"name": "id", "type": "integer"}, {"name": "batch", "type": "text"}
        ], "pk": "id"});
        let reply = server
            .post(&format!("/s/{db}/-/create"), Some(&token), &create)
            .await;
        assert_eq!(reply.status, 201, "{db}: {}", reply.text);
    }
    token
}

/// Every `-wal` file in the data folder is gone or empty.
fn assert_wals_empty(data: &Path) {
    let mut files = vec![data.join("catalog.db-wal")];
    for entry in std::fs::read_dir(data.join("spaces/s")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with("-wal"))
    {
        let size = std::fs::metadata(file).map_or(0, |m| m.len());
        assert_eq!(size, 0, "{} holds {size} bytes", file.display());
    }
    assert!(data.join("spaces/s/one.db").exists());
}

/// A connection of this process to `file`, idle, outside any transaction.
fn onlooker(file: &Path) -> (libsql::Database, libsette::sqlite::Closing) {
    let db = libsette::sqlite::open_plain(file).unwrap();
    let conn = libsette::sqlite::connect(&db).unwrap();
    libsette::sqlite::query_one(&conn, "select count(*) from sqlite_master", ()).unwrap();
    (db, conn)
}

/// Sends batches until the server goes away; the batches it acknowledged.
fn insert_until_stopped(
    server: &Server,
    token: &str,
    client: usize,
    acknowledged: Arc<Mutex<Vec<(String, String)>>>,
) -> tokio::task::JoinHandle<()> {
    let (http, base, token) = (server.client.clone(), server.base.clone(), token.to_owned());
    tokio::spawn(async move {
        let db = ["one", "two"][client % 2];
        for b in 0.. {
            let name = format!("c{client}-{b}");
            let first = (client * 1_000_000 + b * BATCH) as i64;
            let rows: Vec<_> = (0..BATCH as i64)
                .map(|i| json!({"id": first + i, "batch": name}))
                .collect();
            let sent = http
                .post(format!("{base}/s/{db}/events/-/insert"))
                .bearer_auth(&token)
                .json(&json!({"rows": rows}))
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            match sent {
                Ok(reply) if reply.status().as_u16() == 201 => {
                    acknowledged.lock().unwrap().push((db.to_owned(), name))
                }
                Ok(reply) => panic!("insert answered {}", reply.status()),
                // Refused or closed: the server has stopped.
                Err(_) => return,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_requests_in_flight_checkpoints_and_exits_0() {
    let mut server = Server::start(&["--setting", "sql_time_limit_ms", "20000"]);
    let token = world(&server).await;
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let writers: Vec<_> = (0..CLIENTS)
        .map(|c| insert_until_stopped(&server, &token, c, acknowledged.clone()))
        .collect();
    // A read that takes a while, in flight when the signal comes.
    let slow_sql = "with recursive c(x) as (select 1 union all select x+1 from c where x < 2000000) select count(*) as n from c";
    let slow = server.client.get(format!(
        "{}/s/one/-/query.json?_shape=array&sql={}",
        server.base,
        form_urlencoded::byte_serialize(slow_sql.as_bytes()).collect::<String>()
    ));
    let slow = tokio::spawn(slow.bearer_auth(&token).send());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = acknowledged.lock().unwrap().len();
    assert!(before > 0, "no insert was acknowledged before the stop");
    // Another process keeps the files open (a CLI, a sidecar): closing its
    // last connection does not empty a WAL then; only a checkpoint does.
    let onlookers: Vec<_> = ["catalog.db", "spaces/s/one.db", "spaces/s/two.db"]
        .iter()
        .map(|file| onlooker(&server.data().join(file)))
        .collect();
    server.terminate();
    let slow = slow
        .await
        .unwrap()
        .expect("the read in flight was answered");
    assert_eq!(slow.status(), 200);
    let n = slow.json::<serde_json::Value>().await.unwrap()[0]["n"].clone();
    assert_eq!(n, 2_000_000);
    for writer in writers {
        writer.await.unwrap();
    }
    let status = server
        .exited_within(Duration::from_secs(25))
        .expect("still running after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    // New connections are refused once it has stopped.
    assert!(
        std::net::TcpStream::connect(
            server
                .base
                .trim_start_matches("http://")
                .trim_end_matches('/')
        )
        .is_err()
    );
    assert_wals_empty(&server.data());
    drop(onlookers);

    let acknowledged = acknowledged.lock().unwrap().clone();
    let server = Server::start_in(server.stop(), &[]);
    for db in ["one", "two"] {
        let sql = "select batch, count(*) as n from events group by batch";
        let reply = server
            .get(
                &format!(
                    "/s/{db}/-/query.json?_shape=array&_size=max&sql={}",
                    sql.replace(' ', "+")
                ),
                Some(&token),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let present: std::collections::HashMap<String, i64> = reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["batch"].as_str().unwrap().to_owned(),
                    r["n"].as_i64().unwrap(),
                )
            })
            .collect();
        assert!(
            present.values().all(|n| *n == BATCH as i64),
            "a batch is half there"
        );
        for (_, batch) in acknowledged.iter().filter(|(d, _)| d == db) {
            assert!(
                present.contains_key(batch),
                "acknowledged batch {batch} of {db} is lost"
            );
        }
    }
    eprintln!(
        "{} batches acknowledged, {before} before SIGTERM",
        acknowledged.len()
    );
}

#[tokio::test]
async fn a_request_that_outlasts_the_drain_is_cut_and_the_server_still_exits_0() {
    let mut server = Server::start(&["--shutdown-timeout-secs", "1", "--body-timeout-secs", "60"]);
    let token = world(&server).await;
    // Headers and half a body, then nothing: only the drain's bound ends it.
    let body = json!({"rows": [{"id": 1, "batch": "never"}]}).to_string();
    let addr = server
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /s/one/events/-/insert HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stalled.write_all(head.as_bytes()).unwrap();
    stalled
        .write_all(&body.as_bytes()[..body.len() / 2])
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    server.terminate();
    let status = server
        .exited_within(Duration::from_secs(10))
        .expect("the stalled request held the server past its drain");
    let took = stopped.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        took >= Duration::from_millis(900),
        "did not wait for the drain: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_wals_empty(&server.data());
    let server = Server::start_in(server.stop(), &[]);
    let reply = server
        .get("/s/one/events.json?_shape=array", Some(&token))
        .await;
    assert_eq!(reply.text, "[]");
}
