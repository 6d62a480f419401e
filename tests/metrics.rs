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

/// Every request gets one line, with its route and status; written to a
/// pipe (a file, `docker logs`) it is plain text, without colour codes;
/// nothing is held back when the server stops.
#[tokio::test]
async fn each_request_is_logged_in_plain_text_when_not_at_a_terminal() {
    for format in ["text", "json"] {
        let (mut server, lines) = Server::start_logging(&["--log-format", format], "info");
        assert_eq!(server.get("/demo/library.json", None).await.status, 200);
        let wait = std::time::Duration::from_secs(20);
        let line = std::iter::from_fn(|| lines.recv_timeout(wait).ok())
            .find(|l| l.contains("served"))
            .expect("a line for the request");
        if format == "text" {
            assert!(!line.contains('\u{1b}'), "escape codes in {line:?}");
            assert!(line.contains(r#"route="/{space}/{db}""#), "{line}");
            assert!(line.contains("status=200"), "{line}");
        } else {
            let line: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(line["fields"]["message"], "served", "{line}");
            assert_eq!(line["fields"]["route"], "/{space}/{db}", "{line}");
            assert_eq!(line["span"]["space"], "demo", "{line}");
        }
        // Stopped, it writes out every line it still holds, its last included.
        server.terminate();
        let stopped = server.exited_within(std::time::Duration::from_secs(20));
        assert!(stopped.is_some_and(|s| s.success()));
        let rest: Vec<String> = lines.iter().collect();
        assert!(
            rest.last().is_some_and(|l| l.contains("stopped")),
            "{rest:?}"
        );
    }
}
