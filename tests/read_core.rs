//! The read API's core against the real server: pagination that never skips
//! or repeats rows, every `_shape`, rows by key, `?sql=` queries with
//! parameters and refusals, time limits that stop work without stalling
//! other requests, and identifiers that need quoting.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Server;
use libsette::sqlite;
use serde_json::{Value, json};

/// Builds a database file with awkward data and imports it into a public space `s`.
fn setup(server: &Server) {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("data.db");
    build(&path);
    server.cli(&["space", "create", "s", "--public"]);
    server.cli(&["db", "import", "s", path.to_str().unwrap(), "--name", "d"]);
}

fn build(path: &Path) {
    let db = sqlite::open_plain(path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(
        &conn,
        "create table pairs (a text, b text, v integer, w real, primary key (a, b));
         create table loose (content text, n integer);
         create table \"we\"\"ird]`t\" (id integer primary key, \"it's col\" text, \"[x]\" integer);
         create view pair_view as select a, b, v from pairs;",
    )
    .unwrap();
    // Inserted out of key order, with ties and NULLs in v and w.
    for i in 0..57i64 {
        let k = (i * 37) % 57;
        let v: Option<i64> = if k % 5 == 0 { None } else { Some(k % 7) };
        let w: Option<f64> = if k % 4 == 0 {
            None
        } else {
            Some((k % 9) as f64 + 0.5)
        };
        sqlite::execute(
            &conn,
            "insert into pairs (a, b, v, w) values (?1, ?2, ?3, ?4)",
            (format!("a{:02}", k / 10), format!("b,{k:02}/x"), v, w),
        )
        .unwrap();
    }
    for i in 0..23i64 {
        let n: Option<i64> = if i % 3 == 0 { None } else { Some(i % 4) };
        sqlite::execute(
            &conn,
            "insert into loose (content, n) values (?1, ?2)",
            (format!("c{i}"), n),
        )
        .unwrap();
    }
    sqlite::execute_batch(
        &conn,
        "insert into \"we\"\"ird]`t\" values (1, 'o''k', 2), (2, '<b>', 1), (3, null, 3);",
    )
    .unwrap();
}

/// Follows `next_url` from `path` and returns every row, asserting the chain ends.
async fn all_pages(server: &Server, path: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = format!("{}{path}", server.base);
    for _ in 0..200 {
        let reply = server.client.get(&url).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{url}");
        let link = reply
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let body: Value = reply.json().await.unwrap();
        rows.extend(body["rows"].as_array().unwrap().iter().cloned());
        match body["next_url"].as_str() {
            Some(next) => {
                assert!(next.starts_with("http://"), "next_url is absolute: {next}");
                if let Some(link) = link {
                    assert_eq!(link, format!("<{next}>; rel=\"next\""));
                }
                url = next.to_owned();
            }
            None => return rows,
        }
    }
    panic!("pagination never ended");
}

/// The same rows straight from SQL, for comparison.
async fn by_sql(server: &Server, sql: &str) -> Vec<Value> {
    let path = format!("/s/d/-/query.json?_size=max&sql={}", urlencode(sql));
    let body = server.get(&path, None).await.json();
    body["rows"].as_array().unwrap().clone()
}

fn urlencode(text: &str) -> String {
    libsette::read::args::quote_plus(text)
}

#[tokio::test]
async fn keyset_pagination_never_skips_or_repeats() {
    let server = Server::start(&[]);
    setup(&server);
    let cases = [
        (
            "/s/d/pairs.json?_size=5",
            "select * from pairs order by a, b",
        ),
        (
            "/s/d/pairs.json?_size=4&_sort=v",
            "select * from pairs order by v, a, b",
        ),
        (
            "/s/d/pairs.json?_size=6&_sort_desc=v",
            "select * from pairs order by v desc, a, b",
        ),
        (
            "/s/d/pairs.json?_size=7&_sort=w",
            "select * from pairs order by w, a, b",
        ),
        (
            "/s/d/pairs.json?_size=3&_sort_desc=w",
            "select * from pairs order by w desc, a, b",
        ),
        (
            "/s/d/pairs.json?_size=5&_sort=v&v__gte=1",
            "select * from pairs where v >= 1 order by v, a, b",
        ),
        (
            "/s/d/loose.json?_size=4",
            "select rowid, * from loose order by rowid",
        ),
        (
            "/s/d/loose.json?_size=4&_sort=n",
            "select rowid, * from loose order by n, rowid",
        ),
        (
            "/s/d/loose.json?_size=2&_sort_desc=n",
            "select rowid, * from loose order by n desc, rowid",
        ),
        ("/s/d/pair_view.json?_size=10", "select * from pair_view"),
    ];
    for (path, sql) in cases {
        let paged = all_pages(&server, path).await;
        let expected = by_sql(&server, sql).await;
        assert_eq!(paged.len(), expected.len(), "{path}");
        if !path.contains("view") {
            assert_eq!(paged, expected, "{path}");
        }
    }
    // The sort column left out by _col still drives the next token.
    let narrow = all_pages(&server, "/s/d/pairs.json?_size=4&_sort=w&_col=v").await;
    let keys: Vec<_> = narrow
        .iter()
        .map(|r| (r["a"].clone(), r["b"].clone()))
        .collect();
    let expected: Vec<_> = by_sql(&server, "select a, b from pairs order by w, a, b")
        .await
        .iter()
        .map(|r| (r["a"].clone(), r["b"].clone()))
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(
        narrow[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["a", "b", "v"]
    );
}

#[tokio::test]
async fn shapes() {
    let server = Server::start(&[]);
    setup(&server);
    let array = server
        .get("/s/d/pairs.json?_shape=array&_size=2", None)
        .await
        .json();
    assert_eq!(array.as_array().unwrap().len(), 2);
    let arrays = server
        .get("/s/d/pairs.json?_shape=arrays&_size=1&_col=v", None)
        .await
        .json();
    assert!(arrays["rows"][0].is_array());
    let first = server
        .get("/s/d/loose.json?_shape=arrayfirst&_size=3", None)
        .await
        .json();
    assert_eq!(first, json!([1, 2, 3]));
    let object = server
        .get("/s/d/pairs.json?_shape=object&_size=1", None)
        .await
        .json();
    let key = object.as_object().unwrap().keys().next().unwrap().clone();
    assert_eq!(key, "a00,b~2C00~2Fx");
    let rowid = server.get("/s/d/loose.json?_shape=object", None).await;
    assert_eq!(rowid.status, 400);
    assert_eq!(
        rowid.json()["error"],
        json!("_shape=object not available for tables with no primary keys")
    );
    let bad = server.get("/s/d/loose.json?_shape=nope", None).await;
    assert_eq!(
        (bad.status, bad.json()["error"].clone()),
        (400, json!("Invalid _shape: nope"))
    );
    let nl = server
        .get(
            "/s/d/%22we%22%22ird%5D%60t%22.json?_shape=array&_nl=on",
            None,
        )
        .await;
    // Not found: the name must be tilde-encoded; with it, newline-delimited rows.
    assert_eq!(nl.status, 404);
    let encoded = libsette::names::tilde_encode("we\"ird]`t");
    let nl = server
        .get(&format!("/s/d/{encoded}.json?_shape=array&_nl=on"), None)
        .await;
    assert_eq!(nl.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        nl.text.lines().next().unwrap(),
        r#"{"id": 1, "it's col": "o'k", "[x]": 2}"#
    );
}

#[tokio::test]
async fn rows_by_key_and_quoted_identifiers() {
    let server = Server::start(&[]);
    setup(&server);
    let row = server.get("/s/d/pairs/a00,b~2C00~2Fx.json", None).await;
    assert_eq!(row.status, 200, "{}", row.text);
    let body = row.json();
    assert_eq!(body["primary_keys"], json!(["a", "b"]));
    assert_eq!(body["primary_key_values"], json!(["a00", "b,00/x"]));
    assert_eq!(body["rows"][0]["b"], json!("b,00/x"));
    let rowid = server.get("/s/d/loose/2.json", None).await.json();
    assert_eq!(rowid["rows"][0]["rowid"], json!(2));
    assert_eq!(rowid["primary_keys"], json!(["rowid"]));
    let arity = server.get("/s/d/pairs/a00.json", None).await;
    assert_eq!(arity.status, 400);
    assert_eq!(
        server.get("/s/d/pairs/zz,zz.json", None).await.json()["error"],
        json!("Row not found")
    );
    let weird = libsette::names::tilde_encode("we\"ird]`t");
    let sorted = server
        .get(
            &format!("/s/d/{weird}.json?_sort_desc=%5Bx%5D&_shape=arrayfirst"),
            None,
        )
        .await
        .json();
    assert_eq!(sorted, json!([3, 1, 2]));
    let one = server
        .get(&format!("/s/d/{weird}/2.json"), None)
        .await
        .json();
    assert_eq!(one["rows"][0]["it's col"], json!("<b>"));
    let missing = server.get("/s/d/%3Cscript%3E.json", None).await;
    assert_eq!(missing.status, 404);
    assert!(
        !missing.text.contains("script"),
        "404 bodies never reflect the URL"
    );
}

#[tokio::test]
async fn queries_with_parameters_and_refusals() {
    let server = Server::start(&[]);
    setup(&server);
    server.cli(&["space", "set", "s", "--setting", "max_returned_rows", "10"]);
    let q = |sql: &str, extra: &str| format!("/s/d/-/query.json?sql={}{extra}", urlencode(sql));
    let params = server
        .get(
            &q(
                "select :name as name, :n as n, :missing as m",
                "&name=Cleo&n=5",
            ),
            None,
        )
        .await
        .json();
    assert_eq!(params["rows"], json!([{"name": "Cleo", "n": "5", "m": ""}]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let truncated = server.get(&q("select * from loose", ""), None).await.json();
    assert_eq!(truncated["truncated"], json!(true));
    assert_eq!(truncated["rows"].as_array().unwrap().len(), 10);
    for (sql, message) in [
        ("update loose set n = 1", "Statement must be a SELECT"),
        (
            "attach database ':memory:' as x",
            "Statement must be a SELECT",
        ),
        ("pragma table_info(loose)", "Statement must be a SELECT"),
        (
            "select 1; select 2",
            "You can only execute one statement at a time.",
        ),
        ("select * from nope", "no such table: nope"),
        ("select load_extension('x')", "not authorized"),
        ("select * from pragma_compile_options()", "not authorized"),
        ("", "?sql= is required"),
    ] {
        let reply = server.get(&q(sql, ""), None).await;
        assert_eq!(reply.status, 400, "{sql}: {}", reply.text);
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(message), "{sql}: {error}");
    }
    // The allowed pragma functions still work, and so does the legacy /db.json?sql= form.
    let info = server
        .get(
            &q(
                "select name from pragma_table_info('loose')",
                "&_shape=arrayfirst",
            ),
            None,
        )
        .await
        .json();
    assert_eq!(info, json!(["content", "n"]));
    let legacy = server
        .get(
            &format!("/s/d.json?sql={}&_shape=array", urlencode("select 1 as x")),
            None,
        )
        .await;
    assert_eq!((legacy.status, legacy.json()), (200, json!([{"x": 1}])));
    // Nothing was written.
    let count = server
        .get(
            &q("select count(*) as c from loose", "&_shape=arrayfirst"),
            None,
        )
        .await
        .json();
    assert_eq!(count, json!([23]));
}

#[tokio::test]
async fn time_limits_stop_work_without_stalling_others() {
    let server = Server::start(&[]);
    setup(&server);
    let forever =
        "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";
    let path = format!("/s/d/-/query.json?sql={}&_timelimit=50", urlencode(forever));
    let reply = server.get(&path, None).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["error"],
        json!(
            "SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting."
        )
    );
    // A long query (3 s limit) runs while other requests, to this space and
    // another, keep being answered.
    server.cli(&[
        "space",
        "set",
        "s",
        "--setting",
        "sql_time_limit_ms",
        "3000",
    ]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let slow_url = format!(
        "{}/s/d/-/query.json?sql={}",
        server.base,
        urlencode(forever)
    );
    let slow = tokio::spawn({
        let client = server.client.clone();
        async move {
            client
                .get(&slow_url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..20 {
        let path = if i % 2 == 0 {
            "/s/d/pairs.json?_size=1"
        } else {
            "/demo/library.json"
        };
        assert_eq!(server.get(path, None).await.status, 200);
        assert!(
            !slow.is_finished(),
            "the slow query ended before the fast ones were served"
        );
    }
    assert_eq!(slow.await.unwrap(), 400);
    // The interrupted connection is usable again.
    assert_eq!(
        server.get("/s/d/pairs.json?_size=1", None).await.status,
        200
    );
}

/// The server's count of reads that ran in `place`.
async fn reads_in(server: &Server, place: &str) -> u64 {
    let text = server.get("/metrics", None).await.text;
    common::metric(
        &text,
        &format!(r#"libsette_reads_total{{place="{place}"}}"#),
    )
}

/// Short reads run in place; a long one is interrupted there, moved to the
/// blocking pool and answered in full; its SQL then goes straight there,
/// and the interrupted connection serves the next reads correctly.
#[tokio::test]
async fn short_reads_run_in_place_and_long_ones_move() {
    let server = Server::start(&[]);
    setup(&server);
    let before = reads_in(&server, "in_place").await;
    for i in 0..20 {
        let reply = server
            .get(
                &format!("/s/d/pairs.json?_size=1&_shape=array&_nonce={i}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    let in_place = reads_in(&server, "in_place").await - before;
    assert!(in_place >= 10, "only {in_place} of 20 reads ran in place");

    let long = "with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000) \
                select count(*) as n from c";
    let path = format!("/s/d/-/query.json?sql={}&_shape=array", urlencode(long));
    let (moved, pool) = (
        reads_in(&server, "moved").await,
        reads_in(&server, "pool").await,
    );
    let reply = server.get(&path, None).await;
    assert_eq!(reply.json(), json!([{"n": 300000}]));
    assert_eq!(reads_in(&server, "moved").await, moved + 1);
    let again = server.get(&format!("{path}&again=1"), None).await;
    assert_eq!(again.json(), json!([{"n": 300000}]));
    assert_eq!(reads_in(&server, "moved").await, moved + 1);
    assert_eq!(reads_in(&server, "pool").await, pool + 1);

    for _ in 0..5 {
        let reply = server
            .get("/s/d/pairs.json?_size=1&_shape=array&_nonce=last", None)
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json().as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn trace_lists_the_sql_run_only_when_enabled() {
    let server = Server::start(&["--setting", "trace_debug", "on"]);
    let body = server
        .get("/demo/library/books.json?_size=2&_trace=1", None)
        .await
        .json();
    let traces = body["_trace"]["traces"].as_array().expect("a _trace");
    assert!(
        traces
            .iter()
            .any(|t| t["sql"].as_str().unwrap().contains("from \"books\"")),
        "{traces:?}"
    );
    assert_eq!(body["rows"].as_array().unwrap().len(), 2);

    let off = Server::start(&[]);
    let body = off
        .get("/demo/library/books.json?_size=2&_trace=1", None)
        .await
        .json();
    assert!(body.get("_trace").is_none());
}

/// Prepared statements kept between reads hold no read transaction (a full
/// checkpoint from another process succeeds) and follow schema changes.
#[tokio::test]
async fn kept_statements_release_their_reads_and_follow_the_schema() {
    let server = Server::start(&[]);
    let path = "/demo/library/authors.json?_shape=array&_size=2";
    for _ in 0..10 {
        assert_eq!(server.get(path, None).await.status, 200);
    }
    let file = server.data().join("spaces/demo/library.db");
    let db = libsette::sqlite::open_file(&file).unwrap();
    let conn = libsette::sqlite::connect(&db).unwrap();
    let row = libsette::sqlite::query_one(&conn, "pragma wal_checkpoint(truncate)", ())
        .unwrap()
        .unwrap();
    assert_eq!(
        row.get::<i64>(0).unwrap(),
        0,
        "a reader still held the database"
    );

    // After a schema change, the same SQL text reads the new rows.
    libsette::sqlite::execute_batch(
        &conn,
        "pragma foreign_keys = off;
         create index authors_by_name on authors(name);
         delete from authors;
         insert into authors (id, name) values (100, 'Only');",
    )
    .unwrap();
    let rows = server.get(path, None).await.json();
    assert_eq!(
        rows,
        serde_json::json!([{"id": 100, "name": "Only", "country": null}])
    );
}
