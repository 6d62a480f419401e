//! Schema and listings with a token restricted to one table, against the
//! real server: each answer names only what `view-table` lets the token see.
//! The demo's `library` has `authors`, `books` (a foreign key to authors),
//! the FTS table `books_fts` and the view `books_by_author`.

mod common;

use common::Server;
use serde_json::json;

/// Every page and answer that lists or describes tables, for one database.
const LISTINGS: &[&str] = &[
    "/demo/.json",
    "/demo/",
    "/demo/-/databases.json",
    "/demo/library.json",
    "/demo/library",
    "/demo/library/-/schema.json",
];

#[tokio::test]
async fn a_books_token_sees_only_books_in_every_listing() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);
    for path in LISTINGS {
        let reply = server.get(path, Some(&token)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        for other in ["books_fts", "books_by_author", "CREATE TABLE authors"] {
            assert!(!reply.text.contains(other), "{path} shows {other}");
        }
    }
    let schema = server
        .get("/demo/library/-/schema.json", Some(&token))
        .await
        .json();
    let sql = schema["schema"].as_str().unwrap();
    assert!(sql.starts_with("CREATE TABLE books ("), "{sql}");
    assert_eq!(sql.matches("CREATE ").count(), 1, "{sql}");
    // The whole schema is still there for those who may view it all.
    let everything = server.get("/demo/library/-/schema.json", None).await.json();
    let all = everything["schema"].as_str().unwrap();
    for name in ["authors", "books_fts", "books_by_author"] {
        assert!(all.contains(&format!("CREATE TABLE {name}")) || all.contains(name));
    }
    assert!(all.len() > sql.len());
    // A table's own schema answers as the table does.
    let own = server
        .get("/demo/library/books/-/schema.json", Some(&token))
        .await;
    assert_eq!(own.status, 200);
    for (path, status) in [
        ("/demo/library/authors/-/schema.json", 403),
        ("/demo/library/books_fts/-/schema.json", 403),
        ("/demo/library/no_such_table/-/schema.json", 404),
    ] {
        let reply = server.get(path, Some(&token)).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        assert!(!reply.text.contains("CREATE"), "{path}");
    }
}

#[tokio::test]
async fn keys_and_labels_name_no_hidden_table() {
    let server = Server::start(&[]);
    let authors = server.token(&["demo", "root", "-r", "library", "authors", "view-table"]);
    // books points at authors: an authors-only token must not learn of books.
    for path in [
        "/demo/.json",
        "/demo/",
        "/demo/library.json",
        "/demo/library",
    ] {
        let reply = server.get(path, Some(&authors)).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(!reply.text.contains("books"), "{path} names books");
    }
    let listed = server
        .get("/demo/library.json", Some(&authors))
        .await
        .json();
    assert_eq!(
        listed["tables"][0]["foreign_keys"],
        json!({"incoming": [], "outgoing": []})
    );
    let row = server
        .get(
            "/demo/library/authors/1.json?_extra=foreign_key_tables",
            Some(&authors),
        )
        .await;
    assert_eq!(row.json()["foreign_key_tables"], json!([]), "{}", row.text);
    let schema = server
        .get("/demo/library/-/schema.json", Some(&authors))
        .await;
    assert!(!schema.text.contains("books"), "{}", schema.text);

    // A books-only token: its own key to authors is in its own definition,
    // but nothing read from authors (labels, label column) is shown.
    let books = server.token(&["demo", "root", "-r", "library", "books", "view-table"]);
    let listed = server.get("/demo/library.json", Some(&books)).await.json();
    assert_eq!(listed["tables"][0]["fts_table"], json!(null));
    let expandable = server
        .get(
            "/demo/library/books.json?_extra=expandable_columns&_labels=on&_facet=author_id",
            Some(&books),
        )
        .await;
    assert_eq!(expandable.status, 200, "{}", expandable.text);
    assert_eq!(
        expandable.json()["expandable_columns"],
        json!([[{"column": "author_id", "other_table": "authors", "other_column": "id"}, null]])
    );
    assert!(!expandable.text.contains("Le Guin"), "{}", expandable.text);
    // The same request with full rights does expand.
    let full = server
        .get(
            "/demo/library/books.json?_extra=expandable_columns&_labels=on",
            None,
        )
        .await;
    assert!(full.text.contains("Le Guin"));
    assert_eq!(full.json()["expandable_columns"][0][1], json!("name"));
    // _through another table, SQL over sqlite_master: refused.
    let through = server
        .get(
            "/demo/library/books.json?_through=%7B%22table%22%3A%22authors%22%2C%22column%22%3A%22name%22%2C%22value%22%3A%22x%22%7D",
            Some(&books),
        )
        .await;
    assert_eq!(through.status, 403, "{}", through.text);
    for path in [
        "/demo/library/-/query.json?sql=select+sql+from+sqlite_master",
        "/demo/library.json?sql=select+sql+from+sqlite_master",
    ] {
        let reply = server.get(path, Some(&books)).await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.text);
        assert!(!reply.text.contains("CREATE"), "{path}");
    }
}

#[tokio::test]
async fn the_tokens_page_offers_only_visible_tables() {
    let server = Server::start(&[]);
    let token = server.token(&[
        "demo",
        "root",
        "-a",
        "create-token",
        "-r",
        "library",
        "books",
        "view-table",
    ]);
    let page = server.get("/demo/-/tokens", Some(&token)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("resource:library:books:vt"));
    for other in ["authors", "books_fts", "books_by_author"] {
        assert!(!page.text.contains(other), "the page offers {other}");
    }
}
