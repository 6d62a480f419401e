//! `libsette backup` and `restore` against real servers on loopback: a
//! backup taken while clients insert restores to a server that answers as
//! the source did at the backup's moment; a damaged backup is refused; one
//! space moves to another running server.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, cli, cli_output};
use serde_json::{Value, json};

const CLIENTS: usize = 4;
const BATCH: usize = 10;
/// Enough for every row of a test table in one answer.
fn serve_args() -> Vec<&'static str> {
    vec!["--setting", "max_returned_rows", "100000"]
}

/// `pragma integrity_check` of a database file says ok.
fn assert_sound(file: &Path) {
    let db = libsette::sqlite::open_existing(file).unwrap();
    let conn = libsette::sqlite::connect(&db).unwrap();
    let row = libsette::sqlite::query_one(&conn, "pragma integrity_check", ())
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "ok", "{}", file.display());
}

/// A small SQLite file with table `t` of `n` rows, for `db import`.
fn file_with_rows(dir: &Path, name: &str, n: i64) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.db"));
    let db = libsette::sqlite::open_plain(&path).unwrap();
    let conn = libsette::sqlite::connect(&db).unwrap();
    libsette::sqlite::execute_batch(&conn, "create table t (id integer primary key, v text)")
        .unwrap();
    for i in 1..=n {
        libsette::sqlite::execute(
            &conn,
            "insert into t values (?1, ?2)",
            (i, format!("row {i}")),
        )
        .unwrap();
    }
    path
}

/// Space `s`: databases `one` and `two` with table `events`, and the
/// immutable `frozen`; a root token and frozen's URL hash.
async fn source_world(server: &Server, scratch: &Path) -> (String, String) {
    server.cli(&["space", "create", "s", "--owner", "root"]);
    let token = server.token(&["s", "root"]);
    for db in ["one", "two"] {
        server.cli(&["db", "create", "s", db]);
    }
    let frozen = file_with_rows(scratch, "frozen", 25);
    let said = server.cli(&["db", "import", "s", frozen.to_str().unwrap(), "--immutable"]);
    let hash = said
        .split("/s/frozen-")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no hash in {said}"))
        .to_owned();
    for db in ["one", "two"] {
        let create = json!({"table": "events", "columns": [
            {"name": "id", "type": "integer"}, {"name": "client", "type": "integer"},
            {"name": "seq", "type": "integer"}, {"name": "note", "type": "text"}
        ], "pk": "id"});
        let reply = server
            .post(&format!("/s/{db}/-/create"), Some(&token), &create)
            .await;
        assert_eq!(reply.status, 201, "{db}: {}", reply.text);
    }
    // Some bulk, so that copying takes a while as the writes go on.
    for db in ["one", "two"] {
        let file =
            libsette::sqlite::open_existing(&server.data().join(format!("spaces/s/{db}.db")))
                .unwrap();
        let conn = libsette::sqlite::connect(&file).unwrap();
        libsette::sqlite::execute_batch(
            &conn,
            "create table bulk as with recursive c(x) as (select 1 union all select x + 1 from c where x < 16000)
             select x, randomblob(500) as b from c",
        )
        .unwrap();
    }
    (token, hash)
}

/// Client `c` inserts batches 0, 1, 2… into `one` (even c) or `two` (odd c)
/// until `stop`; each acknowledged batch number is pushed, in order.
fn writer(
    server: &Server,
    token: &str,
    c: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Vec<i64>>>>,
) -> tokio::task::JoinHandle<()> {
    let (http, base, token) = (server.client.clone(), server.base.clone(), token.to_owned());
    tokio::spawn(async move {
        let db = ["one", "two"][c % 2];
        let mut seq = 0i64;
        while !stop.load(Ordering::Relaxed) {
            let rows: Vec<_> = (0..BATCH as i64)
                .map(|i| json!({"id": (c as i64) * 1_000_000 + seq * 100 + i, "client": c, "seq": seq, "note": format!("c{c} s{seq} r{i}")}))
                .collect();
            let reply = http
                .post(format!("{base}/s/{db}/events/-/insert"))
                .bearer_auth(&token)
                .json(&json!({"rows": rows}))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status().as_u16(), 201);
            acked.lock().unwrap()[c].push(seq);
            seq += 1;
        }
    })
}

async fn rows(server: &Server, token: &str, path: &str) -> Vec<Value> {
    let reply = server.get(path, Some(token)).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.json().as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_writes_restores_to_a_server_that_answers_the_same() {
    let scratch = tempfile::tempdir().unwrap();
    let source = Server::start(&serve_args());
    let (token, hash) = source_world(&source, scratch.path()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Vec<i64>>>> = Arc::new(Mutex::new(vec![Vec::new(); CLIENTS]));
    let writers: Vec<_> = (0..CLIENTS)
        .map(|c| writer(&source, &token, c, stop.clone(), acked.clone()))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    // What was acknowledged before the backup started must be in it.
    let before: Vec<usize> = acked.lock().unwrap().iter().map(Vec::len).collect();
    let dest = scratch.path().join("backup");
    let (data, dest_arg) = (source.data(), dest.clone());
    let said =
        tokio::task::spawn_blocking(move || cli(&data, &["backup", dest_arg.to_str().unwrap()]))
            .await
            .unwrap();
    let during: Vec<usize> = acked.lock().unwrap().iter().map(Vec::len).collect();
    eprintln!(
        "acknowledged batches per client: {before:?} before the backup, {during:?} when it ended"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(said.contains(" 4 databases"), "{said}");
    assert!(
        before.iter().all(|n| *n > 0),
        "a client had no batch acknowledged: {before:?}"
    );
    assert!(
        during.iter().sum::<usize>() > before.iter().sum::<usize>(),
        "no write went on during the backup"
    );

    let target = tempfile::tempdir().unwrap();
    cli(target.path(), &["restore", dest.to_str().unwrap()]);
    for file in [
        "catalog.db",
        "spaces/s/one.db",
        "spaces/s/two.db",
        "spaces/s/frozen.db",
        "spaces/demo/library.db",
    ] {
        assert_sound(&target.path().join(file));
    }
    let restored = Server::start_in(target, &serve_args());

    // The same token works: the catalog came along.
    for (c, acked_before) in before.iter().enumerate() {
        let db = ["one", "two"][c % 2];
        let path = format!("/s/{db}/events.json?_shape=array&_size=max&client={c}&_sort=id");
        let (theirs, ours) = (
            rows(&source, &token, &path).await,
            rows(&restored, &token, &path).await,
        );
        // One moment of the database: each client's batches are a prefix of
        // what it sent, whole, holding every batch acknowledged before the backup...
        let seqs: Vec<i64> = ours.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
        let batches = seqs.len() / BATCH;
        assert_eq!(
            seqs.len(),
            batches * BATCH,
            "client {c}: a batch is half there"
        );
        assert!(
            batches >= *acked_before,
            "client {c}: {batches} batches restored, {acked_before} acknowledged before the backup"
        );
        assert!(
            seqs.iter()
                .enumerate()
                .all(|(i, s)| *s == (i / BATCH) as i64),
            "client {c}: a gap"
        );
        // ...and each row answers exactly as the source answers it.
        assert_eq!(ours[..], theirs[..ours.len()], "client {c}: rows differ");
    }
    // Untouched tables answer byte for byte the same, the immutable one under its same hash.
    let demo = [
        "/demo/library/books.json?_shape=array&_size=max",
        "/demo/library.json",
    ];
    let frozen = [
        format!("/s/frozen-{hash}/t.json?_shape=array&_size=max"),
        format!("/s/frozen-{hash}.json"),
    ];
    for (path, token) in demo
        .iter()
        .map(|p| (*p, None))
        .chain(frozen.iter().map(|p| (p.as_str(), Some(token.as_str()))))
    {
        let (a, b) = (
            source.get(path, token).await,
            restored.get(path, token).await,
        );
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!((a.status, &a.text), (b.status, &b.text), "{path}");
    }
}

/// A backup of a fresh server (the demo space) in `dir/backup`.
fn small_backup(dir: &Path) -> std::path::PathBuf {
    let server = Server::start(&[]);
    let dest = dir.join("backup");
    server.cli(&["backup", dest.to_str().unwrap()]);
    dest
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Changes a copy of a backup.
type Tamper = dyn Fn(&Path);

#[test]
fn a_damaged_or_altered_backup_is_refused_and_nothing_is_laid_down() {
    let scratch = tempfile::tempdir().unwrap();
    let good = small_backup(scratch.path());
    let flip_a_byte = |b: &Path| {
        let file = b.join("spaces/demo/library.db");
        let mut bytes = std::fs::read(&file).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(&file, bytes).unwrap();
    };
    let drop_a_file = |b: &Path| std::fs::remove_file(b.join("spaces/demo/library.db")).unwrap();
    let grow_the_catalog = |b: &Path| {
        let mut bytes = std::fs::read(b.join("catalog.db")).unwrap();
        bytes.extend_from_slice(&[0; 512]);
        std::fs::write(b.join("catalog.db"), bytes).unwrap();
    };
    let point_outside = |b: &Path| {
        let text = std::fs::read_to_string(b.join("manifest.json")).unwrap();
        std::fs::write(
            b.join("manifest.json"),
            text.replace("\"path\": \"secret\"", "\"path\": \"../secret\""),
        )
        .unwrap();
    };
    let cases: [(&str, &Tamper, &str); 4] = [
        (
            "a flipped byte",
            &flip_a_byte,
            "does not match the manifest",
        ),
        ("a missing file", &drop_a_file, "is missing from the backup"),
        (
            "a grown catalog",
            &grow_the_catalog,
            "does not match the manifest",
        ),
        ("a path outside", &point_outside, "unexpected file"),
    ];
    for (i, (what, tamper, says)) in cases.iter().enumerate() {
        let copy = scratch.path().join(format!("tampered-{i}"));
        copy_tree(&good, &copy);
        tamper(&copy);
        let target = scratch.path().join(format!("target-{i}"));
        let output = cli_output(&target, &["restore", copy.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: restored");
        assert!(err.contains(says), "{what}: {err}");
        assert!(!target.exists(), "{what}: the data folder was created");
    }
    // The untouched backup restores; a second time, into the now full folder, it does not.
    let target = scratch.path().join("target");
    cli(&target, &["restore", good.to_str().unwrap()]);
    let again = cli_output(&target, &["restore", good.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    // A backup never writes into a folder that holds something.
    let busy = cli_output(&target, &["backup", target.to_str().unwrap()]);
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("is not empty"));
}

#[tokio::test]
async fn one_space_moves_to_another_running_server() {
    let scratch = tempfile::tempdir().unwrap();
    let source = Server::start(&[]);
    source.cli(&["user", "create", "alice"]);
    source.cli(&["space", "create", "team", "--owner", "alice"]);
    source.cli(&[
        "space",
        "set",
        "team",
        "--setting",
        "default_page_size",
        "3",
        "--cors-origin",
        "https://app.example",
    ]);
    let notes = file_with_rows(scratch.path(), "notes", 8);
    source.cli(&["db", "import", "team", notes.to_str().unwrap()]);
    source.cli(&["db", "create", "team", "empty"]);
    // Anonymous visitors may view one table, by an explicit grant.
    {
        let catalog =
            libsette::catalog::Catalog::open(&libsette::catalog::DataDir::new(source.data()))
                .unwrap();
        let conn = catalog.conn().unwrap();
        let space = libsette::catalog::spaces::require(&conn, "team").unwrap();
        for action in ["view-table", "view-database", "view-instance"] {
            libsette::catalog::grants::add(
                &conn,
                libsette::catalog::grants::Grant {
                    space_id: space.id,
                    user_id: None,
                    database: Some("notes"),
                    table: Some("t"),
                    action,
                    allow: true,
                    reason: "test",
                },
            )
            .unwrap();
        }
    }
    let alice_there = source.token(&["team", "alice"]);
    let dest = scratch.path().join("team-backup");
    let said = source.cli(&["backup", dest.to_str().unwrap(), "--space", "team"]);
    assert!(said.contains("backed up space team: 2 databases"), "{said}");

    let target = Server::start(&[]);
    let imported = target.cli(&["restore", dest.to_str().unwrap(), "--space", "crew"]);
    assert!(
        imported.contains("invited") && imported.contains("alice"),
        "{imported}"
    );
    let page = "/notes/t.json?_shape=array";
    let (a, b) = (
        source.get(&format!("/team{page}"), None).await,
        target.get(&format!("/crew{page}"), None).await,
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!((a.status, &a.text), (b.status, &b.text));
    assert_eq!(
        b.json().as_array().unwrap().len(),
        3,
        "the space's page size came along"
    );
    // Members came along (alice invited here); tokens did not.
    let alice_here = target.token(&["crew", "alice"]);
    let all = target
        .get(
            "/crew/notes/t.json?_shape=array&_size=100",
            Some(&alice_here),
        )
        .await;
    assert_eq!(all.json().as_array().unwrap().len(), 8);
    assert_eq!(
        target
            .get("/crew/-/databases.json", Some(&alice_here))
            .await
            .status,
        200
    );
    assert_eq!(
        target
            .get("/crew/notes.json", Some(&alice_there))
            .await
            .status,
        401
    );
    assert!(
        target
            .cli(&["space", "list"])
            .contains("crew\tprivate\t2 databases\tcors https://app.example")
    );
    // A space of that name exists now: a second import is refused.
    let again = cli_output(
        &target.data(),
        &["restore", dest.to_str().unwrap(), "--space", "crew"],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // Nor does a one-space backup restore whole, or a full one as a space.
    let empty = scratch.path().join("empty");
    let whole = cli_output(&empty, &["restore", dest.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&whole.stderr).contains("--space NAME"));
    assert!(!empty.exists());
}

#[tokio::test]
async fn a_database_deleted_during_a_full_backup_is_left_out_of_it_whole() {
    let scratch = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    server.cli(&["db", "create", "demo", "gone"]);
    // As when `space delete` removes files after the catalog was copied.
    std::fs::remove_file(server.data().join("spaces/demo/gone.db")).unwrap();
    let dest = scratch.path().join("backup");
    let output = cli_output(&server.data(), &["backup", dest.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("database gone of space demo has no file"),
        "{err}"
    );
    let target = tempfile::tempdir().unwrap();
    cli(target.path(), &["restore", dest.to_str().unwrap()]);
    assert_eq!(
        cli(target.path(), &["db", "list", "demo"]).lines().count(),
        1
    );
    let restored = Server::start_in(target, &[]);
    let listing = restored.get("/demo/-/databases.json", None).await;
    assert_eq!(listing.status, 200);
    assert!(!listing.text.contains("gone"), "{}", listing.text);
}
