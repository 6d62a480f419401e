//! Who may manage tokens with a token, against the real server: only a token
//! given `create-token`, and then only its own tree; children die with their
//! parent (revocation cascades, expiry is clamped); expiry ranges are checked.

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Server};
use serde_json::{Value, json};

const API: &str = "/demo/-/api/tokens";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The id `token list` shows for the token named `name`.
fn id_of(server: &Server, name: &str) -> i64 {
    let listed = server.cli(&["token", "list", "demo"]);
    listed
        .lines()
        .find(|l| l.split('\t').nth(1) == Some(name))
        .and_then(|l| l.split('\t').next())
        .unwrap_or_else(|| panic!("no token {name} in {listed}"))
        .parse()
        .unwrap()
}

fn ids(reply: &Reply) -> Vec<i64> {
    reply.json()["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("no tokens in {}", reply.text))
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

/// Creates a child with `token`; returns the reply.
async fn mint(server: &Server, token: &str, body: Value) -> Reply {
    server.post(API, Some(token), &body).await
}

fn secret(reply: &Reply) -> String {
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// Waits (at most 2 s) until `token` is refused, then checks it stays refused
/// one second after the revocation, as promised.
async fn refused_within_a_second(server: &Server, token: &str, since: Instant) {
    while server.get("/demo/-/actor.json", Some(token)).await.status == 200 {
        assert!(since.elapsed() < Duration::from_secs(2), "still accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(since.elapsed())).await;
    let reply = server.get("/demo/-/actor.json", Some(token)).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.json()["error"], json!("Token has been revoked"));
}

#[tokio::test]
async fn a_token_without_create_token_manages_nothing() {
    let server = Server::start(&[]);
    let full = server.token(&["demo", "root", "--name", "full"]);
    let full_id = id_of(&server, "full");
    let x = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);
    // Neither a one-table token nor an unrestricted one holds the right explicitly.
    for token in [&x, &full] {
        let list = server.get(API, Some(token)).await;
        assert_eq!(list.status, 403, "{}", list.text);
        assert_eq!(list.json()["ok"], json!(false));
        assert!(!list.text.contains("full"), "{}", list.text);
        let made = mint(&server, token, json!({"restrict_all": ["vt"]})).await;
        assert_eq!(made.status, 403, "{}", made.text);
        let page = server.get("/demo/-/tokens", Some(token)).await;
        assert_eq!(page.status, 403);
    }
    let revoke = server
        .post(&format!("{API}/{full_id}/revoke"), Some(&x), &json!({}))
        .await;
    assert_eq!(revoke.status, 403, "{}", revoke.text);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        server.get("/demo/-/actor.json", Some(&full)).await.status,
        200,
        "root's token must survive"
    );
}

#[tokio::test]
async fn create_token_manages_only_its_own_tree() {
    let server = Server::start(&[]);
    let full = server.token(&["demo", "root", "--name", "full"]);
    let full_id = id_of(&server, "full");
    let manager = server.token(&[
        "demo",
        "root",
        "--name",
        "manager",
        "-a",
        "create-token",
        "-r",
        "library",
        "books",
        "view-table",
    ]);
    let manager_id = id_of(&server, "manager");
    assert_eq!(
        ids(&server.get(API, Some(&manager)).await),
        vec![manager_id]
    );
    let made = mint(
        &server,
        &manager,
        json!({"name": "child", "restrict_resource": {"library": {"books": ["vt"]}}}),
    )
    .await;
    let child = secret(&made);
    let child_id = made.json()["token_info"]["id"].as_i64().unwrap();
    assert_eq!(made.json()["token_info"]["parent_id"], json!(manager_id));
    assert_eq!(
        server
            .get("/demo/library/books.json", Some(&child))
            .await
            .status,
        200
    );
    // Wider than itself is refused, as before.
    let wider = mint(&server, &manager, json!({"restrict_all": ["vt"]})).await;
    assert_eq!(wider.status, 403);
    // It sees its tree only, and may not revoke root's other tokens.
    assert_eq!(
        ids(&server.get(API, Some(&manager)).await),
        vec![manager_id, child_id]
    );
    let revoke = server
        .post(
            &format!("{API}/{full_id}/revoke"),
            Some(&manager),
            &json!({}),
        )
        .await;
    assert_eq!(revoke.status, 404, "{}", revoke.text);
    // Its own child it may revoke.
    let revoke = server
        .post(
            &format!("{API}/{child_id}/revoke"),
            Some(&manager),
            &json!({}),
        )
        .await;
    assert_eq!(revoke.status, 200, "{}", revoke.text);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        server.get("/demo/-/actor.json", Some(&full)).await.status,
        200
    );
    assert_eq!(
        server.get("/demo/-/actor.json", Some(&child)).await.status,
        401
    );
}

#[tokio::test]
async fn revoking_a_token_revokes_its_descendants() {
    let server = Server::start(&[]);
    let parent = server.token(&[
        "demo",
        "root",
        "--name",
        "parent",
        "-a",
        "create-token",
        "-a",
        "view-table",
    ]);
    let parent_id = id_of(&server, "parent");
    let child = secret(
        &mint(
            &server,
            &parent,
            json!({"restrict_all": ["create-token", "view-table"]}),
        )
        .await,
    );
    let grandchild = secret(&mint(&server, &child, json!({"restrict_all": ["vt"]})).await);
    let sibling = server.token(&["demo", "root", "--name", "sibling"]);
    for token in [&parent, &child, &grandchild] {
        let reply = server.get("/demo/library/books.json", Some(token)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    server.cli(&["token", "revoke", "demo", &parent_id.to_string()]);
    let revoked_at = Instant::now();
    refused_within_a_second(&server, &grandchild, revoked_at).await;
    refused_within_a_second(&server, &child, revoked_at).await;
    refused_within_a_second(&server, &parent, revoked_at).await;
    assert_eq!(
        server
            .get("/demo/-/actor.json", Some(&sibling))
            .await
            .status,
        200
    );
    // The list shows the cascade, not just the token revoked by hand.
    let listed = server.cli(&["token", "list", "demo"]);
    let revoked = listed
        .lines()
        .skip(1)
        .filter(|l| l.split('\t').nth(7) != Some("-"))
        .count();
    assert_eq!(revoked, 3, "{listed}");
}

#[tokio::test]
async fn a_child_never_outlives_its_parent() {
    let server = Server::start(&[]);
    let parent = server.token(&[
        "demo",
        "root",
        "-a",
        "create-token",
        "-a",
        "view-table",
        "--expires-after",
        "3600",
    ]);
    let end =
        server.get("/demo/-/actor.json", Some(&parent)).await.json()["actor"]["token_expires"]
            .as_i64()
            .unwrap();
    // No expiry asked: the child ends with its parent.
    let made = mint(&server, &parent, json!({"restrict_all": ["vt"]})).await;
    let child = secret(&made);
    assert_eq!(made.json()["token_info"]["expires_at"], json!(end));
    let actor = server.get("/demo/-/actor.json", Some(&child)).await.json();
    assert_eq!(actor["actor"]["token_expires"], json!(end));
    // A shorter one is kept; asking outright for longer is refused.
    let made = mint(
        &server,
        &parent,
        json!({"restrict_all": ["vt"], "expires_after": 60}),
    )
    .await;
    secret(&made);
    let expires = made.json()["token_info"]["expires_at"].as_i64().unwrap();
    assert!((now() + 55..=now() + 65).contains(&expires), "{expires}");
    let longer = mint(
        &server,
        &parent,
        json!({"restrict_all": ["vt"], "expires_after": 7200}),
    )
    .await;
    assert_eq!(longer.status, 403, "{}", longer.text);
}

#[tokio::test]
async fn expiry_ranges_are_checked() {
    let server = Server::start(&[]);
    let manager = server.token(&["demo", "root", "-a", "create-token", "-a", "view-table"]);
    for (raw, message) in [
        ("9223372036854775807", "at most 3153600000 seconds"),
        ("18446744073709551615", "at most 3153600000 seconds"),
        ("-1", "positive number of seconds"),
        ("0", "positive number of seconds"),
        ("1e30", "whole number of seconds"),
        ("3600.5", "whole number of seconds"),
    ] {
        let body = format!("{{\"restrict_all\": [\"vt\"], \"expires_after\": {raw}}}");
        let reply = server
            .post_raw(API, Some(&manager), &body, "application/json")
            .await;
        assert_eq!(reply.status, 400, "{raw}: {}", reply.text);
        let error = reply.json();
        assert_eq!(error["ok"], json!(false));
        assert!(
            error["error"].as_str().unwrap().contains(message),
            "{raw}: {}",
            reply.text
        );
    }
    // The longest allowed lifetime makes a live token, not one dead at birth.
    let made = mint(
        &server,
        &manager,
        json!({"restrict_all": ["vt"], "expires_after": 3_153_600_000i64}),
    )
    .await;
    let token = secret(&made);
    let expires = made.json()["token_info"]["expires_at"].as_i64().unwrap();
    assert!(expires > now() + 3_153_500_000, "{expires}");
    assert_eq!(
        server.get("/demo/-/actor.json", Some(&token)).await.status,
        200
    );
    // The CLI checks the same ranges.
    for value in ["9223372036854775807", "-5", "0"] {
        let out = common::cli_output(
            &server.data(),
            &[
                "token",
                "create",
                "demo",
                "root",
                &format!("--expires-after={value}"),
            ],
        );
        assert!(!out.status.success(), "{value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("seconds"), "{value}: {stderr}");
    }
}

/// Logs `user` in over the real login form; returns the session cookie.
async fn login(server: &Server, user: &str, password: &str) -> String {
    let base = server.base.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(format!("{base}/-/login"))
        .header("Origin", base)
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn sessions_manage_tokens_and_the_form_checks_expiry() {
    let server = Server::start(&[]);
    let mut create = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(server.data())
        .args(["user", "create", "alice", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"alice-pw\n")
        .unwrap();
    assert!(create.wait().unwrap().success());
    server.cli(&["space", "create", "acme", "--owner", "alice"]);
    let cookie = login(&server, "alice", "alice-pw").await;
    let base = server.base.trim_end_matches('/');
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{base}/acme/-/tokens"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrftoken\" value=\"";
    let start = page.find(marker).expect("a CSRF token") + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_owned();
    let huge = i64::MAX.to_string();
    for (amount, message) in [
        (huge.as_str(), "The custom expiry is too long"),
        ("-3", "The expiry must be a positive number of seconds"),
        ("40000", "at most 3153600000 seconds"),
    ] {
        let reply = client
            .post(format!("{base}/acme/-/tokens"))
            .header("Cookie", &cookie)
            .header("Origin", base)
            .form(&[
                ("expires", "custom"),
                ("custom_amount", amount),
                ("custom_unit", "days"),
                ("csrftoken", &csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 400, "{amount}");
        let text = reply.text().await.unwrap();
        assert!(text.contains(message), "{amount}: {text}");
        assert!(!text.contains("lstok_"), "{amount}: no token made");
    }
    // The owner's session lists and revokes every token of the space, the
    // CLI's unrestricted one too, as before.
    server.token(&["acme", "alice", "--name", "cli"]);
    let list: Value = client
        .get(format!("{base}/acme/-/api/tokens"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["tokens"][0]["name"], json!("cli"), "{list}");
}

#[test]
fn a_revoked_parent_mints_nothing() {
    use libsette::catalog::tokens::{self, NewToken, ParentGone};
    use libsette::catalog::{Catalog, DataDir, spaces};
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&DataDir::new(dir.path())).unwrap();
    let conn = catalog.conn().unwrap();
    let name = libsette::names::SpaceName::parse("acme").unwrap();
    let space = spaces::create(&conn, &name, "olive", false).unwrap();
    let new = |parent_id, expires_after| NewToken {
        space_id: space.id,
        actor: "olive",
        name: None,
        restrictions: None,
        expires_after,
        parent_id,
    };
    let (parent, _) = tokens::create(&conn, new(None, None)).unwrap();
    let (child, _) = tokens::create(&conn, new(Some(parent), None)).unwrap();
    assert_eq!(
        tokens::descendants(&conn, parent).unwrap(),
        vec![parent, child]
    );
    tokens::revoke(&conn, space.id, &parent.to_string()).unwrap();
    let refused = tokens::create(&conn, new(Some(child), None)).unwrap_err();
    assert!(
        refused.downcast_ref::<ParentGone>().is_some(),
        "{refused:#}"
    );
}
