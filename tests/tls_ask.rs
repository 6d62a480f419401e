//! `/-/tls-ask`, the endpoint Caddy's on-demand TLS asks before it gets a
//! certificate: yes for the spaces domain and the hosts of existing spaces
//! (private ones too), no for any other name, and no to a request that came
//! through a proxy, so the internet cannot probe which spaces exist.

mod common;

use common::Server;

async fn ask(server: &Server, domain: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = server
        .client
        .get(format!("{}/-/tls-ask", server.base))
        .query(&[("domain", domain)]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request").status().as_u16()
}

#[tokio::test]
async fn only_spaces_that_exist_get_a_certificate() {
    let server = Server::start(&["--spaces-domain", "example.com"]);
    server.cli(&["space", "create", "hidden"]); // private: root owns it
    assert_eq!(ask(&server, "example.com", &[]).await, 200);
    assert_eq!(ask(&server, "demo.example.com", &[]).await, 200);
    assert_eq!(ask(&server, "DEMO.Example.com.", &[]).await, 200);
    assert_eq!(ask(&server, "hidden.example.com", &[]).await, 200);
    for other in [
        "nope.example.com",
        "a.demo.example.com",
        "demo.example.org",
        "demoexample.com",
        ".example.com",
        "evil.com",
        "",
    ] {
        assert_eq!(ask(&server, other, &[]).await, 404, "{other}");
    }
    // Without `?domain=` at all.
    let bare = server
        .client
        .get(format!("{}/-/tls-ask", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 404);
}

#[tokio::test]
async fn a_proxied_request_learns_nothing() {
    let server = Server::start(&["--spaces-domain", "example.com"]);
    for header in [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
    ] {
        assert_eq!(ask(&server, "demo.example.com", &[header]).await, 404);
    }
}

#[tokio::test]
async fn without_a_spaces_domain_nothing_is_asked_for() {
    let server = Server::start(&[]);
    assert_eq!(ask(&server, "demo.example.com", &[]).await, 404);
    assert_eq!(ask(&server, "demo", &[]).await, 404);
}
