//! Stored queries against a real server: store, list, run, update and
//! delete; private queries; a token restricted to one query; queries that
//! outlive restarts and `db import --replace` and go with their database;
//! writable queries run through the writer and audited.

mod common;

use std::time::Duration;

use common::{Server, cli};
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::sqlite;
use serde_json::{Value, json};

const ITEMS: &str = "create table items (id integer primary key, name text, state text);
    insert into items (name, state) values ('anvil', 'CA'), ('magnet', 'MI'),
      ('rocket', 'CA'), ('glue', 'WA');";

/// Fills database `db` of `space` with the items table, mirrored in the catalog.
fn fill(data: &DataDir, conn: &libsql::Connection, space_id: i64, db: &str) {
    let file = sqlite::open_file(&data.database_file("acme", db)).unwrap();
    let tenant = sqlite::connect(&file).unwrap();
    sqlite::execute_batch(&tenant, ITEMS).unwrap();
    let id = libsette::catalog::databases::find(conn, space_id, db)
        .unwrap()
        .unwrap()
        .id;
    libsette::catalog::mirror::refresh(conn, id, &tenant).unwrap();
}

/// Space `acme` (public when asked) owned by olive, with editor eddie,
/// viewer vera and the database `shop`.
fn world(public: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let catalog = Catalog::open(&data).unwrap();
    let conn = catalog.conn().unwrap();
    let name = SpaceName::parse("acme").unwrap();
    let acme = spaces::create(&conn, &name, "olive", public).unwrap();
    for (user, role) in [("eddie", "editor"), ("vera", "viewer")] {
        let id = users::ensure(&conn, user).unwrap();
        spaces::set_member(&conn, acme.id, id, role).unwrap();
    }
    import::create(&conn, &data, "acme", &DbName::parse("shop").unwrap()).unwrap();
    fill(&data, &conn, acme.id, "shop");
    dir
}

fn by_state(private: bool) -> Value {
    json!({"query": {
        "name": "by_state",
        "sql": "select name from items where state = :state order by id",
        "title": "Items by state",
        "is_private": private,
    }})
}

fn names(reply: &common::Reply) -> Vec<String> {
    reply.json()["queries"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn store_list_run_update_and_delete() {
    let server = Server::start_in(world(false), &[]);
    let (olive, eddie, vera) = (
        server.token(&["acme", "olive"]),
        server.token(&["acme", "eddie"]),
        server.token(&["acme", "vera"]),
    );
    // A viewer may not store; an editor may.
    let refused = server
        .post("/acme/shop/-/queries/store", Some(&vera), &by_state(false))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let stored = server
        .post("/acme/shop/-/queries/store", Some(&eddie), &by_state(false))
        .await;
    assert_eq!(stored.status, 201, "{}", stored.text);
    let query = &stored.json()["query"];
    assert_eq!(query["owner_id"], "eddie");
    assert_eq!(query["parameters"], json!(["state"]));
    assert_eq!(query["is_write"], false);

    let listed = server.get("/acme/shop/-/queries.json", Some(&vera)).await;
    assert_eq!(names(&listed), ["by_state"]);
    let everywhere = server.get("/acme/-/queries.json", Some(&vera)).await;
    assert_eq!(names(&everywhere), ["by_state"]);

    // Run by a viewer, with the parameter from the query string.
    let rows = server
        .get(
            "/acme/shop/by_state.json?state=CA&_shape=array",
            Some(&vera),
        )
        .await;
    assert_eq!(rows.json(), json!([{"name": "anvil"}, {"name": "rocket"}]));
    let csv = server
        .get("/acme/shop/by_state.csv?state=MI", Some(&vera))
        .await;
    assert_eq!(csv.text, "name\r\nmagnet\r\n");
    let page = server
        .get("/acme/shop/by_state?state=WA", Some(&vera))
        .await;
    assert!(page.text.contains("Items by state") && page.text.contains("glue"));

    // The viewer may not change it; its owner and the space's owner may.
    let change = json!({"update": {"title": "Renamed"}, "return": true});
    let refused = server
        .post("/acme/shop/by_state/-/update", Some(&vera), &change)
        .await;
    assert_eq!(refused.status, 403);
    let updated = server
        .post("/acme/shop/by_state/-/update", Some(&eddie), &change)
        .await;
    assert_eq!(
        updated.json()["query"]["title"],
        "Renamed",
        "{}",
        updated.text
    );
    let sql = json!({"update": {"sql": "select count(*) as n from items where state = :state"}});
    let updated = server
        .post("/acme/shop/by_state/-/update", Some(&olive), &sql)
        .await;
    assert_eq!(updated.json(), json!({"ok": true}));
    let count = server
        .get(
            "/acme/shop/by_state.json?state=CA&_shape=array",
            Some(&vera),
        )
        .await;
    assert_eq!(count.json(), json!([{"n": 2}]));
    let definition = server
        .get("/acme/shop/by_state/-/definition", Some(&vera))
        .await;
    assert_eq!(definition.json()["query"]["title"], "Renamed");

    // A table keeps its name: a query may not take it.
    let clash = json!({"query": {"name": "items", "sql": "select 1"}});
    let clash = server
        .post("/acme/shop/-/queries/store", Some(&eddie), &clash)
        .await;
    assert_eq!(
        clash.json()["errors"],
        json!(["Query name conflicts with a table or view"])
    );

    let refused = server
        .post("/acme/shop/by_state/-/delete", Some(&vera), &json!({}))
        .await;
    assert_eq!(refused.status, 403);
    let deleted = server
        .post("/acme/shop/by_state/-/delete", Some(&eddie), &json!({}))
        .await;
    assert_eq!(deleted.json(), json!({"ok": true}));
    let gone = server.get("/acme/shop/by_state.json", Some(&vera)).await;
    assert_eq!(gone.status, 404);
    assert!(names(&server.get("/acme/shop/-/queries.json", Some(&vera)).await).is_empty());
}

#[tokio::test]
async fn a_private_query_is_its_owners_alone() {
    let server = Server::start_in(world(true), &[]);
    let (olive, eddie, vera) = (
        server.token(&["acme", "olive"]),
        server.token(&["acme", "eddie"]),
        server.token(&["acme", "vera"]),
    );
    let stored = server
        .post("/acme/shop/-/queries/store", Some(&eddie), &by_state(true))
        .await;
    assert_eq!(stored.json()["query"]["is_private"], true);
    let public =
        json!({"query": {"name": "all_items", "sql": "select * from items", "is_private": false}});
    assert_eq!(
        server
            .post("/acme/shop/-/queries/store", Some(&eddie), &public)
            .await
            .status,
        201
    );

    let mine = server.get("/acme/shop/-/queries.json", Some(&eddie)).await;
    assert_eq!(names(&mine), ["all_items", "by_state"]);
    assert_eq!(mine.json()["show_private_note"], true);
    let run = server
        .get(
            "/acme/shop/by_state.json?state=CA&_shape=array",
            Some(&eddie),
        )
        .await;
    assert_eq!(run.status, 200);
    // Another member, the space's owner and anonymous visitors neither see nor run it.
    for token in [Some(vera.as_str()), Some(olive.as_str()), None] {
        for list in ["/acme/shop/-/queries.json", "/acme/-/queries.json"] {
            assert_eq!(
                names(&server.get(list, token).await),
                ["all_items"],
                "{token:?}"
            );
        }
        let run = server.get("/acme/shop/by_state.json?state=CA", token).await;
        assert_eq!(run.status, 403, "{token:?}: {}", run.text);
        assert_eq!(
            run.json()["error"],
            "You do not have permission to view this query"
        );
        let definition = server.get("/acme/shop/by_state/-/definition", token).await;
        assert_eq!(definition.status, 403);
        let page = server.get("/acme/shop", token).await;
        assert!(page.text.contains("all_items") && !page.text.contains("by_state"));
    }
    // Made public by its owner, everyone may run it.
    let open = json!({"update": {"is_private": false}});
    assert_eq!(
        server
            .post("/acme/shop/by_state/-/update", Some(&eddie), &open)
            .await
            .status,
        200
    );
    let run = server
        .get("/acme/shop/by_state.json?state=MI&_shape=array", None)
        .await;
    assert_eq!(run.json(), json!([{"name": "magnet"}]));
}

#[tokio::test]
async fn a_token_for_one_query_runs_only_that_one() {
    let server = Server::start_in(world(false), &[]);
    let eddie = server.token(&["acme", "eddie"]);
    for (name, sql) in [
        ("by_state", "select name from items where state = :state"),
        ("everything", "select * from items"),
    ] {
        let body = json!({"query": {"name": name, "sql": sql, "is_private": false}});
        assert_eq!(
            server
                .post("/acme/shop/-/queries/store", Some(&eddie), &body)
                .await
                .status,
            201
        );
    }
    let token = server.token(&["acme", "vera", "-r", "shop", "by_state", "view-query"]);
    let run = server
        .get(
            "/acme/shop/by_state.json?state=CA&_shape=array",
            Some(&token),
        )
        .await;
    assert_eq!(
        run.json(),
        json!([{"name": "anvil"}, {"name": "rocket"}]),
        "{}",
        run.text
    );
    let other = server.get("/acme/shop/everything.json", Some(&token)).await;
    assert_eq!(other.status, 403, "{}", other.text);
    let sql = server
        .get("/acme/shop/-/query.json?sql=select+1", Some(&token))
        .await;
    assert_eq!(sql.status, 403);
    let table = server.get("/acme/shop/items.json", Some(&token)).await;
    assert_eq!(table.status, 403);
    assert_eq!(
        names(&server.get("/acme/shop/-/queries.json", Some(&token)).await),
        ["by_state"]
    );

    // The same narrowing through the tokens API, from a token that may view every query.
    let parent = server.token(&["acme", "vera", "-a", "view-query", "-a", "create-token"]);
    let everything = server
        .get("/acme/shop/everything.json", Some(&parent))
        .await;
    assert_eq!(everything.status, 200);
    let ask = json!({"restrict_resource": {"shop": {"by_state": ["view-query"]}}});
    let created = server.post("/acme/-/api/tokens", Some(&parent), &ask).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let child = created.json()["token"].as_str().unwrap().to_owned();
    let run = server
        .get(
            "/acme/shop/by_state.json?state=WA&_shape=array",
            Some(&child),
        )
        .await;
    assert_eq!(run.json(), json!([{"name": "glue"}]));
    let other = server.get("/acme/shop/everything.json", Some(&child)).await;
    assert_eq!(other.status, 403);
}

#[tokio::test]
async fn queries_outlive_restarts_and_replacement_and_go_with_their_database() {
    let server = Server::start_in(world(false), &[]);
    let eddie = server.token(&["acme", "eddie"]);
    let stored = server
        .post("/acme/shop/-/queries/store", Some(&eddie), &by_state(false))
        .await;
    assert_eq!(stored.status, 201);
    let dir = server.stop();

    // Replace the database with a copy holding one more CA row.
    let copy = dir.path().join("copy.db");
    let file = sqlite::open_file(&copy).unwrap();
    let conn = sqlite::connect(&file).unwrap();
    sqlite::execute_batch(&conn, ITEMS).unwrap();
    sqlite::execute_batch(
        &conn,
        "insert into items (name, state) values ('spring', 'CA')",
    )
    .unwrap();
    drop((conn, file));
    let copy = copy.to_str().unwrap().to_owned();
    cli(
        dir.path(),
        &["db", "import", "acme", &copy, "--name", "shop", "--replace"],
    );

    let server = Server::start_in(dir, &[]);
    let eddie = server.token(&["acme", "eddie"]);
    let run = server
        .get(
            "/acme/shop/by_state.json?state=CA&_shape=array",
            Some(&eddie),
        )
        .await;
    assert_eq!(
        run.json(),
        json!([{"name": "anvil"}, {"name": "rocket"}, {"name": "spring"}])
    );

    // Deleting the database deletes its queries: a new `shop` has none.
    server.cli(&["db", "delete", "acme", "shop"]);
    server.cli(&["db", "create", "acme", "shop"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let gone = server.get("/acme/shop/by_state.json", Some(&eddie)).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    assert!(names(&server.get("/acme/-/queries.json", Some(&eddie)).await).is_empty());
}

#[tokio::test]
async fn a_writable_query_writes_through_the_writer_and_is_audited() {
    let server = Server::start_in(world(false), &[]);
    let (olive, eddie, vera) = (
        server.token(&["acme", "olive"]),
        server.token(&["acme", "eddie"]),
        server.token(&["acme", "vera"]),
    );
    let body = json!({"query": {
        "name": "add_item",
        "sql": "insert into items (name, state) values (:name, :state)",
        "is_private": false,
        "on_success_message": "Added",
    }});
    let stored = server
        .post("/acme/shop/-/queries/store", Some(&eddie), &body)
        .await;
    assert_eq!(stored.json()["query"]["is_write"], true, "{}", stored.text);
    // GET runs no writes.
    let read = server
        .get("/acme/shop/add_item.json?name=x&state=OR", Some(&eddie))
        .await;
    assert_eq!(
        read.json(),
        json!({"ok": true, "rows": [], "truncated": false})
    );
    // A viewer may see it but not make its write.
    let params = json!({"name": "kite", "state": "OR"});
    let refused = server
        .post("/acme/shop/add_item", Some(&vera), &params)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let ran = server
        .post("/acme/shop/add_item", Some(&eddie), &params)
        .await;
    assert_eq!(
        ran.json(),
        json!({"ok": true, "message": "Added", "redirect": null})
    );
    let rows = server
        .get("/acme/shop/items.json?state=OR&_shape=array", Some(&vera))
        .await;
    assert_eq!(
        rows.json(),
        json!([{"id": 5, "name": "kite", "state": "OR"}])
    );
    let audit = server
        .get("/acme/-/audit.json?event=stored-query", Some(&olive))
        .await;
    let entries = audit.json()["events"].clone();
    let entry = entries
        .as_array()
        .and_then(|e| e.first())
        .unwrap_or_else(|| panic!("{}", audit.text));
    assert_eq!(entry["actor"], "eddie", "{entry}");
    assert_eq!(entry["table"], "items");
    assert_eq!(entry["rows_affected"], 1);
}
