//! Labels, facets and `_extra=` on a real server over a database built here:
//! foreign keys (to a named table, to a unique text key, to a table with no
//! label column, and dangling), JSON array columns and dates.

mod common;

use std::path::Path;

use common::{Server, cli};
use serde_json::{Value, json};

const SCHEMA: &str = "
pragma foreign_keys = off;
create table cities (id integer primary key, name text);
create table codes (code text primary key, note text);
create table plain (id integer primary key, a integer, b integer);
create table places (
    id integer primary key,
    city_id integer references cities(id),
    code text references codes(code),
    plain_id integer references plain(id),
    created text,
    tags text,
    kind text
);
insert into cities values (1, 'Paris'), (2, 'Lyon');
insert into codes values ('X', 'ex'), ('Y', 'why');
insert into plain values (5, 1, 2);
insert into places values
    (1, 1, 'X', 5, '2024-01-01 10:00', '[\"a\", \"a\", \"b\"]', 'park'),
    (2, 1, 'Y', 5, '2024-01-01 11:00', '[\"a\"]', 'park'),
    (3, 2, 'X', 7, '2024-01-02', '[\"b\", \"c\"]', 'museum'),
    (4, 99, null, null, '2024-01-02', null, 'park'),
    (5, null, 'ZZ', 5, null, '[]', 'museum'),
    (6, 2, 'X', 5, '2024-01-03', '[\"c\"]', null);
create view slow as
    with recursive c(x) as (select 1 union all select x + 1 from c limit 3000000)
    select x, x % 3 as k from c;
";

/// A data folder with a public space `sp` holding the database `db`, served
/// with `serve_args`.
fn serve(serve_args: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source.db");
    build(&file);
    cli(
        dir.path(),
        &["space", "create", "sp", "--owner", "root", "--public"],
    );
    cli(
        dir.path(),
        &["db", "import", "sp", file.to_str().unwrap(), "--name", "db"],
    );
    Server::start_in(dir, serve_args)
}

fn build(path: &Path) {
    let db = libsette::sqlite::open_file(path).unwrap();
    let conn = libsette::sqlite::connect(&db).unwrap();
    libsette::sqlite::execute_batch(&conn, SCHEMA).unwrap();
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let reply = server.get(&format!("/sp/db/{path}"), None).await;
    (reply.status, reply.json())
}

/// `toggle_url`s are absolute; compare them without the server's origin.
fn local(server: &Server, url: &Value) -> String {
    url.as_str()
        .unwrap()
        .strip_prefix(&server.base)
        .unwrap_or_else(|| url.as_str().unwrap())
        .to_owned()
}

#[tokio::test]
async fn labels_expand_foreign_keys_and_leave_dangling_keys_alone() {
    let server = serve(&[]);
    let (status, body) = get(&server, "places.json?_labels=on&_shape=array").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body[0],
        json!({
            "id": 1,
            "city_id": {"value": 1, "label": "Paris"},
            "code": {"value": "X", "label": "X"},
            "plain_id": {"value": 5, "label": "5"},
            "created": "2024-01-01 10:00",
            "tags": "[\"a\", \"a\", \"b\"]",
            "kind": "park",
        })
    );
    // Keys with no row in the other table stay plain, unless the other table
    // has no label column (then every value is its own label).
    assert_eq!(body[2]["plain_id"], json!({"value": 7, "label": "7"}));
    assert_eq!(body[3]["city_id"], json!(99));
    assert_eq!(body[3]["code"], Value::Null);
    assert_eq!(body[4]["code"], json!("ZZ"));
    assert_eq!(body[4]["city_id"], Value::Null);

    let (_, only) = get(&server, "places.json?_label=city_id&_shape=arrays").await;
    let first = &only["rows"][0];
    assert_eq!(first[1], json!({"value": 1, "label": "Paris"}));
    assert_eq!(first[2], json!("X"), "code was not asked for");

    let (_, off) = get(&server, "places.json?_labels=off&_size=1").await;
    assert_eq!(off["rows"][0]["city_id"], json!(1));
}

#[tokio::test]
async fn column_facets_count_label_and_toggle() {
    let server = serve(&[]);
    let (status, body) = get(&server, "places.json?_facet=kind&_facet=city_id&_size=0").await;
    assert_eq!(status, 200, "{body}");
    let kind = &body["facet_results"]["results"]["kind"];
    assert_eq!(kind["type"], "column");
    assert_eq!(
        kind["toggle_url"],
        "/sp/db/places.json?_facet=city_id&_size=0"
    );
    let counts: Vec<(Value, Value)> = kind["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["value"].clone(), r["count"].clone()))
        .collect();
    assert_eq!(
        counts,
        vec![(json!("park"), json!(3)), (json!("museum"), json!(2))]
    );
    assert_eq!(
        local(&server, &kind["results"][0]["toggle_url"]),
        "/sp/db/places.json?_facet=kind&_facet=city_id&_size=0&kind=park"
    );
    let city = &body["facet_results"]["results"]["city_id"]["results"];
    assert_eq!(city[0]["label"], "Paris");
    assert_eq!(city[0]["count"], 2);
    // The dangling key is counted, with its own value as label.
    assert_eq!(
        city[2],
        json!({
            "value": 99, "label": 99, "count": 1, "selected": false,
            "toggle_url": city[2]["toggle_url"].clone(),
        })
    );
    assert_eq!(body["facet_results"]["timed_out"], json!([]));

    // Facets count the filtered rows; the selected value links back.
    let (_, park) = get(&server, "places.json?_facet=kind&kind=park&_size=0").await;
    let results = &park["facet_results"]["results"]["kind"]["results"];
    assert_eq!(results.as_array().unwrap().len(), 1);
    assert_eq!(results[0]["selected"], true);
    assert_eq!(
        local(&server, &results[0]["toggle_url"]),
        "/sp/db/places.json?_facet=kind&_size=0"
    );

    let (_, small) = get(&server, "places.json?_facet=kind&_facet_size=1&_size=0").await;
    let kind = &small["facet_results"]["results"]["kind"];
    assert_eq!(kind["results"].as_array().unwrap().len(), 1);
    assert_eq!(kind["truncated"], true);
}

#[tokio::test]
async fn array_and_date_facets() {
    let server = serve(&[]);
    let (_, body) = get(
        &server,
        "places.json?_facet_array=tags&_facet_date=created&_size=0",
    )
    .await;
    let tags = &body["facet_results"]["results"]["tags"];
    assert_eq!(tags["type"], "array");
    let counts: Vec<(Value, Value)> = tags["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["value"].clone(), r["count"].clone()))
        .collect();
    // Row 1 repeats "a": it counts once.
    assert_eq!(
        counts,
        vec![
            (json!("a"), json!(2)),
            (json!("b"), json!(2)),
            (json!("c"), json!(2))
        ]
    );
    assert_eq!(
        local(&server, &tags["results"][0]["toggle_url"]),
        "/sp/db/places.json?_facet_array=tags&_facet_date=created&_size=0&tags__arraycontains=a"
    );
    let dates = &body["facet_results"]["results"]["created"]["results"];
    assert_eq!(dates[0]["value"], "2024-01-01");
    assert_eq!(dates[0]["count"], 2);
    assert_eq!(dates.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn suggested_facets() {
    let server = serve(&[]);
    let (_, body) = get(&server, "places.json?_extra=suggested_facets&_size=0").await;
    let names: Vec<(String, Option<String>)> = body["suggested_facets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["type"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let has = |name: &str, kind: Option<&str>| {
        names.iter().any(|(n, k)| n == name && k.as_deref() == kind)
    };
    assert!(has("kind", None), "{names:?}");
    assert!(has("created", Some("date")), "{names:?}");
    assert!(has("tags", Some("array")), "{names:?}");
    assert!(!has("id", None), "{names:?}");
    // Already requested facets are not suggested again.
    let (_, body) = get(
        &server,
        "places.json?_extra=suggested_facets&_facet=kind&_size=0",
    )
    .await;
    assert!(!body["suggested_facets"].to_string().contains("\"kind\""));
}

#[tokio::test]
async fn slow_facets_time_out_without_failing_the_page() {
    let server = serve(&["--setting", "facet_time_limit_ms", "20"]);
    let (status, body) = get(
        &server,
        "slow.json?_facet=k&_size=2&_extra=facets_timed_out",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["facet_results"]["timed_out"], json!(["k"]));
    assert_eq!(body["facets_timed_out"], json!(["k"]));
    assert_eq!(body["rows"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn facets_can_be_turned_off() {
    let server = serve(&["--setting", "allow_facet", "off"]);
    let (status, body) = get(&server, "places.json?_facet=kind").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "_facet= is not allowed");
}

#[tokio::test]
async fn table_extras() {
    let server = serve(&[]);
    let (status, body) = get(
        &server,
        "places.json?_extra=count,columns&_extra=primary_keys,expandable_columns,is_view&kind=park&_size=1",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 3);
    assert_eq!(body["count_truncated"], false);
    assert_eq!(body["primary_keys"], json!(["id"]));
    assert_eq!(body["is_view"], false);
    assert_eq!(body["columns"][0], "id");
    assert_eq!(
        body["expandable_columns"],
        json!([
            [{"column": "plain_id", "other_table": "plain", "other_column": "id"}, null],
            [{"column": "code", "other_table": "codes", "other_column": "code"}, "code"],
            [{"column": "city_id", "other_table": "cities", "other_column": "id"}, "name"],
        ])
    );

    let (status, body) = get(&server, "places.json?_extra=nope,count,zap").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Unknown _extra: nope, zap");

    let (_, body) = get(&server, "places.json?_extra=extras&_size=0").await;
    let extras = body["extras"].as_array().unwrap();
    let selected: Vec<&str> = extras
        .iter()
        .filter(|e| e["selected"] == true)
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(selected, ["extras"]);
    assert!(extras.iter().all(|e| e["name"] != "foreign_key_tables"));
}

#[tokio::test]
async fn row_foreign_key_tables() {
    let server = serve(&[]);
    let (status, body) = get(&server, "cities/1.json?_extra=foreign_key_tables").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["foreign_key_tables"],
        json!([{
            "other_table": "places", "column": "id", "other_column": "city_id",
            "count": 2, "link": "/sp/db/places?city_id=1",
        }])
    );
    let (status, body) = get(&server, "cities/1.json?_extra=count").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Unknown _extra: count");
}
