//! Absolute URLs in answers come from configuration (`--public-url`, the
//! bound address, the spaces domain), never from a request's `Host` or
//! `X-Forwarded-*` headers, and the result cache never hands an answer built
//! for one URL base to a request for another.

mod common;

use common::{Reply, Server, cli_output};

/// A page of the demo's books with a next page and a facet.
const PAGE: &str = "/library/books.json?_size=2&_facet=genre";

/// GET `path` with extra request headers.
async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = server.client.get(format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// Every absolute URL of a table page (next_url, the `Link` header, facet
/// toggles) starts with `prefix`.
fn assert_urls(reply: &Reply, prefix: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let next = body["next_url"].as_str().expect("a next page");
    assert!(
        next.starts_with(prefix),
        "next_url {next} is not under {prefix}"
    );
    let link = reply.header("link").expect("a Link header");
    assert_eq!(link, format!("<{next}>; rel=\"next\""));
    let toggles: Vec<&str> = body["facet_results"]["results"]["genre"]["results"]
        .as_array()
        .expect("genre facet")
        .iter()
        .map(|r| r["toggle_url"].as_str().unwrap())
        .collect();
    assert!(!toggles.is_empty());
    for toggle in toggles {
        assert!(
            toggle.starts_with(prefix),
            "toggle {toggle} not under {prefix}"
        );
    }
    assert!(!reply.text.contains("evil"), "{}", reply.text);
}

#[tokio::test]
async fn a_forged_host_neither_shows_nor_poisons_the_cache() {
    let server = Server::start(&[]);
    server.settle().await; // the demo's files may be cached from now on
    let prefix = format!("{}/demo{}", server.base, "/library/books.json?");
    let forged = [
        ("Host", "evil.example"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "host=evil.example;proto=https"),
    ];
    // The second forged request is the one the result cache keeps.
    for _ in 0..2 {
        assert_urls(
            &get(&server, &format!("/demo{PAGE}"), &forged).await,
            &prefix,
        );
    }
    for _ in 0..2 {
        assert_urls(&get(&server, &format!("/demo{PAGE}"), &[]).await, &prefix);
    }
    // `_extra=request` names the configured host too.
    let request = get(
        &server,
        "/demo/library/books.json?_extra=request",
        &[("Host", "evil.example")],
    )
    .await;
    let host = server.base.trim_start_matches("http://");
    assert_eq!(request.json()["request"]["host"], host, "{}", request.text);
    // Datasette's force_https_urls still turns them to https (new cache keys).
    server.cli(&[
        "space",
        "set",
        "demo",
        "--setting",
        "force_https_urls",
        "on",
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let https = format!("https://{host}/demo/library/books.json?");
    for _ in 0..2 {
        assert_urls(
            &get(&server, &format!("/demo{PAGE}"), &forged).await,
            &https,
        );
    }
}

#[tokio::test]
async fn the_public_url_starts_every_absolute_url() {
    let server = Server::start(&["--public-url", "https://Data.Example.org/"]);
    server.settle().await;
    for host in [None, Some("evil.example"), None] {
        let headers: Vec<(&str, &str)> = host.map(|h| ("Host", h)).into_iter().collect();
        let reply = get(&server, &format!("/demo{PAGE}"), &headers).await;
        assert_urls(&reply, "https://data.example.org/demo/library/books.json?");
    }
    // An invalid public URL stops `serve` with a clear error.
    let dir = tempfile::tempdir().unwrap();
    let bad = cli_output(
        dir.path(),
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--public-url",
            "https://x.org/app",
        ],
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("is not an origin"), "{stderr}");
}

#[tokio::test]
async fn a_space_by_host_and_by_path_keep_their_own_urls() {
    let server = Server::start(&["--spaces-domain", "example.com"]);
    server.settle().await;
    let port = server.base.rsplit_once(':').unwrap().1;
    let by_host = format!("http://demo.example.com:{port}/library/books.json?");
    // Twice by host (kept in the cache), then by path: each its own URLs.
    for host in ["demo.example.com", "DEMO.example.com:1"] {
        assert_urls(&get(&server, PAGE, &[("Host", host)]).await, &by_host);
    }
    let by_path = format!("{}/demo/library/books.json?", server.base);
    for host in [None, Some("evil.example"), None] {
        let headers: Vec<(&str, &str)> = host.map(|h| ("Host", h)).into_iter().collect();
        assert_urls(
            &get(&server, &format!("/demo{PAGE}"), &headers).await,
            &by_path,
        );
    }
    assert_urls(
        &get(&server, PAGE, &[("Host", "demo.example.com")]).await,
        &by_host,
    );
}
