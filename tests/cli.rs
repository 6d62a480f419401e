//! The command line: spaces, databases, imports, users, settings, migrations,
//! each working while a server runs on the same data folder.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, cli, cli_output};
use libsette::sqlite;
use serde_json::json;

fn fails_with(data: &Path, args: &[&str], message: &str) {
    let output = cli_output(data, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(
        stderr.contains(message),
        "{args:?}: expected {message:?} in {stderr:?}"
    );
}

/// Writes an SQLite file with one table `t` holding `rows` rows.
fn sample_db(path: &Path, table: &str, rows: i64) {
    let db = sqlite::open_plain(path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(
        &conn,
        &format!("create table {table} (id integer primary key, v text)"),
    )
    .unwrap();
    for i in 0..rows {
        sqlite::execute(
            &conn,
            &format!("insert into {table} (v) values (?1)"),
            [format!("row {i}")],
        )
        .unwrap();
    }
}

#[test]
fn space_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    fails_with(data, &["space", "create", "Bad_Name"], "a space name is");
    fails_with(data, &["space", "create", "-dash"], "");
    fails_with(data, &["space", "create", "metrics"], "reserved");
    fails_with(data, &["space", "create", "static"], "reserved");
    cli(data, &["space", "create", "team-1"]);
    fails_with(data, &["space", "create", "team-1"], "already exists");
    let listed = cli(data, &["space", "list"]);
    assert!(listed.contains("team-1\tprivate\t0 databases"), "{listed}");
    fails_with(
        data,
        &["db", "create", "nope", "main"],
        "no space named 'nope'",
    );
    fails_with(
        data,
        &["db", "create", "team-1", "bad.name"],
        "a database name is",
    );
    fails_with(
        data,
        &["token", "create", "team-1", "root", "-a", "fly"],
        "unknown action 'fly'",
    );
    fails_with(
        data,
        &["token", "create", "team-1", "root", "--expires-after", "0"],
        "positive",
    );
}

#[tokio::test]
async fn imports_are_checked_and_replacement_is_seen_at_once() {
    let server = Server::start(&[]);
    let data = server.data();
    server.cli(&["space", "create", "lab", "--public"]);
    let work = tempfile::tempdir().unwrap();

    let garbage = work.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database at all, not even close......",
    )
    .unwrap();
    fails_with(
        &data,
        &["db", "import", "lab", garbage.to_str().unwrap()],
        "not an SQLite database",
    );

    let first = work.path().join("measurements.db");
    sample_db(&first, "readings", 3);
    let out = server.cli(&["db", "import", "lab", first.to_str().unwrap()]);
    assert!(out.contains("as database measurements"), "{out}");
    let reply = server.get("/lab/measurements.json", None).await;
    assert_eq!(reply.table_names(), vec!["readings"]);
    assert_eq!(reply.json()["tables"][0]["count"], json!(3));
    fails_with(
        &data,
        &["db", "import", "lab", first.to_str().unwrap()],
        "--replace",
    );

    // A different file under the same name replaces it for the running server.
    let second = work.path().join("other.db");
    sample_db(&second, "samples", 5);
    server.cli(&[
        "db",
        "import",
        "lab",
        second.to_str().unwrap(),
        "--name",
        "measurements",
        "--replace",
    ]);
    let reply = server.get("/lab/measurements.json", None).await;
    assert_eq!(reply.table_names(), vec!["samples"]);
    assert_eq!(reply.json()["tables"][0]["count"], json!(5));
    let listed = server.cli(&["db", "list", "lab"]);
    assert!(listed.starts_with("measurements\t"), "{listed}");
}

#[tokio::test]
async fn deleting_a_space_removes_it_for_the_running_server() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "gone", "--public"]);
    server.cli(&["db", "create", "gone", "main"]);
    assert_eq!(server.get("/gone/main.json", None).await.status, 200);
    server.cli(&["space", "delete", "gone"]);
    assert!(!server.data().join("spaces/gone").exists());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.get("/gone/main.json", None).await.status, 404);
    assert!(!server.cli(&["space", "list"]).contains("gone"));
}

#[tokio::test]
async fn settings_from_serve_and_from_the_space() {
    let server = Server::start(&[
        "--setting",
        "max_returned_rows",
        "50",
        "--setting",
        "allow_facet",
        "off",
    ]);
    let settings = server.get("/demo/-/settings.json", None).await.json();
    assert_eq!(settings["max_returned_rows"], json!(50));
    assert_eq!(settings["allow_facet"], json!(false));
    assert_eq!(settings["default_page_size"], json!(100));
    server.cli(&[
        "space",
        "set",
        "demo",
        "--setting",
        "default_page_size",
        "7",
    ]);
    fails_with(
        &server.data(),
        &[
            "space",
            "set",
            "demo",
            "--setting",
            "default_page_size",
            "lots",
        ],
        "whole number",
    );
    fails_with(
        &server.data(),
        &["space", "set", "demo", "--setting", "no_such", "1"],
        "not a setting",
    );
    fails_with(
        &server.data(),
        &["space", "set", "demo"],
        "nothing to change",
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let settings = server.get("/demo/-/settings.json", None).await.json();
    assert_eq!(settings["default_page_size"], json!(7));
    assert_eq!(settings["max_returned_rows"], json!(50));

    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--setting", "bogus", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("'bogus' is not a setting"));
}

#[test]
fn migrations_are_recorded_and_a_newer_catalog_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let out = cli(data, &["migrate"]);
    // Every migration this build knows, each applied once.
    let latest = libsette::catalog::migrate::latest();
    assert!(latest >= 3, "0003_sessions.sql is known");
    assert!(
        out.contains(&format!(
            "catalog at version {latest} ({latest} migrations applied)"
        )),
        "{out}"
    );
    let again = cli(data, &["migrate"]);
    assert!(again.contains("(0 migrations applied)"), "{again}");
    {
        let db = sqlite::open_file(&data.join("catalog.db")).unwrap();
        let conn = sqlite::connect(&db).unwrap();
        sqlite::execute_batch(&conn, "pragma user_version = 999").unwrap();
    }
    fails_with(data, &["space", "list"], "written by a newer libsette");
}

#[test]
fn users_get_argon2id_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut child = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(data)
        .args(["user", "create", "alice", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    fails_with(data, &["user", "create", "alice"], "already exists");
    fails_with(data, &["user", "create", "bad name"], "a user name is");
    let db = sqlite::open_file(&data.join("catalog.db")).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    let hash: String = sqlite::query_one(
        &conn,
        "select password_hash from users where name = 'alice'",
        (),
    )
    .unwrap()
    .unwrap()
    .get(0)
    .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
}

#[test]
fn serve_creates_the_demo_and_keeps_its_secret() {
    let server = Server::start(&[]);
    let data = server.data();
    let secret = std::fs::read_to_string(data.join("secret")).unwrap();
    assert!(secret.len() >= 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the secret must not be readable by others");
    }
    let listed = server.cli(&["space", "list"]);
    assert!(listed.contains("demo\tpublic\t1 databases"), "{listed}");
    // Restarting on the same folder keeps the secret and does not recreate the demo.
    let dir = server.stop();
    let again = Server::start_in(dir, &[]);
    assert_eq!(
        std::fs::read_to_string(again.data().join("secret")).unwrap(),
        secret
    );
    let listed = again.cli(&["space", "list"]);
    assert_eq!(listed.matches("demo").count(), 1, "{listed}");
}

/// `db import` and `db create` leave a database's WAL files in place, so the
/// server's first visit opens them instead of creating them.
#[test]
fn made_databases_come_with_their_wal_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["space", "create", "lab"]);
    let file = dir.path().join("measurements.db");
    sample_db(&file, "readings", 3);
    cli(&data, &["db", "import", "lab", file.to_str().unwrap()]);
    cli(&data, &["db", "create", "lab", "fresh"]);
    for db in ["measurements", "fresh"] {
        for suffix in ["-wal", "-shm"] {
            let path = data.join(format!("spaces/lab/{db}.db{suffix}"));
            assert!(path.exists(), "{} is missing", path.display());
        }
    }
}
