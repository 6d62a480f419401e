//! The smaller endpoints of Datasette 1.0a41 against the real server: the
//! whole space's schema and schemas as Markdown, `/-/query/parameters`,
//! `/-/config.json`, `/-/jump.json`, the foreign-key helpers and
//! autocomplete. Each names only tables the actor may view, and a private
//! space stays hidden from anonymous visitors and other spaces' tokens.
//! The demo's `library` has `authors`, `books` (`author_id` → authors),
//! the FTS table `books_fts` and the view `books_by_author`.

mod common;

use common::Server;
use serde_json::{Value, json};

/// A server with a private space `acme` (owner olive, database `secrets`).
fn with_private_space() -> Server {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "acme", "--owner", "olive"]);
    server.cli(&["db", "create", "acme", "secrets"]);
    server
}

#[tokio::test]
async fn schemas_as_json_and_markdown_follow_view_table() {
    let server = with_private_space();
    let books = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);

    let all = server.get("/demo/-/schema.json", None).await.json();
    assert_eq!(all["schemas"][0]["database"], "library");
    let whole = all["schemas"][0]["schema"].as_str().unwrap().to_owned();
    let one = server.get("/demo/library/-/schema.json", None).await.json();
    assert_eq!(one["schema"], whole.as_str());

    let md = server.get("/demo/-/schema.md", None).await;
    assert_eq!(md.status, 200);
    assert_eq!(md.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        md.text,
        format!("# Schema for library\n\n```sql\n{whole}\n```")
    );
    let db_md = server.get("/demo/library/-/schema.md", None).await;
    assert_eq!(db_md.text, format!("{}\n", md.text));
    let table_md = server.get("/demo/library/books/-/schema.md", None).await;
    assert!(
        table_md
            .text
            .starts_with("# Schema for library.books\n\n```sql\nCREATE TABLE books (")
    );
    assert!(table_md.text.ends_with(")\n```\n"), "{}", table_md.text);

    // A token that may view only books sees only books, in every form.
    for path in [
        "/demo/-/schema.json",
        "/demo/-/schema.md",
        "/demo/library/-/schema.md",
    ] {
        let reply = server.get(path, Some(&books)).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.text.contains("CREATE TABLE books"), "{path}");
        // (books' own CREATE names authors: its foreign key.)
        for hidden in ["CREATE TABLE authors", "books_fts", "books_by_author"] {
            assert!(!reply.text.contains(hidden), "{path} shows {hidden}");
        }
    }
    let refused = server
        .get("/demo/library/authors/-/schema.md", Some(&books))
        .await;
    assert_eq!(refused.status, 403);
    let missing = server.get("/demo/library/nope/-/schema.md", None).await;
    assert_eq!(
        (missing.status, missing.text.as_str()),
        (404, "Table not found")
    );
    assert_eq!(
        missing.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let demo_root = server.token(&["demo", "root"]);
    for path in [
        "/acme/-/schema.json",
        "/acme/-/schema.md",
        "/acme/secrets/-/schema.md",
    ] {
        for token in [None, Some(demo_root.as_str())] {
            assert_eq!(server.get(path, token).await.status, 404, "{path}");
        }
    }
    let olive = server.token(&["acme", "olive"]);
    let theirs = server.get("/acme/-/schema.json", Some(&olive)).await.json();
    assert_eq!(
        theirs["schemas"],
        json!([{"database": "secrets", "schema": ""}])
    );
}

#[tokio::test]
async fn query_parameters_for_those_who_may_run_sql() {
    let server = with_private_space();
    let path = "/demo/library/-/query/parameters?sql=select+*+from+books+where+year+%3E+%3Asince+and+genre+%3D+%3Agenre+or+year+%3D+%3Asince+--+%3Anot_this";
    let reply = server.get(path, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["parameters"], json!(["since", "genre"]));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    for (path, status, error) in [
        (
            "/demo/library/-/query/parameters?sql=select+%3A_now",
            400,
            "Magic parameters are not allowed",
        ),
        (
            "/demo/library/-/query/parameters?sql=select+1&b=1&a=2",
            400,
            "Invalid keys: a, b",
        ),
        (
            "/demo/nope/-/query/parameters?sql=select+1",
            404,
            "Database not found",
        ),
    ] {
        let reply = server.get(path, None).await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(reply.json()["error"], error, "{path}");
    }
    let viewer = server.token(&["demo", "root", "-d", "library", "view-database"]);
    let refused = server
        .get(
            "/demo/library/-/query/parameters?sql=select+1",
            Some(&viewer),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        server
            .get("/acme/secrets/-/query/parameters?sql=select+1", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn config_shows_the_settings_set_on_purpose() {
    let server = Server::start(&["--setting", "max_returned_rows", "500"]);
    server.cli(&[
        "space",
        "set",
        "demo",
        "--setting",
        "default_page_size",
        "20",
    ]);
    server.cli(&["space", "set", "demo", "--setting", "allow_facet", "off"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let config = server.get("/demo/-/config.json", None).await.json();
    assert_eq!(
        config,
        json!({"ok": true, "settings": {"allow_facet": false, "default_page_size": 20, "max_returned_rows": 500}})
    );
    server.cli(&["space", "create", "acme", "--owner", "olive"]);
    let demo_root = server.token(&["demo", "root"]);
    assert_eq!(
        server
            .get("/acme/-/config.json", Some(&demo_root))
            .await
            .status,
        404
    );
    let olive = server.token(&["acme", "olive"]);
    let theirs = server.get("/acme/-/config.json", Some(&olive)).await.json();
    assert_eq!(
        theirs,
        json!({"ok": true, "settings": {"max_returned_rows": 500}})
    );
}

fn names(reply: &Value) -> Vec<String> {
    reply["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn jump_lists_what_the_actor_may_view() {
    let server = with_private_space();
    let all = server.get("/demo/-/jump.json", None).await.json();
    let listed = names(&all);
    assert_eq!(listed[0], "library");
    for name in [
        "library: authors",
        "library: books",
        "library: books_by_author",
    ] {
        assert!(listed.contains(&name.to_owned()), "{listed:?}");
    }
    assert_eq!(all["matches"][0]["url"], "/demo/library");
    let view = all["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "library: books_by_author")
        .unwrap();
    assert_eq!(view["type"], "view");
    let found = server
        .get("/demo/-/jump.json?q=lib+auth", None)
        .await
        .json();
    assert_eq!(
        names(&found),
        ["library: authors", "library: books_by_author"]
    );

    // Stored queries are listed for those who may view them: a private one
    // only for its owner.
    let root = server.token(&["demo", "root"]);
    for (name, private) in [("prolific", false), ("mine_only", true)] {
        let store = json!({"query": {"name": name, "sql": "select 1", "is_private": private}});
        let stored = server
            .post("/demo/library/-/queries/store", Some(&root), &store)
            .await;
        assert_eq!(stored.status, 201, "{}", stored.text);
    }
    let found = server
        .get("/demo/-/jump.json?q=prolific", None)
        .await
        .json();
    assert_eq!(names(&found), ["library: prolific"]);
    assert_eq!(found["matches"][0]["type"], "query");
    assert_eq!(found["matches"][0]["url"], "/demo/library/prolific");
    let anonymous = server.get("/demo/-/jump.json?q=mine", None).await.json();
    assert!(names(&anonymous).is_empty(), "{anonymous}");
    let owner = server
        .get("/demo/-/jump.json?q=mine", Some(&root))
        .await
        .json();
    assert_eq!(names(&owner), ["library: mine_only"]);

    let books = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);
    let own = server.get("/demo/-/jump.json", Some(&books)).await.json();
    assert_eq!(names(&own), ["library", "library: books"]);
    let demo_root = server.token(&["demo", "root"]);
    for token in [None, Some(demo_root.as_str())] {
        assert_eq!(server.get("/acme/-/jump.json", token).await.status, 404);
    }
}

#[tokio::test]
async fn foreign_key_helpers_for_those_who_may_change_tables() {
    let server = with_private_space();
    let root = server.token(&["demo", "root"]);
    let targets = server
        .get("/demo/library/-/foreign-key-targets", Some(&root))
        .await
        .json();
    assert_eq!(
        targets["targets"],
        json!([
            {"fk_table": "authors", "fk_column": "id", "type": "integer"},
            {"fk_table": "books", "fk_column": "id", "type": "integer"},
        ])
    );
    let suggested = server
        .get("/demo/library/books/-/foreign-key-suggestions", Some(&root))
        .await
        .json();
    let author_id = suggested["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "author_id")
        .unwrap();
    assert_eq!(
        author_id["current"],
        json!({"fk_table": "authors", "fk_column": "id"})
    );
    assert_eq!(author_id["options"][0]["fk_table"], "authors");
    assert_eq!(
        author_id["suggestions"][0],
        json!({"fk_table": "authors", "fk_column": "id", "confidence": "sampled", "sampled_values": 5,
               "reasons": ["type_match", "sample_values_exist", "name_match"]})
    );
    assert_eq!(suggested["row_check"]["status"], "completed");

    // Those who may not change tables are refused; hidden tables are never offered.
    let anon = server
        .get("/demo/library/-/foreign-key-targets", None)
        .await;
    assert_eq!(anon.status, 403);
    assert_eq!(anon.json()["error"], "Permission denied: need create-table");
    let view = server
        .get(
            "/demo/library/books_by_author/-/foreign-key-suggestions",
            Some(&root),
        )
        .await;
    assert_eq!(view.status, 400);
    let narrow = server.token(&[
        "demo",
        "root",
        "-d",
        "library",
        "create-table",
        "-r",
        "library",
        "books",
        "view-table",
        "-r",
        "library",
        "books",
        "alter-table",
    ]);
    let seen = server
        .get("/demo/library/-/foreign-key-targets", Some(&narrow))
        .await;
    assert_eq!(
        seen.json()["targets"],
        json!([{"fk_table": "books", "fk_column": "id", "type": "integer"}])
    );
    let own = server
        .get(
            "/demo/library/books/-/foreign-key-suggestions",
            Some(&narrow),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert!(!own.text.contains("authors"), "{}", own.text);
    let demo_root = server.token(&["demo", "root"]);
    assert_eq!(
        server
            .get("/acme/secrets/-/foreign-key-targets", Some(&demo_root))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn autocomplete_searches_keys_and_labels_of_viewable_tables() {
    let server = with_private_space();
    let found = server
        .get("/demo/library/authors/-/autocomplete?q=le", None)
        .await
        .json();
    assert_eq!(
        found["rows"],
        json!([
            {"pks": {"id": 5}, "label": "Stanisław Lem"},
            {"pks": {"id": 1}, "label": "Ursula K. Le Guin"},
            {"pks": {"id": 4}, "label": "Octavia E. Butler"},
        ])
    );
    let exact = server
        .get("/demo/library/authors/-/autocomplete?q=3", None)
        .await
        .json();
    assert_eq!(
        exact["rows"][0],
        json!({"pks": {"id": 3}, "label": "Italo Calvino"})
    );
    let newest = server
        .get("/demo/library/books/-/autocomplete?_initial=1", None)
        .await
        .json();
    assert_eq!(newest["rows"].as_array().unwrap().len(), 10);
    assert_eq!(newest["rows"][0]["pks"]["id"], 11);
    let nothing = server
        .get("/demo/library/authors/-/autocomplete", None)
        .await
        .json();
    assert_eq!(nothing, json!({"ok": true, "rows": []}));
    let view = server
        .get("/demo/library/books_by_author/-/autocomplete?q=a", None)
        .await;
    assert_eq!(view.status, 400);

    let books = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);
    let hidden = server
        .get("/demo/library/authors/-/autocomplete?q=le", Some(&books))
        .await;
    assert_eq!(hidden.status, 403);
    assert!(!hidden.text.contains("Lem"));
    assert_eq!(
        server
            .get("/acme/secrets/t/-/autocomplete?q=a", None)
            .await
            .status,
        404
    );
}
