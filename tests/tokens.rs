//! Tokens against the real server: restrictions, expiry, revocation while
//! running, malformed and unknown tokens, and what `/-/actor.json` shows.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

#[tokio::test]
async fn a_table_restricted_token_sees_only_that_table() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);
    let reply = server.get("/demo/library.json", Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.table_names(), vec!["books"]);
    assert_eq!(reply.json()["allow_execute_sql"], json!(false));
    // Without the token the public demo shows every table.
    let all = server.get("/demo/library.json", None).await.table_names();
    assert_eq!(all, vec!["authors", "books", "books_fts"]);
    // The restriction implies viewing the space, and no other database.
    let index = server.get("/demo/.json", Some(&token)).await;
    assert_eq!(index.status, 200);
    assert_eq!(index.json()["databases"][0]["tables_count"], json!(1));
    // Its table reads; every other table is a 403.
    assert_eq!(
        server
            .get("/demo/library/books.json", Some(&token))
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .get("/demo/library/books/1.json", Some(&token))
            .await
            .status,
        200
    );
    for other in [
        "/demo/library/authors.json",
        "/demo/library/authors/1.json",
        "/demo/library/books_fts.json",
    ] {
        let reply = server.get(other, Some(&token)).await;
        assert_eq!(reply.status, 403, "{other}");
        assert_eq!(
            reply.json()["error"],
            json!("You do not have permission to view this table")
        );
    }
    // And no SQL: execute-sql was not granted.
    let sql = server
        .get("/demo/library/-/query.json?sql=select+1", Some(&token))
        .await;
    assert_eq!(sql.json()["error"], json!("execute-sql"));
}

#[tokio::test]
async fn restriction_matrix() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "acme", "--owner", "olive"]);
    server.cli(&["db", "create", "acme", "main"]);
    server.cli(&["db", "create", "acme", "other"]);
    let cases: Vec<(Vec<&str>, &str, u16)> = vec![
        (vec![], "/acme/.json", 200),
        (vec![], "/acme/main.json", 200),
        (vec!["-a", "view-instance"], "/acme/.json", 200),
        (vec!["-a", "view-instance"], "/acme/main.json", 403),
        (vec!["-a", "view-database"], "/acme/main.json", 200),
        (vec!["-a", "vd"], "/acme/other.json", 200),
        (vec!["-d", "main", "view-database"], "/acme/main.json", 200),
        (vec!["-d", "main", "view-database"], "/acme/other.json", 403),
        (vec!["-d", "main", "view-database"], "/acme/.json", 200),
        (vec!["-a", "execute-sql"], "/acme/main.json", 403),
        (vec!["-a", "execute-sql"], "/acme/.json", 403),
        (vec!["-a", "insert-row"], "/acme/-/actor.json", 200),
    ];
    for (flags, path, expected) in cases {
        let mut args = vec!["acme", "olive"];
        args.extend(flags.iter().copied());
        let token = server.token(&args);
        let reply = server.get(path, Some(&token)).await;
        assert_eq!(reply.status, expected, "{flags:?} {path}: {}", reply.text);
        if expected == 403 {
            let body = reply.json();
            assert_eq!(body["ok"], json!(false));
            assert_eq!(body["status"], json!(403));
        }
    }
}

#[tokio::test]
async fn forbidden_messages_follow_datasette() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root", "-a", "execute-sql"]);
    let index = server.get("/demo/.json", Some(&token)).await;
    assert_eq!(index.status, 403);
    assert_eq!(
        index.json(),
        json!({"ok": false, "error": "view-instance", "errors": ["view-instance"], "status": 403})
    );
    let db = server.get("/demo/library.json", Some(&token)).await;
    assert_eq!(
        db.json()["error"],
        json!("You do not have permission to view this database")
    );
}

#[tokio::test]
async fn actor_json_shows_the_token() {
    let server = Server::start(&[]);
    let anon = server.get("/demo/-/actor.json", None).await;
    assert_eq!(anon.json(), json!({"ok": true, "actor": null}));

    let token = server.token(&[
        "demo",
        "root",
        "-a",
        "view-instance",
        "-d",
        "library",
        "view-query",
        "-r",
        "library",
        "books",
        "view-table",
        "--expires-after",
        "3600",
    ]);
    let body = server.get("/demo/-/actor.json", Some(&token)).await.json();
    assert_eq!(body["actor"]["id"], json!("root"));
    assert_eq!(body["actor"]["token"], json!("dstok"));
    assert_eq!(
        body["actor"]["_r"],
        json!({"a": ["vi"], "d": {"library": ["vq"]}, "r": {"library": {"books": ["vt"]}}})
    );
    let expires = body["actor"]["token_expires"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 3590..=now + 3610).contains(&expires),
        "{expires} vs {now}"
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let server = Server::start(&[]);
    // Expiry counts whole seconds: 3 leaves the first request time to land
    // before it even when the token is made late in a second on a busy machine.
    let token = server.token(&["demo", "root", "--expires-after", "3"]);
    assert_eq!(
        server.get("/demo/-/actor.json", Some(&token)).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let reply = server.get("/demo/-/actor.json", Some(&token)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(
        reply.json(),
        json!({"ok": false, "error": "Token has expired", "errors": ["Token has expired"], "status": 401})
    );
}

#[tokio::test]
async fn revocation_takes_effect_within_a_second() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root", "--name", "laptop"]);
    assert_eq!(
        server.get("/demo/library.json", Some(&token)).await.status,
        200
    );
    let listed = server.cli(&["token", "list", "demo"]);
    let id = listed
        .lines()
        .find(|l| l.contains("laptop"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_owned();
    server.cli(&["token", "revoke", "demo", &id]);
    let revoked_at = Instant::now();
    // Poll to see how fast it lands, then check the promise itself.
    while server.get("/demo/library.json", Some(&token)).await.status == 200 {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "still accepted after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(revoked_at.elapsed())).await;
    let reply = server.get("/demo/library.json", Some(&token)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], json!("Token has been revoked"));
    // Revoking by the secret itself also works, and listing shows the revocation.
    let second = server.token(&["demo", "root"]);
    server.cli(&["token", "revoke", "demo", &second]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        server.get("/demo/-/actor.json", Some(&second)).await.status,
        401
    );
    let listed = server.cli(&["token", "list", "demo"]);
    assert!(
        !listed.contains(&second),
        "token list must never show secrets"
    );
}

#[tokio::test]
async fn unusable_bearer_values_are_401_never_anonymous() {
    let server = Server::start(&[]);
    let valid = server.token(&["demo", "root"]);
    // Well-formed, but minted in another data folder: unknown here.
    let elsewhere = tempfile::tempdir().unwrap();
    common::cli(elsewhere.path(), &["space", "create", "demo"]);
    let unknown = common::cli(elsewhere.path(), &["token", "create", "demo", "root"])
        .trim()
        .to_owned();
    let truncated = &valid[..valid.len() - 1];
    for (header, message) in [
        (format!("Bearer {unknown}"), "Invalid token"),
        (format!("Bearer {truncated}"), "Invalid token signature"),
        (
            "Bearer dstok_not-a-real-token".to_owned(),
            "Invalid token signature",
        ),
        ("Bearer not-a-token".to_owned(), "Invalid token signature"),
        ("Bearer ".to_owned(), "Invalid token signature"),
    ] {
        let reply = server
            .get_with("/demo/-/actor.json", Some(&header), None)
            .await;
        assert_eq!(reply.status, 401, "{header}");
        assert_eq!(reply.json()["error"], json!(message), "{header}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        // The same answer where no space exists: a bad token reveals nothing about spaces.
        let nowhere = server
            .get_with("/no-such-space/.json", Some(&header), None)
            .await;
        assert_eq!((nowhere.status, nowhere.text), (401, reply.text));
    }
    assert_eq!(
        server.get("/demo/-/actor.json", Some(&valid)).await.status,
        200
    );
    // Basic auth is not ours to judge and stays anonymous, as in Datasette.
    let basic = server
        .get_with("/demo/-/actor.json", Some("Basic cm9vdDpyb290"), None)
        .await;
    assert_eq!(basic.json(), json!({"ok": true, "actor": null}));
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes_and_use_is_recorded() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root", "--name", "ci"]);
    assert!(token.starts_with("lstok_") && token.len() >= 6 + 40);
    server.get("/demo/-/actor.json", Some(&token)).await;
    let catalog = std::fs::read(server.data().join("catalog.db")).unwrap();
    let needle = token.as_bytes();
    assert!(
        !catalog.windows(needle.len()).any(|w| w == needle),
        "the secret must not be stored"
    );
    // Last use is written off the request path: wait for it to land.
    let mut used = String::new();
    for _ in 0..40 {
        used = server.cli(&["token", "list", "demo"]);
        let row: Vec<&str> = used
            .lines()
            .find(|l| l.contains("\tci\t"))
            .unwrap()
            .split('\t')
            .collect();
        if row[5] != "-" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("last use never recorded: {used}");
}
