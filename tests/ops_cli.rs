//! What a container needs of the binary: `libsette healthcheck` against a
//! real server and against nothing, and secrets read from files (Compose's
//! `secrets:`) with their trailing newline dropped.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::browser::Browser;
use common::{BIN, Server};
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::names::SpaceName;

fn healthcheck(args: &[&str], bind: Option<&str>) -> (bool, String, String, Duration) {
    let mut command = Command::new(BIN);
    command
        .arg("healthcheck")
        .args(args)
        .env_remove("LIBSETTE_BIND");
    if let Some(bind) = bind {
        command.env("LIBSETTE_BIND", bind);
    }
    let started = Instant::now();
    let output = command.output().expect("running libsette healthcheck");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
        started.elapsed(),
    )
}

/// A loopback port nothing listens on (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn healthcheck_passes_against_a_running_server() {
    let server = Server::start(&[]);
    let (ok, out, err, _) = healthcheck(&["--url", &server.base], None);
    assert!(ok, "{out}{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("healthy: ") && out.contains("/-/health answered 200"),
        "{out}"
    );
    // Without --url it asks where serve binds, a wildcard on loopback.
    let port = server
        .base
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap();
    let (ok, out, err, _) = healthcheck(&[], Some(&format!("0.0.0.0:{port}")));
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/-/health")),
        "{out}"
    );
}

#[test]
fn healthcheck_fails_against_nothing_and_against_a_stopped_server() {
    let port = free_port();
    let (ok, out, err, _) = healthcheck(&["--url", &format!("http://127.0.0.1:{port}")], None);
    assert!(!ok, "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("unhealthy: ") && err.contains("connecting"),
        "{err}"
    );
    // A listener that never answers: the check gives up within its deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let (ok, _, err, took) = healthcheck(&["--url", &url], None);
    assert!(!ok);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(err.starts_with("unhealthy: "), "{err}");
    // Something that is not libsette's health answer.
    let server = Server::start(&[]);
    let base = server.base.trim_end_matches('/').to_owned();
    let (ok, _, err, _) = healthcheck(&["--url", &format!("{base}/nope")], None);
    assert!(!ok);
    assert!(err.contains("/nope/-/health answered 404"), "{err}");
    assert!(healthcheck(&["--url", &base], None).0);
    let dir = server.stop();
    let (ok, _, err, _) = healthcheck(&["--url", &base], None);
    assert!(!ok, "{err}");
    drop(dir);
}

/// A data folder with user alice (password `alice-pw`) owning space `acme`.
fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&DataDir::new(dir.path())).unwrap();
    let conn = catalog.conn().unwrap();
    users::create(&conn, "alice", Some("alice-pw")).unwrap();
    spaces::create(&conn, &SpaceName::parse("acme").unwrap(), "alice", false).unwrap();
    dir
}

#[tokio::test]
async fn secrets_come_from_files_without_their_trailing_newline() {
    let files = tempfile::tempdir().unwrap();
    let secret_file = files.path().join("secret");
    std::fs::write(&secret_file, "s3cret-session\n").unwrap();
    let token_file = files.path().join("metrics");
    std::fs::write(&token_file, "m3trics-token\r\n").unwrap();

    // A session signed with the secret given as a flag...
    let server = Server::start_in(world(), &["--secret", "s3cret-session"]);
    let mut browser = Browser::new(&server);
    assert_eq!(browser.login("alice", "alice-pw").await.status, 303);
    let cookie = browser.cookie.clone().expect("a session cookie");
    let dir = server.stop();

    // ...holds on a server given the same secret in a file.
    let paths = [secret_file.to_str().unwrap(), token_file.to_str().unwrap()];
    let server = Server::start_in(
        dir,
        &["--secret-file", paths[0], "--metrics-token-file", paths[1]],
    );
    assert!(
        !server.data().join("secret").exists(),
        "a given secret is not stored"
    );
    let mut browser = Browser::new(&server);
    browser.cookie = Some(cookie.clone());
    let actor = browser.get("/acme/-/actor.json").await.text;
    assert!(actor.contains("alice"), "{actor}");
    assert_eq!(server.get("/metrics", None).await.status, 403);
    assert_eq!(
        server.get("/metrics", Some("m3trics-token")).await.status,
        200
    );
    let dir = server.stop();

    // Another secret: the cookie is worth nothing.
    let server = Server::start_in(dir, &["--secret", "another"]);
    let mut browser = Browser::new(&server);
    browser.cookie = Some(cookie);
    let actor = browser.get("/acme/-/actor.json").await.text;
    assert!(!actor.contains("alice"), "{actor}");
}

#[test]
fn an_unreadable_or_empty_secret_file_stops_serve_before_it_touches_the_data() {
    let files = tempfile::tempdir().unwrap();
    let empty = files.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let missing = files.path().join("missing");
    for (flag, file, says) in [
        ("--secret-file", &missing, "reading the secret from"),
        (
            "--metrics-token-file",
            &missing,
            "reading the metrics token from",
        ),
        ("--secret-file", &empty, "is empty"),
    ] {
        let data = files.path().join("data");
        let output = Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--bind", "127.0.0.1:0", flag])
            .arg(file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{flag}: {err}");
        assert!(!data.exists(), "the data folder was created");
    }
    // A value and a file for the same secret: refused, not guessed.
    let output = Command::new(BIN)
        .args(["serve", "--secret", "x", "--secret-file"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot be used with"));
}
