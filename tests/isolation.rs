//! Tenant isolation: a token of one space, and an actor who may not see a
//! space, get exactly the answer an unknown space gets, on every endpoint.

mod common;

use common::Server;
use serde_json::json;

const ENDPOINTS: &[&str] = &[
    "",
    "/",
    "/.json",
    "/-/databases.json",
    "/-/actor.json",
    "/-/versions.json",
    "/-/settings.json",
    "/main.json",
    "/main",
    "/nope.json",
    "/-/no-such-endpoint",
];

#[tokio::test]
async fn another_spaces_token_gets_the_unknown_space_404_everywhere() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "alpha", "--owner", "ann"]);
    server.cli(&["space", "create", "beta", "--owner", "ann", "--public"]);
    server.cli(&["db", "create", "alpha", "main"]);
    server.cli(&["db", "create", "beta", "main"]);
    // Same user, owner of both: the token is still bound to alpha only.
    let alpha_token = server.token(&["alpha", "ann"]);
    assert_eq!(
        server
            .get("/alpha/main.json", Some(&alpha_token))
            .await
            .status,
        200
    );
    for endpoint in ENDPOINTS {
        let unknown = server.get(&format!("/zzz-unknown{endpoint}"), None).await;
        assert_eq!(unknown.status, 404);
        // Pages answer with an HTML error page; everything else with Datasette's JSON.
        let page = matches!(*endpoint, "" | "/" | "/main");
        if page {
            assert!(unknown.text.contains("404 Not Found"), "{endpoint}");
            assert!(
                !unknown.text.contains("zzz-unknown"),
                "error pages never echo the URL"
            );
        } else {
            assert_eq!(
                unknown.json(),
                json!({"ok": false, "error": "Not found", "errors": ["Not found"], "status": 404})
            );
        }
        let cross = server
            .get(&format!("/beta{endpoint}"), Some(&alpha_token))
            .await;
        assert_eq!(
            (cross.status, &cross.text),
            (404, &unknown.text),
            "beta{endpoint}"
        );
        // And anonymous may browse public beta, so the 404 is the token's binding.
        if !endpoint.contains("no") {
            assert_ne!(
                server.get(&format!("/beta{endpoint}"), None).await.status,
                404,
                "beta{endpoint}"
            );
        }
    }
}

#[tokio::test]
async fn a_private_space_is_indistinguishable_from_no_space() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "secret-team", "--owner", "sam"]);
    server.cli(&["db", "create", "secret-team", "main"]);
    let outsider = server.token(&["demo", "root"]);
    for endpoint in ENDPOINTS {
        let unknown = server.get(&format!("/zzz-unknown{endpoint}"), None).await;
        let anon = server.get(&format!("/secret-team{endpoint}"), None).await;
        assert_eq!(
            (anon.status, &anon.text),
            (404, &unknown.text),
            "anonymous {endpoint}"
        );
        assert!(!anon.text.contains("secret-team"));
        let other = server
            .get(&format!("/secret-team{endpoint}"), Some(&outsider))
            .await;
        assert_eq!(
            (other.status, &other.text),
            (404, &unknown.text),
            "outsider {endpoint}"
        );
    }
    // Its owner sees it.
    let owner = server.token(&["secret-team", "sam"]);
    assert_eq!(
        server
            .get("/secret-team/main.json", Some(&owner))
            .await
            .status,
        200
    );
    // Making it public opens it to anonymous visitors within a second.
    server.cli(&["space", "set", "secret-team", "--public"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(server.get("/secret-team/main.json", None).await.status, 200);
}

#[tokio::test]
async fn spaces_domain_routes_by_host() {
    let server = Server::start(&["--spaces-domain", "example.com"]);
    let reply = server
        .get_with("/library.json", None, Some("demo.example.com"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Under a host, URLs in answers carry no space prefix.
    assert_eq!(reply.json()["path"], json!("/library"));
    let index = server
        .get_with("/.json", None, Some("DEMO.example.com:8080"))
        .await;
    assert_eq!(index.json()["databases"][0]["path"], json!("/library"));
    // Path routing still works beside it.
    let by_path = server.get("/demo/library.json", None).await;
    assert_eq!(by_path.json()["path"], json!("/demo/library"));
    let unknown = server
        .get_with("/.json", None, Some("nobody.example.com"))
        .await;
    assert_eq!(unknown.status, 404);
}
