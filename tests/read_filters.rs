//! Table filters, `_where`, `_through` and full-text search against the real
//! server, on a database imported with the CLI whose names hold quotes,
//! brackets and spaces, with an FTS5 and an FTS4 index.

mod common;

use common::{Reply, Server};
use libsette::sqlite;
use serde_json::{Value, json};

const ITEMS: &str = "it's \"odd\" [t]";

/// A database with tricky names, written with libsql and imported with the CLI.
fn fixture_db(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tricky.db");
    let db = sqlite::open_file(&path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(
        &conn,
        r#"
        create table "it's ""odd"" [t]" (
            id integer primary key,
            "the ""name""" text,
            "size [cm]" real,
            "tag's" text,
            created text,
            note text
        );
        insert into "it's ""odd"" [t]" values
            (1, 'apple', 1.5, '["red", "fruit"]', '2024-01-01 10:00:00', 'first'),
            (2, 'banana', 10, '["yellow", "fruit"]', '2024-01-02 09:00:00', ''),
            (3, 'Carrot', 7.25, '[]', '2024-01-02 23:00:00', null),
            (4, 'dill''s', 100, '["green"]', '2024-01-03 00:00:00', '50% off'),
            (5, 'egg_plant', -2, null, null, 'under_score');

        create table tags (id integer primary key, label text);
        insert into tags values (1, 'sweet'), (2, 'savory');
        create table "item tags" (
            item_id integer references "it's ""odd"" [t]"(id),
            tag_id integer references tags(id)
        );
        insert into "item tags" values (1, 1), (2, 1), (3, 2), (4, 2), (5, 2);

        create table "docs & notes" (id integer primary key, title text, "body text" text);
        insert into "docs & notes" values
            (1, 'cats and dogs', 'a dog barks'),
            (2, 'only cats', 'a cat sleeps'),
            (3, 'birds', 'the "quick" dog');
        create virtual table docs_fts using fts5(
            title, "body text", content="docs & notes", content_rowid="id"
        );
        insert into docs_fts(docs_fts) values ('rebuild');

        create table articles (id integer primary key, headline text);
        insert into articles values (1, 'rust is fast'), (2, 'python is friendly'), (3, 'rusty nails');
        create virtual table articles_fts using fts4(content="articles", headline);
        insert into articles_fts(docid, headline) select id, headline from articles;
        "#,
    )
    .unwrap();
    drop(conn);
    drop(db);
    path
}

async fn serve() -> Server {
    let server = Server::start(&[]);
    let file = fixture_db(server.dir.path());
    server.cli(&["space", "create", "acme", "--owner", "root", "--public"]);
    server.cli(&[
        "db",
        "import",
        "acme",
        file.to_str().unwrap(),
        "--name",
        "main",
    ]);
    server
}

fn path(table: &str, query: &str) -> String {
    format!(
        "/acme/main/{}.json?{query}",
        libsette::names::tilde_encode(table)
    )
}

/// The `id`s a request answers, asserting it succeeded.
async fn ids(server: &Server, table: &str, query: &str) -> Vec<i64> {
    let reply = server
        .get(&path(table, &format!("{query}&_shape=array")), None)
        .await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.text);
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect()
}

fn assert_error(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"ok": false, "error": message, "errors": [message], "status": status})
    );
}

#[tokio::test]
async fn every_operator_on_tricky_names() {
    let server = serve().await;
    let name = "the+%22name%22";
    let size = "size+%5Bcm%5D";
    let cases: Vec<(String, Vec<i64>)> = vec![
        (format!("{name}=apple"), vec![1]),
        (format!("{name}__exact=dill%27s"), vec![4]),
        (format!("{name}__not=apple"), vec![2, 3, 4, 5]),
        (format!("{name}__contains=an"), vec![2, 5]),
        ("note__contains=%25".into(), vec![1, 2, 4, 5]),
        (format!("{name}__notcontains=a"), vec![4]),
        (format!("{name}__endswith=t"), vec![3, 5]),
        (format!("{name}__startswith=c"), vec![3]),
        (format!("{size}__gt=7.25"), vec![2, 4]),
        // Numbers compare as numbers: 10 > 9 although '10' < '9'.
        (format!("{size}__gt=9"), vec![2, 4]),
        (format!("{size}__gte=7.25"), vec![2, 3, 4]),
        (format!("{size}__lt=1.5"), vec![5]),
        (format!("{size}__lte=1.5"), vec![1, 5]),
        ("created__gt=2024-01-02".into(), vec![2, 3, 4]),
        (format!("{name}__like=%25a_a%25"), vec![2]),
        (format!("{name}__notlike=%25a%25"), vec![4]),
        (format!("{name}__glob=%5BA-C%5D*"), vec![3]),
        (format!("{name}__in=apple,+egg_plant"), vec![1, 5]),
        ("id__in=%5B1%2C+%223%22%2C+99%5D".into(), vec![1, 3]),
        ("id__in=%5B%5D".into(), vec![]),
        ("id__notin=1,2,3".into(), vec![4, 5]),
        ("tag%27s__arraycontains=fruit".into(), vec![1, 2]),
        // json_each(null) is empty, so a null array contains nothing.
        ("tag%27s__arraynotcontains=fruit".into(), vec![3, 4, 5]),
        ("created__date=2024-01-02".into(), vec![2, 3]),
        ("note__isnull=1".into(), vec![3]),
        ("note__notnull=1".into(), vec![1, 2, 4, 5]),
        ("note__isblank=1".into(), vec![2, 3]),
        ("note__notblank=1".into(), vec![1, 4, 5]),
        ("id__gte=2&id__lt=5&id__not=3".into(), vec![2, 4]),
        ("rowid__gt=3".into(), vec![4, 5]),
        // An unknown operator is ignored; an unknown column is a string to SQLite.
        ("id__nope=1".into(), vec![1, 2, 3, 4, 5]),
        ("nope=1".into(), vec![]),
        ("nope__notnull=1".into(), vec![1, 2, 3, 4, 5]),
        // Arguments starting with `_` are not filters.
        ("_id=1".into(), vec![1, 2, 3, 4, 5]),
    ];
    for (query, expected) in cases {
        assert_eq!(ids(&server, ITEMS, &query).await, expected, "{query}");
    }
}

#[tokio::test]
async fn bad_filters_are_400s() {
    let server = serve().await;
    for (query, message) in [
        ("nope__in=1", "no such column: nope"),
        (
            "nope__arraycontains=1",
            "no such column: it's \"odd\" [t].nope",
        ),
        (
            "id__in=%5B%5B1%5D%5D",
            "Filter values must be strings, numbers, booleans or null",
        ),
    ] {
        let reply = server.get(&path(ITEMS, query), None).await;
        assert_error(&reply, 400, message);
    }
    let reply = server.get(&path(ITEMS, "id__in=%5B1%2C"), None).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON list")
    );
}

#[tokio::test]
async fn full_text_search_fts5_and_fts4() {
    let server = serve().await;
    let docs = "docs & notes";
    assert_eq!(ids(&server, docs, "_search=dog").await, vec![1, 3]);
    assert_eq!(ids(&server, docs, "_search=cats+dog").await, vec![1]);
    assert_eq!(
        ids(&server, docs, "_search=cat+dog").await,
        Vec::<i64>::new()
    );
    assert_eq!(ids(&server, docs, "_search=%22quick%22+dog").await, vec![3]);
    // Escaped by default: FTS syntax is searched for literally.
    assert_eq!(ids(&server, docs, "_search=ca*").await, Vec::<i64>::new());
    assert_eq!(
        ids(&server, docs, "_search=ca*&_searchmode=raw").await,
        vec![1, 2]
    );
    assert_eq!(
        ids(&server, docs, "_search=dog+OR+cat&_searchmode=raw").await,
        vec![1, 2, 3]
    );
    assert_eq!(
        ids(&server, docs, "_search_body+text=dog").await,
        vec![1, 3]
    );
    assert_eq!(ids(&server, docs, "_search_title=dogs").await, vec![1]);
    assert_eq!(
        ids(&server, docs, "_search_title=dog").await,
        Vec::<i64>::new()
    );
    assert_eq!(ids(&server, docs, "_search=dog&id__gt=1").await, vec![3]);
    // FTS4.
    assert_eq!(ids(&server, "articles", "_search=rust").await, vec![1]);
    assert_eq!(
        ids(&server, "articles", "_search=rust*&_searchmode=raw").await,
        vec![1, 3]
    );
    assert_eq!(
        ids(&server, "articles", "_search_headline=friendly").await,
        vec![2]
    );
    // No FTS index: the search is ignored.
    assert_eq!(ids(&server, "tags", "_search=x").await, vec![1, 2]);

    let reply = server.get(&path(docs, "_search_id=1"), None).await;
    assert_error(&reply, 400, "Cannot search by that column");
    let reply = server
        .get(&path(docs, "_search=%22open&_searchmode=raw"), None)
        .await;
    assert_error(&reply, 400, "unterminated string");
    let reply = server
        .get(&path(docs, "_search=x&_fts_table=tags"), None)
        .await;
    assert_error(&reply, 400, "Invalid _fts_table or _fts_pk");

    let count = server
        .client
        .post(format!(
            "{}/acme/main/docs+~26+notes/-/count?_search=dog",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(count.status(), 200);
    assert_eq!(
        count.json::<Value>().await.unwrap(),
        json!({"ok": true, "count": 2})
    );
}

#[tokio::test]
async fn where_needs_execute_sql() {
    let server = serve().await;
    let query = "_where=%22size+%5Bcm%5D%22+%3E+5+or+id+%3D+3&note__notnull=1";
    // Anonymous may run SQL in a public space; the fragment's `or` stays
    // inside it (joined bare, as Datasette does, it would add row 3).
    assert_eq!(ids(&server, ITEMS, query).await, vec![2, 4]);

    let viewer = server.token(&[
        "acme",
        "root",
        "-a",
        "view-instance",
        "-a",
        "view-database",
        "-a",
        "view-table",
    ]);
    let reply = server.get(&path(ITEMS, query), Some(&viewer)).await;
    assert_error(&reply, 403, "_where= is not allowed");
    let reply = server
        .client
        .post(format!("{}/acme/main/tags/-/count?_where=1", server.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 403);

    // User SQL runs under the read-only authorizer, which refuses this pragma.
    let reply = server
        .get(
            &path(ITEMS, "_where=exists(select+1+from+pragma_compile_options)"),
            None,
        )
        .await;
    assert_error(&reply, 400, "not authorized");
    let reply = server
        .get(&path(ITEMS, "_where=id+%3E%3E%3E+1"), None)
        .await;
    assert_error(&reply, 400, "near \">\": syntax error");

    server.cli(&[
        "space",
        "set",
        "acme",
        "--setting",
        "default_allow_sql",
        "off",
    ]);
    let server = Server::start_in(server.stop(), &[]);
    let reply = server.get(&path(ITEMS, query), None).await;
    assert_error(&reply, 403, "_where= is not allowed");
}

#[tokio::test]
async fn through_joins_and_its_permission() {
    let server = serve().await;
    let through = |tag: &str| {
        let json = format!(r#"{{"table": "item tags", "column": "tag_id", "value": {tag}}}"#);
        format!("_through={}", libsette::read::args::quote_plus(&json))
    };
    assert_eq!(ids(&server, ITEMS, &through("1")).await, vec![1, 2]);
    assert_eq!(ids(&server, ITEMS, &through("\"2\"")).await, vec![3, 4, 5]);
    assert_eq!(
        ids(&server, ITEMS, &format!("{}&id__gt=3", through("2"))).await,
        vec![4, 5]
    );
    assert_eq!(ids(&server, ITEMS, &through("3")).await, Vec::<i64>::new());

    let reply = server.get(&path("articles", &through("1")), None).await;
    assert_error(
        &reply,
        400,
        "Invalid _through - could not find corresponding foreign key",
    );
    let reply = server.get(&path(ITEMS, "_through=notjson"), None).await;
    assert_eq!(reply.status, 400, "{}", reply.text);

    // A token that may view the items but not the link table.
    let narrow = server.token(&[
        "acme",
        "root",
        "-a",
        "view-instance",
        "-a",
        "view-database",
        "-r",
        "main",
        ITEMS,
        "view-table",
    ]);
    assert_eq!(
        server.get(&path(ITEMS, "id=1"), Some(&narrow)).await.status,
        200
    );
    let reply = server.get(&path(ITEMS, &through("1")), Some(&narrow)).await;
    assert_error(&reply, 403, "view-table");
}

#[tokio::test]
async fn filter_form_redirects_on_this_server() {
    let server = serve().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |p: String| client.get(format!("{}{p}", server.base)).send();
    let reply = get(path(
        ITEMS,
        "_size=2&_filter_column=the+%22name%22&_filter_op=contains&_filter_value=a+b",
    ))
    .await
    .unwrap();
    assert_eq!(reply.status(), 302);
    let location = "/acme/main/it~27s+~22odd~22+~5Bt~5D.json?_size=2&the+%22name%22__contains=a+b";
    assert_eq!(reply.headers()["location"], location);
    assert_eq!(
        reply.headers()["link"],
        format!("<{location}>; rel=preload")
    );

    // The HTML page redirects to the HTML page.
    let reply = get("/acme/main/tags?_filter_column_1=id&_filter_value_1=2".into())
        .await
        .unwrap();
    assert_eq!(reply.headers()["location"], "/acme/main/tags?id__exact=2");
    // An unknown table is still a 404.
    let reply = get("/acme/main/nope.json?_filter_column=id".into())
        .await
        .unwrap();
    assert_eq!(reply.status(), 404);
}
