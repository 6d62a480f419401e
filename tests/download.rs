//! `/{space}/{db}.db` against the real server: a mutable database comes as a
//! consistent snapshot taken while writers go on, an immutable one as its
//! file; `view-database-download` and `allow_download` decide, and hidden
//! spaces stay hidden.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Server;
use libsette::sqlite;
use serde_json::json;
use tokio::sync::Mutex;

/// A database with a table for inserts and some megabytes of filler, so
/// that a snapshot takes long enough for writes to land while it runs.
fn sample(path: &Path, filler_mb: i64) {
    let db = sqlite::open_file(path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(
        &conn,
        "create table events (id integer primary key, writer integer, n integer);
         create table filler (id integer primary key, data blob);",
    )
    .unwrap();
    for _ in 0..filler_mb {
        sqlite::execute(
            &conn,
            "insert into filler (data) values (randomblob(1048576))",
            (),
        )
        .unwrap();
    }
}

/// The ids an insert answer acknowledges.
fn inserted_id(reply: &common::Reply) -> i64 {
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()["rows"][0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_snapshot_while_four_clients_insert_holds_every_acknowledged_row() {
    let server = Arc::new(Server::start(&[]));
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("busy.db");
    sample(&file, 24);
    server.cli(&["space", "create", "acme", "--owner", "olive"]);
    server.cli(&["db", "import", "acme", file.to_str().unwrap()]);
    let token = server.token(&["acme", "olive"]);

    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (server, token) = (server.clone(), token.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let row = json!({"row": {"writer": writer, "n": n}, "return": true});
                let reply = server
                    .post("/acme/busy/events/-/insert", Some(&token), &row)
                    .await;
                acknowledged.lock().await.insert(inserted_id(&reply));
                n += 1;
            }
        }));
    }
    // Let the writers get going, then take what they have been told is stored.
    while acknowledged.lock().await.len() < 40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: BTreeSet<i64> = acknowledged.lock().await.clone();
    let response = server
        .client
        .get(format!("{}/acme/busy.db", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    // The snapshot is taken before the answer starts: writes went on meanwhile.
    let during = acknowledged.lock().await.len() - before.len();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        during > 0,
        "no write was acknowledged while the snapshot was taken"
    );
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"busy.db\""
    );
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    let etag = headers["etag"].to_str().unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong ETag: {etag}"
    );

    let copy = work.path().join("copy.db");
    std::fs::write(&copy, &body).unwrap();
    let conn = sqlite::connect(&sqlite::open_plain(&copy).unwrap()).unwrap();
    let check = sqlite::query_one(&conn, "pragma integrity_check", ()).unwrap();
    assert_eq!(check.unwrap().get::<String>(0).unwrap(), "ok");
    let ids: BTreeSet<i64> = sqlite::query_all(&conn, "select id from events", ())
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    let missing: Vec<_> = before.difference(&ids).collect();
    assert!(missing.is_empty(), "acknowledged rows missing: {missing:?}");
    let filler = sqlite::query_one(&conn, "select count(*) from filler", ()).unwrap();
    assert_eq!(filler.unwrap().get::<i64>(0).unwrap(), 24);

    // The temporary snapshot is gone from the space's folder.
    let space_dir = server.data().join("spaces").join("acme");
    let left: Vec<_> = std::fs::read_dir(&space_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("busy.db"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn an_unchanged_database_answers_304_and_a_changed_one_a_new_etag() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root"]);
    let first = server.get("/demo/library.db", Some(&token)).await;
    assert_eq!(first.status, 200);
    let etag = first.header("etag").unwrap().to_owned();
    let again = server
        .client
        .get(format!("{}/demo/library.db", server.base))
        .bearer_auth(&token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let row = json!({"row": {"name": "New Author"}});
    let inserted = server
        .post("/demo/library/authors/-/insert", Some(&token), &row)
        .await;
    assert_eq!(inserted.status, 201, "{}", inserted.text);
    let changed = server.get("/demo/library.db", Some(&token)).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag);
}

#[tokio::test]
async fn an_immutable_database_is_its_file_under_its_hash() {
    let server = Server::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("archive.db");
    sample(&file, 1);
    server.cli(&["space", "create", "museum", "--public"]);
    server.cli(&[
        "db",
        "import",
        "museum",
        file.to_str().unwrap(),
        "--immutable",
    ]);
    let stored = std::fs::read(server.data().join("spaces/museum/archive.db")).unwrap();
    let reply = server
        .client
        .get(format!("{}/museum/archive.db", server.base))
        .send()
        .await
        .unwrap();
    // The plain name redirects to the hashed one, as every immutable URL does.
    assert_eq!(reply.status(), 200);
    assert!(reply.url().path().starts_with("/museum/archive-"));
    let hash = reply
        .url()
        .path()
        .trim_start_matches("/museum/archive-")
        .trim_end_matches(".db")
        .to_owned();
    assert_eq!(
        reply.headers()["etag"].to_str().unwrap(),
        format!("\"{hash}\"")
    );
    assert_eq!(reply.bytes().await.unwrap().as_ref(), stored.as_slice());
}

#[tokio::test]
async fn refused_without_the_action_or_the_setting_and_hidden_spaces_stay_hidden() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "acme", "--owner", "olive"]);
    server.cli(&["db", "create", "acme", "secrets"]);
    let olive = server.token(&["acme", "olive"]);
    let viewer = server.token(&["demo", "root", "-d", "library", "view-database"]);
    let demo_owner = server.token(&["demo", "root"]);

    assert_eq!(
        server.get("/acme/secrets.db", Some(&olive)).await.status,
        200
    );
    // A token restricted to viewing the database may not download it.
    let refused = server.get("/demo/library.db", Some(&viewer)).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    // Anonymous and another space's token learn nothing of a private space.
    for token in [None, Some(demo_owner.as_str())] {
        for path in ["/acme/secrets.db", "/acme/nothing.db"] {
            let reply = server.get(path, token).await;
            assert_eq!(reply.status, 404, "{path}");
            assert!(!reply.text.contains("secrets"));
        }
    }
    // allow_download off: refused even to the owner.
    server.cli(&["space", "set", "acme", "--setting", "allow_download", "off"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let off = server.get("/acme/secrets.db", Some(&olive)).await;
    assert_eq!(off.status, 403, "{}", off.text);
    assert!(off.text.contains("Database download is forbidden"));
}

#[tokio::test]
async fn no_snapshot_outlives_its_download_or_a_crash() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root"]);
    let snapshots = |data: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(data.join("spaces/demo"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".download-"))
            .collect()
    };
    let got = server.get("/demo/library.db", Some(&token)).await;
    assert_eq!(got.status, 200);
    assert!(snapshots(&server.data()).is_empty());
    // A process killed between taking a snapshot and unlinking it leaves
    // one behind: the next start removes it.
    let data = server.stop();
    let leftover = data.path().join("spaces/demo/.download-0123abcd.db");
    std::fs::write(&leftover, b"half a copy").unwrap();
    let again = Server::start_in(data, &[]);
    assert!(!leftover.exists(), "the leftover snapshot is still there");
    assert!(snapshots(&again.data()).is_empty());
}
