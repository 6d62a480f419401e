//! Permission debugging against the real server: `/-/check.json`,
//! `/-/rules.json` and `/-/allowed.json` explain the catalog's rules with
//! libsette's own sources (role, public space, grant, token restriction),
//! agree with the decisions the server really makes, and tell nobody but a
//! space's owners more than their own rights.

mod common;

use common::Server;
use libsette::catalog::grants::{self, Grant};
use libsette::catalog::{Catalog, DataDir, spaces, users};
use serde_json::{Value, json};

/// Adds a rule to the catalog of a running server (it applies within a second).
fn add_grant(server: &Server, space: &str, user: Option<&str>, table: Option<&str>, allow: bool) {
    let catalog = Catalog::open(&DataDir::new(server.data())).unwrap();
    let conn = catalog.conn().unwrap();
    let space_id = spaces::require(&conn, space).unwrap().id;
    let user_id = user.map(|u| users::ensure(&conn, u).unwrap());
    grants::add(
        &conn,
        Grant {
            space_id,
            user_id,
            database: Some("library"),
            table,
            action: "view-table",
            allow,
            reason: if allow {
                "shared with a reviewer"
            } else {
                "authors are private"
            },
        },
    )
    .unwrap();
}

fn add_member(server: &Server, space: &str, user: &str, role: &str) {
    let catalog = Catalog::open(&DataDir::new(server.data())).unwrap();
    let conn = catalog.conn().unwrap();
    let space_id = spaces::require(&conn, space).unwrap().id;
    let user_id = users::ensure(&conn, user).unwrap();
    spaces::set_member(&conn, space_id, user_id, role).unwrap();
}

async fn settle_catalog() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

fn sources(explanation: &Value) -> Vec<String> {
    explanation["matched_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_owner_sees_each_decision_explained_by_its_rules() {
    let server = Server::start(&[]);
    let root = server.token(&["demo", "root"]);
    add_grant(&server, "demo", None, Some("authors"), false);
    settle_catalog().await;

    let check = |path: String| {
        let (server, root) = (&server, &root);
        async move {
            let reply = server.get(&path, Some(root)).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
            reply.json()
        }
    };
    let books =
        check("/demo/-/check.json?action=view-table&parent=library&child=books".into()).await;
    assert_eq!(books["allowed"], true);
    assert_eq!(books["actor_id"], "root");
    assert_eq!(books["resource"]["path"], "/library/books");
    let found = sources(&books["explanation"]);
    assert!(
        found.contains(&"role".into()) && found.contains(&"public space".into()),
        "{found:?}"
    );
    assert_eq!(
        books["explanation"]["summary"],
        "Allowed by the matching global-level rule."
    );

    // The deny grant decides, whatever allows there are, for everyone.
    let authors =
        check("/demo/-/check.json?action=view-table&parent=library&child=authors".into()).await;
    assert_eq!(authors["allowed"], false);
    let rules = authors["explanation"]["matched_rules"]
        .as_array()
        .unwrap()
        .clone();
    let deny = rules
        .iter()
        .find(|r| r["effect"] == "deny")
        .expect("the deny rule");
    assert_eq!(deny["source"], "grant");
    assert_eq!(deny["reason"], "authors are private");
    assert_eq!(deny["scope"], "resource");
    assert_eq!(deny["decisive"], true);
    assert!(
        rules
            .iter()
            .filter(|r| r["effect"] == "allow")
            .all(|r| r["decisive"] == false)
    );
    assert_eq!(
        server
            .get("/demo/library/authors.json", Some(&root))
            .await
            .status,
        403
    );

    // An action that also requires another explains both.
    let sql = check("/demo/-/check.json?action=execute-sql&parent=library".into()).await;
    assert_eq!(
        sql["explanation"]["required_actions"][0]["action"],
        "view-database"
    );

    // A described actor: root through a token restricted to books.
    let actor = json!({"id": "root", "_r": {"r": {"library": {"books": ["vt"]}}}}).to_string();
    let encoded: String = url_encode(&actor);
    for (table, allowed) in [("books", true), ("books_fts", false)] {
        let path = format!(
            "/demo/-/check.json?action=view-table&parent=library&child={table}&actor={encoded}"
        );
        let reply = check(path).await;
        assert_eq!(reply["allowed"], allowed, "{table}");
        let restriction = &reply["explanation"]["restrictions"][0];
        assert_eq!(restriction["source"], "token restriction");
        assert_eq!(restriction["allowed"], allowed);
    }

    let rules = check("/demo/-/rules.json?action=view-table".into()).await;
    let items = rules["items"].as_array().unwrap();
    assert_eq!(rules["total"], items.len());
    let kinds: Vec<&str> = items
        .iter()
        .map(|i| i["source_plugin"].as_str().unwrap())
        .collect();
    for kind in ["role", "public space", "grant"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    assert!(
        items
            .iter()
            .any(|i| i["allow"] == 0 && i["child"] == "authors")
    );

    let allowed = check("/demo/-/allowed.json?action=view-table".into()).await;
    let names: Vec<&str> = allowed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["child"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"books") && !names.contains(&"authors"),
        "{names:?}"
    );
    // An FTS table is listed, the tables backing it are not.
    assert!(
        names.contains(&"books_fts") && !names.contains(&"books_fts_data"),
        "{names:?}"
    );
    let reasons = &allowed["items"][0]["reason"];
    assert!(
        reasons
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("role: "))
    );
}

/// Percent-encodes a query value.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn explanations_agree_with_the_decisions_the_server_makes() {
    let server = Server::start(&[]);
    add_member(&server, "demo", "vera", "viewer");
    add_member(&server, "demo", "eddie", "editor");
    add_grant(&server, "demo", Some("vera"), Some("authors"), false);
    add_grant(&server, "demo", Some("nina"), Some("books"), true);
    settle_catalog().await;
    let root = server.token(&["demo", "root"]);
    let actors = [
        json!(null),
        json!({"id": "vera"}),
        json!({"id": "eddie"}),
        json!({"id": "nina"}),
        json!({"id": "root", "_r": {"d": {"library": ["es"]}}}),
        json!({"id": "eddie", "_r": {"a": ["ir"], "r": {"library": {"books": ["vt"]}}}}),
    ];
    let resources = [
        ("view-instance", ""),
        ("view-database", "&parent=library"),
        ("execute-sql", "&parent=library"),
        ("create-table", "&parent=library"),
        ("view-table", "&parent=library&child=books"),
        ("view-table", "&parent=library&child=authors"),
        ("insert-row", "&parent=library&child=books"),
        ("drop-table", "&parent=library&child=authors"),
        ("permissions-debug", ""),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for actor in &actors {
        let encoded = url_encode(&actor.to_string());
        for (action, resource) in resources {
            let path = format!("/demo/-/check.json?action={action}{resource}&actor={encoded}");
            let reply = server.get(&path, Some(&root)).await.json();
            let allowed = reply["allowed"].as_bool().unwrap();
            assert_eq!(
                reply["explanation"]["allowed"], allowed,
                "{actor} {action}{resource}"
            );
            seen.insert(allowed);
        }
    }
    assert_eq!(seen.len(), 2, "both answers occur");
}

#[tokio::test]
async fn others_are_refused_or_see_only_their_own_rights() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "acme", "--owner", "olive"]);
    server.cli(&["db", "create", "acme", "secrets"]);
    add_member(&server, "demo", "vera", "viewer");
    settle_catalog().await;
    let vera = server.token(&["demo", "vera"]);
    let books = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);
    let demo_root = server.token(&["demo", "root"]);

    for token in [None, Some(vera.as_str()), Some(books.as_str())] {
        for path in [
            "/demo/-/check.json?action=view-table",
            "/demo/-/rules.json?action=view-table",
        ] {
            let reply = server.get(path, token).await;
            assert_eq!(reply.status, 403, "{path}");
            assert_eq!(reply.json()["error"], "permissions-debug");
        }
    }
    // Anyone may list their own rights, without the reasons.
    let anon = server
        .get("/demo/-/allowed.json?action=view-table", None)
        .await
        .json();
    assert_eq!(anon["actor_id"], Value::Null);
    assert!(
        anon["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.get("reason").is_none())
    );
    let own = server
        .get("/demo/-/allowed.json?action=view-table", Some(&books))
        .await
        .json();
    let children: Vec<&str> = own["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["child"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["books"]);
    let writes = server
        .get("/demo/-/allowed.json?action=insert-row", Some(&vera))
        .await
        .json();
    assert_eq!(writes["total"], 0);

    // A private space is not there for anonymous visitors or another space's token.
    for token in [None, Some(demo_root.as_str())] {
        for view in ["check", "allowed", "rules"] {
            let path = format!("/acme/-/{view}.json?action=view-table");
            let reply = server.get(&path, token).await;
            assert_eq!(reply.status, 404, "{path}");
            assert!(!reply.text.contains("secrets"));
        }
    }
    let olive = server.token(&["acme", "olive"]);
    let theirs = server
        .get("/acme/-/allowed.json?action=view-database", Some(&olive))
        .await
        .json();
    assert_eq!(theirs["items"][0]["resource"], "/secrets");
}

#[tokio::test]
async fn parameters_and_pages() {
    let server = Server::start(&[]);
    let root = server.token(&["demo", "root"]);
    for (path, status, message) in [
        ("/demo/-/check.json", 400, "action parameter is required"),
        (
            "/demo/-/allowed.json?action=nope",
            404,
            "Unknown action: nope",
        ),
        ("/demo/-/rules.json?action=%3Cb%3E", 404, "Unknown action"),
        (
            "/demo/-/allowed.json?action=view-table&child=x",
            400,
            "parent must be provided when child is specified",
        ),
        (
            "/demo/-/check.json?action=view-table&child=x",
            400,
            "parent is required when child is provided",
        ),
        (
            "/demo/-/allowed.json?action=view-table&_size=201",
            400,
            "_size must be <= 200",
        ),
        (
            "/demo/-/rules.json?action=view-table&_page=0",
            400,
            "_page must be a positive integer",
        ),
        (
            "/demo/-/check.json?action=view-table&actor=%5B1%5D",
            400,
            "actor must be a JSON object or null",
        ),
    ] {
        let reply = server.get(path, Some(&root)).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        assert_eq!(reply.json()["error"], message, "{path}");
    }
    let first = server
        .get(
            "/demo/-/allowed.json?action=view-table&_size=3",
            Some(&root),
        )
        .await
        .json();
    let total = first["total"].as_u64().unwrap();
    assert!(total > 3);
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        first["next_url"],
        "/demo/-/allowed.json?action=view-table&_page=2&_size=3"
    );
    assert!(first.get("previous_url").is_none());
    let mut seen: Vec<Value> = first["items"].as_array().unwrap().clone();
    let mut next = first["next_url"].as_str().map(str::to_owned);
    while let Some(path) = next {
        let page = server.get(&path, Some(&root)).await.json();
        assert!(page["previous_url"].is_string());
        seen.extend(page["items"].as_array().unwrap().iter().cloned());
        next = page["next_url"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len() as u64, total);
}
