//! Immutable databases: opened read-only, counted once, served under
//! `/{space}/{db}-{hash}/` with year-long cache lifetimes; plain and stale
//! names redirect to the current hash.

mod common;

use std::path::Path;

use common::Server;
use libsette::sqlite;
use serde_json::json;

fn sample(path: &Path, rows: i64) {
    let db = sqlite::open_plain(path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(&conn, "create table t (id integer primary key, v text)").unwrap();
    for i in 0..rows {
        sqlite::execute(&conn, "insert into t (v) values (?1)", [format!("v{i}")]).unwrap();
    }
}

async fn location(server: &Server, path: &str) -> (u16, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = client
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap();
    let location = reply
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (reply.status().as_u16(), location)
}

#[tokio::test]
async fn hashed_urls_and_long_cache_lifetimes() {
    let server = Server::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("archive.db");
    sample(&file, 7);
    server.cli(&["space", "create", "museum", "--public"]);
    let out = server.cli(&[
        "db",
        "import",
        "museum",
        file.to_str().unwrap(),
        "--immutable",
    ]);
    let hashed = out
        .split_whitespace()
        .find(|w| w.starts_with("/museum/archive-"))
        .unwrap_or_else(|| panic!("no hashed URL in {out}"))
        .trim_end_matches('/')
        .to_owned();

    let (status, to) = location(&server, "/museum/archive/t.json?_size=2").await;
    assert_eq!(status, 302);
    assert_eq!(
        to.as_deref(),
        Some(format!("{hashed}/t.json?_size=2").as_str())
    );
    let (_, to) = location(&server, "/museum/archive.json").await;
    assert_eq!(to.as_deref(), Some(format!("{hashed}.json").as_str()));
    let (_, to) = location(&server, "/museum/archive-00000000/t.json").await;
    assert_eq!(
        to.as_deref(),
        Some(format!("{hashed}/t.json").as_str()),
        "a stale hash redirects"
    );

    let page = server.get(&format!("{hashed}/t.json?_size=2"), None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.header("cache-control"), Some("max-age=31536000"));
    assert_eq!(page.json()["rows"].as_array().unwrap().len(), 2);
    let db = server.get(&format!("{hashed}.json"), None).await.json();
    assert_eq!(db["tables"][0]["count"], json!(7));
    // The instance's database list says it is immutable, with its hash.
    let listing = server.get("/museum/-/databases.json", None).await.json();
    let archive = &listing["databases"][0];
    assert_eq!(archive["is_mutable"], json!(false), "{listing}");
    let hash = archive["hash"].as_str().expect("a hash");
    assert!(
        hashed.ends_with(&format!("archive-{hash}")),
        "{hash} {hashed}"
    );

    // Writes are refused, under either name.
    for path in [
        "/museum/archive/t/-/insert".to_owned(),
        format!("{hashed}/t/-/insert"),
    ] {
        let reply = server
            .client
            .post(format!("{}{path}", server.base))
            .header(
                "Authorization",
                format!("Bearer {}", server.token(&["museum", "root"])),
            )
            .json(&json!({"row": {"v": "x"}}))
            .send()
            .await
            .unwrap();
        let status = reply.status();
        let body: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"], json!("Database is immutable"));
    }
    // The file is opened read-only: SQL cannot write even if it tried, and no WAL is left beside it.
    assert!(!server.data().join("spaces/museum/archive.db-wal").exists());

    // Replacing the file gives a new hash; the old one redirects to it.
    let second = work.path().join("second.db");
    sample(&second, 3);
    server.cli(&[
        "db",
        "import",
        "museum",
        second.to_str().unwrap(),
        "--name",
        "archive",
        "--replace",
    ]);
    // The old hash names the old content, which stays readable until the
    // catalog change reaches the server (within a second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, to) = location(&server, &format!("{hashed}/t.json")).await;
    let new = to.expect("redirect to the new hash");
    assert_ne!(new, format!("{hashed}/t.json"));
    assert_eq!(
        server.get(&new, None).await.json()["rows"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Made mutable again: the plain name serves, hashed names are gone.
    server.cli(&["db", "set", "museum", "archive", "--mutable"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let plain = server.get("/museum/archive/t.json", None).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("cache-control"), Some("max-age=5"));
    assert_eq!(server.get(&new, None).await.status, 404);
}
