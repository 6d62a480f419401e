//! Per-space CORS allowlists (`space set --cors-origin`) on a real server:
//! listed origins are named back, others get nothing, preflights are
//! answered, clearing restores `serve --cors`, and credentials never ride.

mod common;

use std::time::Duration;

use common::{Reply, Server, cli_output};

const APP: &str = "https://app.example.com";

/// A request with `Origin` (and for OPTIONS, a preflight's headers).
async fn ask(server: &Server, method: &str, path: &str, origin: &str, host: Option<&str>) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let preflight = method == reqwest::Method::OPTIONS;
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.base))
        .header("Origin", origin);
    if preflight {
        request = request
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            );
    }
    if let Some(host) = host {
        request = request.header("Host", host);
    }
    let response = request.send().await.expect("request");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// The answer allows exactly `origin`, with Datasette's CORS headers.
fn assert_allows(reply: &Reply, origin: &str) {
    assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
    assert_eq!(
        reply.header("access-control-allow-methods"),
        Some("GET, POST, HEAD, OPTIONS")
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some("Authorization, Content-Type")
    );
    assert_eq!(reply.header("access-control-expose-headers"), Some("Link"));
    assert_eq!(reply.header("access-control-max-age"), Some("3600"));
    assert!(reply.header("access-control-allow-credentials").is_none());
}

/// No CORS header at all.
fn assert_refuses(reply: &Reply) {
    for name in reply.headers.keys() {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "{name} on {reply:?}"
        );
    }
}

fn varies_by_origin(reply: &Reply) -> bool {
    reply.header("vary").is_some_and(|v| {
        v.split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("origin"))
    })
}

/// Catalog changes reach the running server within a second.
async fn let_it_apply() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn a_space_answers_only_its_listed_origins() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "plain", "--public"]);
    let out = server.cli(&[
        "space",
        "set",
        "demo",
        "--cors-origin",
        "HTTPS://App.Example.com:443/",
        "--cors-origin",
        "http://localhost:3000",
    ]);
    assert!(
        out.contains("CORS origins: http://localhost:3000 https://app.example.com"),
        "{out}"
    );
    let listed = server.cli(&["space", "list"]);
    assert!(
        listed.contains(
            "demo\tpublic\t1 databases\tcors http://localhost:3000 https://app.example.com"
        ),
        "{listed}"
    );
    let_it_apply().await;

    let allowed = ask(&server, "GET", "/demo/library.json", APP, None).await;
    assert_eq!(allowed.status, 200);
    assert_allows(&allowed, APP);
    assert!(varies_by_origin(&allowed), "{allowed:?}");
    let vary = allowed.header("vary").unwrap();
    assert!(vary.contains("Authorization"), "{vary}");
    let local = ask(
        &server,
        "GET",
        "/demo/library.json",
        "http://localhost:3000",
        None,
    )
    .await;
    assert_allows(&local, "http://localhost:3000");

    for other in [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "null",
    ] {
        let refused = ask(&server, "GET", "/demo/library.json", other, None).await;
        assert_eq!(refused.status, 200, "the answer itself is unchanged");
        assert_refuses(&refused);
        assert!(varies_by_origin(&refused), "{refused:?}");
    }

    let preflight = ask(
        &server,
        "OPTIONS",
        "/demo/library/books/-/insert",
        APP,
        None,
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_allows(&preflight, APP);
    let refused = ask(
        &server,
        "OPTIONS",
        "/demo/library/books/-/insert",
        "https://evil.example",
        None,
    )
    .await;
    assert_refuses(&refused);

    // A space without a list, on a server without --cors: no CORS at all.
    assert_refuses(&ask(&server, "GET", "/plain/.json", APP, None).await);

    // Clearing the list.
    let out = server.cli(&["space", "set", "demo", "--no-cors-origins"]);
    assert!(out.contains("CORS origins: none"), "{out}");
    assert!(!server.cli(&["space", "list"]).contains("cors"));
    let_it_apply().await;
    let cleared = ask(&server, "GET", "/demo/library.json", APP, None).await;
    assert_refuses(&cleared);
    assert!(!varies_by_origin(&cleared));
}

#[tokio::test]
async fn spaces_without_a_list_keep_serve_cors() {
    let server = Server::start(&["--cors", "--spaces-domain", "example.com"]);
    server.cli(&["space", "create", "plain", "--public"]);
    server.cli(&["space", "set", "demo", "--cors-origin", APP]);
    let_it_apply().await;

    // Without a list, --cors allows anyone, as Datasette's --cors does.
    let plain = ask(&server, "GET", "/plain/.json", "https://evil.example", None).await;
    assert_allows(&plain, "*");
    let preflight = ask(
        &server,
        "OPTIONS",
        "/plain/-/actor.json",
        "https://evil.example",
        None,
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_allows(&preflight, "*");
    assert_allows(
        &ask(&server, "GET", "/-/health", "https://evil.example", None).await,
        "*",
    );

    // The list replaces --cors for its space, by path and by host.
    assert_refuses(
        &ask(
            &server,
            "GET",
            "/demo/library.json",
            "https://evil.example",
            None,
        )
        .await,
    );
    let by_host = Some("demo.example.com");
    assert_refuses(
        &ask(
            &server,
            "GET",
            "/library.json",
            "https://evil.example",
            by_host,
        )
        .await,
    );
    assert_allows(
        &ask(&server, "GET", "/library.json", APP, by_host).await,
        APP,
    );
    assert_allows(
        &ask(&server, "OPTIONS", "/library.json", APP, by_host).await,
        APP,
    );

    // Replacing the list in one command: clear, then add.
    server.cli(&[
        "space",
        "set",
        "demo",
        "--no-cors-origins",
        "--cors-origin",
        "https://other.example",
    ]);
    let_it_apply().await;
    assert_refuses(&ask(&server, "GET", "/demo/library.json", APP, None).await);
    assert_allows(
        &ask(
            &server,
            "GET",
            "/demo/library.json",
            "https://other.example",
            None,
        )
        .await,
        "https://other.example",
    );
    // Cleared: --cors again.
    server.cli(&["space", "set", "demo", "--no-cors-origins"]);
    let_it_apply().await;
    assert_allows(
        &ask(
            &server,
            "GET",
            "/demo/library.json",
            "https://evil.example",
            None,
        )
        .await,
        "*",
    );
}

#[test]
fn cors_origins_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    common::cli(data, &["space", "create", "team"]);
    for bad in [
        "https://app.example.com/path",
        "*",
        "null",
        "app.example.com",
        "ftp://x.org",
    ] {
        let output = cli_output(data, &["space", "set", "team", "--cors-origin", bad]);
        assert!(!output.status.success(), "{bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("is not an origin"), "{stderr}");
    }
    let nothing = cli_output(data, &["space", "set", "team"]);
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(stderr.contains("--cors-origin"), "{stderr}");
    assert!(!common::cli(data, &["space", "list"]).contains("cors"));
}
