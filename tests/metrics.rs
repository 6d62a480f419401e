//! `/metrics`: Prometheus text with bounded labels, loopback-only by
//! default, bearer-protected with `--metrics-token`; and each request's
//! log line.

mod common;

use common::Server;

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let server = Server::start(&[]);
    for i in 0..5 {
        server
            .get(&format!("/demo/no-such-db-{i}.json"), None)
            .await;
    }
    server.get("/demo/library.json", None).await;
    let bad = server.get("/demo/-/actor.json", Some("lstok_nope")).await;
    assert_eq!(bad.status, 401);
    let metrics = server.get("/metrics", None).await;
    assert_eq!(metrics.status, 200, "loopback clients may read metrics");
    let text = metrics.text;
    assert!(
        text.contains(r#"libsette_http_requests_total{route="/{space}/{db}",status="404"} 5"#),
        "{text}"
    );
    assert!(text.contains(r#"libsette_http_requests_total{route="/{space}/{db}",status="200"} 1"#));
    assert!(text.contains(r#"libsette_token_refusals_total{reason="malformed"} 1"#));
    assert!(text.contains("libsette_http_request_duration_seconds_bucket"));
    assert!(text.contains("libsette_build_info{"));
    assert!(text.contains("libsette_open_databases 1"));
    assert!(text.contains(r#"libsette_cache_events_total{cache="spaces",event="hit"}"#));
    assert!(
        !text.contains("no-such-db"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn a_metrics_token_guards_the_endpoint() {
    let server = Server::start(&["--metrics-token", "s3cret-metrics"]);
    assert_eq!(server.get("/metrics", None).await.status, 403);
    assert_eq!(server.get("/metrics", Some("wrong")).await.status, 403);
    let ok = server.get("/metrics", Some("s3cret-metrics")).await;
    assert_eq!(ok.status, 200);
    assert!(ok.text.contains("libsette_http_requests_total"));
}

/// Starts a server logging at `info` to a pipe, asks for `path`, and gives
/// the log line that says it was served.
fn served_line(extra: &[&str], path: &str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("LIBSETTE_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = stdout.next().unwrap().unwrap();
    // The rest of what it prints must find the pipe open.
    std::thread::spawn(move || for _ in stdout {});
    let addr = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let (lines, got) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let line = std::iter::from_fn(|| {
        got.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .ok()
    })
    .find(|l| l.contains("served"));
    // Stopped, it writes out every line it still holds, its last included.
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let rest: Vec<String> = got.iter().collect();
    assert!(
        rest.last().is_some_and(|l| l.contains("stopped")),
        "{rest:?}"
    );
    line.expect("a line for the request")
}

/// Every request gets one line, with its route and status; written to a
/// pipe (a file, `docker logs`) it is plain text, without colour codes;
/// nothing is held back when the server stops.
#[test]
fn each_request_is_logged_in_plain_text_when_not_at_a_terminal() {
    let text = served_line(&[], "/demo/library.json");
    assert!(!text.contains('\u{1b}'), "escape codes in {text:?}");
    assert!(text.contains(r#"route="/{space}/{db}""#), "{text}");
    assert!(text.contains("status=200"), "{text}");

    let json = served_line(&["--log-format", "json"], "/demo/library.json");
    let line: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(line["fields"]["message"], "served", "{json}");
    assert_eq!(line["fields"]["route"], "/{space}/{db}", "{json}");
    assert_eq!(line["span"]["space"], "demo", "{json}");
}
