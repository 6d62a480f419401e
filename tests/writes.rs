//! The write API against the real binary: every endpoint, its errors and
//! permissions, body limits, the audit log, and how writers queue.

mod common;

use std::time::{Duration, Instant};

use common::{Server, cli};
use serde_json::{Value, json};

/// A server with space `w` (owner root) holding an empty database `data`,
/// and an unrestricted token for root.
fn setup(extra: &[&str]) -> (Server, String) {
    let server = Server::start(extra);
    server.cli(&["space", "create", "w", "--owner", "root"]);
    server.cli(&["db", "create", "w", "data"]);
    let token = server.token(&["w", "root"]);
    (server, token)
}

fn errors(reply: &common::Reply) -> Vec<String> {
    reply.json()["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {}", reply.text))
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

async fn create_people(server: &Server, token: &str) {
    let reply = server
        .post(
            "/w/data/-/create",
            Some(token),
            &json!({"table": "people", "columns": [
                {"name": "id", "type": "integer"},
                {"name": "name", "type": "text"},
                {"name": "score", "type": "float"}
            ], "pk": "id"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

async fn rows(server: &Server, path: &str, token: Option<&str>) -> Value {
    let reply = server.get(path, token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

#[tokio::test]
async fn every_endpoint_end_to_end() {
    let (server, token) = setup(&[]);
    let t = Some(token.as_str());
    create_people(&server, &token).await;
    // The new table is at once in listings and the read API.
    let db = server.get("/w/data.json", t).await;
    assert_eq!(db.table_names(), vec!["people"]);
    let created = server
        .post(
            "/w/data/-/create",
            t,
            &json!({"table": "people", "columns": [{"name": "id"}]}),
        )
        .await;
    assert_eq!(errors(&created), vec!["table \"people\" already exists"]);

    let reply = server
        .post(
            "/w/data/people/-/insert",
            t,
            &json!({"rows": [{"name": "Ann", "score": 1.5}, {"name": "Ben", "score": 2}], "return": true}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(
        reply.json()["rows"],
        json!([{"id": 1, "name": "Ann", "score": 1.5}, {"id": 2, "name": "Ben", "score": 2.0}])
    );
    let reply = server
        .post(
            "/w/data/people/-/upsert",
            t,
            &json!({"rows": [{"id": 2, "score": 3}, {"id": 3, "name": "Cy"}], "return": true}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json()["rows"][1],
        json!({"id": 3, "name": "Cy", "score": null})
    );
    let reply = server
        .post(
            "/w/data/people/1/-/update",
            t,
            &json!({"update": {"name": "Anne"}, "return": true}),
        )
        .await;
    assert_eq!(
        reply.json()["rows"],
        json!([{"id": 1, "name": "Anne", "score": 1.5}])
    );
    let reply = server
        .post("/w/data/people/3/-/delete", t, &json!({}))
        .await;
    assert_eq!(reply.json(), json!({"ok": true}));
    let reply = server
        .post("/w/data/people/3/-/delete", t, &json!({}))
        .await;
    assert_eq!(
        (reply.status, errors(&reply)),
        (404, vec!["Record not found: ['3']".to_owned()])
    );

    let reply = server
        .post(
            "/w/data/people/-/alter",
            t,
            &json!({"operations": [
                {"op": "add_column", "args": {"name": "age", "type": "integer"}},
                {"op": "rename_column", "args": {"name": "score", "to": "points"}}
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["altered"], json!(true));
    assert_eq!(
        reply.json()["schema"],
        json!(
            "CREATE TABLE \"people\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"points\" REAL,\n   \"age\" INTEGER\n)"
        )
    );
    let all = rows(&server, "/w/data/people.json?_shape=array", t).await;
    assert_eq!(
        all,
        json!([{"id": 1, "name": "Anne", "points": 1.5, "age": null}, {"id": 2, "name": null, "points": 3.0, "age": null}])
    );

    let reply = server
        .post(
            "/w/data/-/execute-write",
            t,
            &json!({"sql": "update people set age = :a where id = 1", "params": {"a": 30}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["rowcount"], json!(1));

    let reply = server
        .post_raw("/w/data/people/-/drop", t, "", "application/json")
        .await;
    assert_eq!(reply.json()["row_count"], json!(2));
    let reply = server
        .post("/w/data/people/-/drop", t, &json!({"confirm": true}))
        .await;
    assert_eq!(reply.json(), json!({"ok": true}));
    assert_eq!(server.get("/w/data/people.json", t).await.status, 404);
    assert!(server.get("/w/data.json", t).await.table_names().is_empty());
}

#[tokio::test]
async fn bad_requests_list_every_problem_and_change_nothing() {
    let (server, token) = setup(&[]);
    let t = Some(token.as_str());
    create_people(&server, &token).await;
    let reply = server
        .post(
            "/w/data/people/-/insert",
            t,
            &json!({"rows": [{"name": "ok"}, {"nope": 1}, {"bad": 2, "worse": 3}]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        errors(&reply),
        vec![
            "Row 1 has invalid columns: nope",
            "Row 2 has invalid columns: bad, worse"
        ]
    );
    let reply = server
        .post(
            "/w/data/people/-/upsert",
            t,
            &json!({"rows": [{"name": "no id"}, {"id": null, "name": "null id"}]}),
        )
        .await;
    assert_eq!(
        errors(&reply),
        vec![
            "Row 0 is missing primary key column(s): \"id\"",
            "Row 1 has null primary key column(s): \"id\""
        ]
    );
    let reply = server
        .post_raw(
            "/w/data/people/-/insert",
            t,
            "{\"rows\": [",
            "application/json",
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        errors(&reply)[0].starts_with("Invalid JSON: "),
        "{}",
        reply.text
    );
    // A bad row late in a batch fails the whole request: nothing is written.
    let reply = server
        .post("/w/data/people/-/insert", t, &json!({"rows": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 1, "name": "dup"}]}))
        .await;
    assert_eq!(errors(&reply), vec!["UNIQUE constraint failed: people.id"]);
    assert_eq!(
        rows(&server, "/w/data/people.json?_shape=array", t).await,
        json!([])
    );
    // Type mismatches in a STRICT table.
    let reply = server
        .post(
            "/w/data/-/execute-write",
            t,
            &json!({"sql": "create table strict_t (id integer primary key, n integer) strict"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = server
        .post(
            "/w/data/strict_t/-/insert",
            t,
            &json!({"rows": [{"n": 1}, {"n": "many"}]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        errors(&reply)[0].contains("cannot store TEXT value in INTEGER column"),
        "{}",
        reply.text
    );
    assert_eq!(
        rows(&server, "/w/data/strict_t.json?_shape=array", t).await,
        json!([])
    );
    // GET on a write endpoint.
    for path in [
        "/w/data/people/-/insert",
        "/w/data/-/create",
        "/w/data/people/1/-/delete",
    ] {
        assert_eq!(server.get(path, t).await.status, 405, "{path}");
    }
    // Except execute-write, whose GET is the page that runs it (issue 16).
    let page = server.get("/w/data/-/execute-write", t).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn body_limit_and_insert_limit_are_settings() {
    let (server, token) = setup(&[]);
    let t = Some(token.as_str());
    create_people(&server, &token).await;
    server.cli(&[
        "space",
        "set",
        "w",
        "--setting",
        "max_post_body_bytes",
        "1000",
        "--setting",
        "max_insert_rows",
        "3",
    ]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let big: Vec<Value> = (0..100)
        .map(|i| json!({"name": format!("row {i}")}))
        .collect();
    let reply = server
        .post("/w/data/people/-/insert", t, &json!({"rows": big}))
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        errors(&reply),
        vec!["Request body exceeded maximum size of 1000 bytes"]
    );
    // Streamed in chunks without a Content-Length: still refused.
    assert_eq!(
        chunked_post(&server, "/w/data/people/-/insert", &token, 50).await,
        413
    );
    let four: Vec<Value> = (0..4).map(|i| json!({"name": i.to_string()})).collect();
    let reply = server
        .post("/w/data/people/-/insert", t, &json!({"rows": four}))
        .await;
    assert_eq!(errors(&reply), vec!["Too many rows, maximum allowed is 3"]);
}

#[tokio::test]
async fn a_token_for_insert_on_one_table_can_do_nothing_else() {
    let (server, root) = setup(&[]);
    create_people(&server, &root).await;
    let r = Some(root.as_str());
    server
        .post(
            "/w/data/-/create",
            r,
            &json!({"table": "other", "columns": [{"name": "id", "type": "integer"}], "pk": "id"}),
        )
        .await;
    server
        .post(
            "/w/data/people/-/insert",
            r,
            &json!({"row": {"id": 1, "name": "Ann"}}),
        )
        .await;
    let narrow = server.token(&["w", "root", "-r", "data", "people", "insert-row"]);
    let n = Some(narrow.as_str());
    let ok = server
        .post(
            "/w/data/people/-/insert",
            n,
            &json!({"row": {"name": "via token"}}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    // Inserted, but the rows are not shown back without view-table.
    assert_eq!(ok.json(), json!({"ok": true}));
    let refused = [
        server
            .post("/w/data/other/-/insert", n, &json!({"row": {"id": 5}}))
            .await,
        server
            .post(
                "/w/data/people/-/upsert",
                n,
                &json!({"rows": [{"id": 1, "name": "x"}]}),
            )
            .await,
        server
            .post(
                "/w/data/people/-/insert",
                n,
                &json!({"row": {"id": 1}, "replace": true}),
            )
            .await,
        server
            .post(
                "/w/data/people/-/insert",
                n,
                &json!({"row": {"x": 1}, "alter": true}),
            )
            .await,
        server
            .post(
                "/w/data/people/1/-/update",
                n,
                &json!({"update": {"name": "x"}}),
            )
            .await,
        server
            .post("/w/data/people/1/-/delete", n, &json!({}))
            .await,
        server
            .post(
                "/w/data/people/-/alter",
                n,
                &json!({"operations": [{"op": "drop_column", "args": {"name": "score"}}]}),
            )
            .await,
        server
            .post("/w/data/people/-/drop", n, &json!({"confirm": true}))
            .await,
        server
            .post(
                "/w/data/-/create",
                n,
                &json!({"table": "t2", "columns": [{"name": "a"}]}),
            )
            .await,
        server
            .post(
                "/w/data/-/execute-write",
                n,
                &json!({"sql": "insert into people (name) values ('sql')"}),
            )
            .await,
        server.get("/w/data/people.json", n).await,
    ];
    for reply in &refused {
        assert_eq!(reply.status, 403, "{}", reply.text);
    }
    assert_eq!(
        errors(&refused[2]),
        vec!["Permission denied: need update-row to use \"replace\""]
    );
    assert_eq!(
        errors(&refused[3]),
        vec!["Permission denied for alter-table"]
    );
    // Anonymous writes are refused too; editors may not drop.
    let anon = server
        .post(
            "/w/data/people/-/insert",
            None,
            &json!({"row": {"name": "anon"}}),
        )
        .await;
    assert_eq!(
        anon.status, 404,
        "a private space is invisible: {}",
        anon.text
    );
    let editor = server.token(&["w", "ed"]);
    set_role(&server, "ed", "editor");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let e = Some(editor.as_str());
    let ins = server
        .post(
            "/w/data/people/-/insert",
            e,
            &json!({"row": {"name": "by editor"}}),
        )
        .await;
    assert_eq!(ins.status, 201, "{}", ins.text);
    let drop = server
        .post("/w/data/people/-/drop", e, &json!({"confirm": true}))
        .await;
    assert_eq!(drop.status, 403);
    let all = rows(&server, "/w/data/people.json?_shape=array", r).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
}

/// Gives `user` the `role` in space `w`, straight in the catalog.
fn set_role(server: &Server, user: &str, role: &str) {
    let db = libsette::sqlite::open_file(&server.data().join("catalog.db")).unwrap();
    let conn = libsette::sqlite::connect(&db).unwrap();
    libsette::sqlite::execute(
        &conn,
        "insert or replace into memberships (space_id, user_id, role)
         select s.id, u.id, ?2 from spaces s, users u where s.name = 'w' and u.name = ?1",
        (user, role),
    )
    .unwrap();
}

#[tokio::test]
async fn execute_write_checks_each_table_and_refuses_dangerous_sql() {
    let (server, root) = setup(&[]);
    let r = Some(root.as_str());
    create_people(&server, &root).await;
    server
        .post(
            "/w/data/-/create",
            r,
            &json!({"table": "other", "columns": [{"name": "id", "type": "integer"}], "pk": "id"}),
        )
        .await;
    for (sql, status) in [
        ("attach database '/tmp/x.db' as x", 403),
        ("vacuum into '/tmp/libsette-vacuum.db'", 403),
        ("pragma writable_schema = 1", 403),
        ("select load_extension('x')", 400),
        ("begin", 403),
        ("select 1", 400),
        ("delete from people; delete from other", 400),
    ] {
        let reply = server
            .post("/w/data/-/execute-write", r, &json!({"sql": sql}))
            .await;
        assert_eq!(reply.status, status, "{sql}: {}", reply.text);
    }
    let writer = server.token(&[
        "w",
        "root",
        "-d",
        "data",
        "execute-write-sql",
        "-r",
        "data",
        "people",
        "insert-row",
        "-r",
        "data",
        "people",
        "update-row",
        "-r",
        "data",
        "people",
        "delete-row",
        "-r",
        "data",
        "people",
        "view-table",
    ]);
    let w = Some(writer.as_str());
    let ok = server
        .post(
            "/w/data/-/execute-write",
            w,
            &json!({"sql": "insert into people (name) values ('ok')"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let reply = server
        .post(
            "/w/data/-/execute-write",
            w,
            &json!({"sql": "insert into other (id) select id from people"}),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(
        errors(&reply),
        vec!["Permission denied: need insert-row on data/other"]
    );
    let reply = server
        .post(
            "/w/data/-/execute-write",
            w,
            &json!({"sql": "drop table people"}),
        )
        .await;
    assert_eq!(
        errors(&reply),
        vec!["Permission denied: need drop-table on data/people"]
    );
    let reply = server
        .post(
            "/w/data/-/execute-write",
            w,
            &json!({"sql": "create table t3 (id integer)"}),
        )
        .await;
    assert_eq!(
        errors(&reply),
        vec!["Permission denied: need create-table on data"]
    );
    // A table created through SQL is visible at once.
    let reply = server
        .post(
            "/w/data/-/execute-write",
            r,
            &json!({"sql": "create table t3 (id integer)"}),
        )
        .await;
    assert_eq!(reply.json()["message"], json!("Query executed"));
    assert_eq!(server.get("/w/data/t3.json", r).await.status, 200);
}

#[tokio::test]
async fn audit_log_for_owners_over_http_and_cli() {
    let (server, root) = setup(&[]);
    let r = Some(root.as_str());
    create_people(&server, &root).await;
    for name in ["a", "b", "c"] {
        server
            .post(
                "/w/data/people/-/insert",
                r,
                &json!({"rows": [{"name": name}, {"name": name}]}),
            )
            .await;
    }
    // A write that fails in the writer (its row's key is taken) leaves no
    // row: its audit row is recorded only once the write has run.
    let taken = server
        .post(
            "/w/data/people/-/insert",
            r,
            &json!({"rows": [{"id": 2, "name": "again"}]}),
        )
        .await;
    assert_eq!(taken.status, 400, "{}", taken.text);
    server
        .post("/w/data/people/1/-/delete", r, &json!({}))
        .await;
    let log = rows(&server, "/w/-/audit.json?table=people", r).await;
    let events: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        vec![
            "delete-row",
            "insert-rows",
            "insert-rows",
            "insert-rows",
            "create-table"
        ]
    );
    let first = &log["events"][1];
    assert_eq!(
        (&first["actor"], &first["database"], &first["rows_affected"]),
        (&json!("root"), &json!("data"), &json!(2))
    );
    assert!(first["token_id"].is_i64() && first["at"].is_i64());
    // Paged.
    let page = rows(&server, "/w/-/audit.json?table=people&_size=2", r).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_owned();
    let page2 = rows(
        &server,
        &format!("/w/-/audit.json?table=people&_size=2&_next={next}"),
        r,
    )
    .await;
    assert_eq!(page2["events"][0]["event"], json!("insert-rows"));
    // Token events are there too; other actors may not read the log.
    let all = rows(&server, "/w/-/audit.json?event=token-created", r).await;
    assert!(!all["events"].as_array().unwrap().is_empty());
    let other = server.token(&["w", "root", "-a", "view-table"]);
    assert_eq!(
        server.get("/w/-/audit.json", Some(&other)).await.status,
        403
    );
    let out = cli(
        &server.data(),
        &["audit", "w", "--table", "people", "--actor", "root"],
    );
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(out.lines().nth(1).unwrap().contains("delete-row"), "{out}");
}

#[tokio::test]
async fn writers_queue_and_reads_do_not_wait() {
    let (server, root) = setup(&[]);
    server.cli(&["db", "create", "w", "second"]);
    let r = Some(root.as_str());
    create_people(&server, &root).await;
    server
        .post(
            "/w/second/-/create",
            r,
            &json!({"table": "n", "columns": [{"name": "x", "type": "integer"}]}),
        )
        .await;
    // Many concurrent writers to one database: all succeed, none lost.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (client, base, token) = (server.client.clone(), server.base.clone(), root.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/w/data/people/-/insert"))
                .bearer_auth(token)
                .json(&json!({"rows": [{"name": format!("w{i}")}, {"name": format!("w{i}")}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    let count = rows(
        &server,
        "/w/data/-/query.json?sql=select+count(*)+as+n+from+people&_shape=array",
        r,
    )
    .await;
    assert_eq!(count[0]["n"], json!(80));
    // A long write holds the writer; reads of that database and writes to
    // another database go on meanwhile.
    let (client, base, token) = (server.client.clone(), server.base.clone(), root.clone());
    // 80³ rows, each with some hashing: long enough to overlap with the reads.
    let slow_sql = "insert into people (name) select hex(randomblob(64)) || a.name || b.name || c.name from people a, people b, people c";
    let started = Instant::now();
    let long = tokio::spawn(async move {
        let reply = client
            .post(format!("{base}/w/data/-/execute-write"))
            .bearer_auth(token)
            .json(&json!({"sql": slow_sql}))
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let read_started = Instant::now();
    let during = rows(
        &server,
        "/w/data/-/query.json?sql=select+count(*)+as+n+from+people&_shape=array",
        r,
    )
    .await;
    let read_took = read_started.elapsed();
    let other = server
        .post("/w/second/n/-/insert", r, &json!({"row": {"x": 1}}))
        .await;
    let other_done = Instant::now();
    let (status, long_done) = long.await.unwrap();
    assert_eq!(status, 200);
    let long_took = long_done - started;
    assert_eq!(
        during[0]["n"],
        json!(80),
        "the read saw the last committed state"
    );
    assert_eq!(other.status, 201);
    assert!(
        long_took > Duration::from_millis(400),
        "the slow write was not slow enough to tell ({long_took:?})"
    );
    assert!(
        read_took < long_took / 2,
        "read waited: {read_took:?} vs {long_took:?}"
    );
    assert!(
        other_done < long_done,
        "a write to another database waited for this one"
    );
}

/// Sends `chunks` chunks of 100 bytes with chunked transfer encoding; the status.
async fn chunked_post(server: &Server, path: &str, token: &str, chunks: usize) -> u16 {
    let addr = server.base.trim_start_matches("http://").to_owned();
    let (path, token) = (path.to_owned(), token.to_owned());
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        for _ in 0..chunks {
            let chunk = format!("64\r\n{}\r\n", " ".repeat(100));
            if stream.write_all(chunk.as_bytes()).is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn alter_rebuilds_keep_data_indexes_and_refuse_lossy_tables() {
    let (server, root) = setup(&[]);
    let r = Some(root.as_str());
    create_people(&server, &root).await;
    server
        .post(
            "/w/data/people/-/insert",
            r,
            &json!({"rows": [{"name": "Ann", "score": 1}, {"name": "Ben", "score": 2}]}),
        )
        .await;
    server
        .post(
            "/w/data/-/execute-write",
            r,
            &json!({"sql": "create index people_name on people (name)"}),
        )
        .await;
    let reply = server
        .post(
            "/w/data/people/-/alter",
            r,
            &json!({"operations": [
                {"op": "alter_column", "args": {"name": "score", "type": "integer", "not_null": true, "default": 0}},
                {"op": "reorder_columns", "args": {"columns": ["name", "id"]}}
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json()["schema"],
        json!(
            "CREATE TABLE \"people\" (\n   \"name\" TEXT,\n   \"id\" INTEGER PRIMARY KEY,\n   \"score\" INTEGER NOT NULL DEFAULT 0\n)"
        )
    );
    assert_eq!(
        rows(&server, "/w/data/people.json?_shape=array", r).await,
        json!([{"name": "Ann", "id": 1, "score": 1}, {"name": "Ben", "id": 2, "score": 2}])
    );
    let indexes = rows(
        &server,
        "/w/data/-/query.json?sql=select+name+from+sqlite_master+where+type='index'&_shape=array",
        r,
    )
    .await;
    assert_eq!(indexes, json!([{"name": "people_name"}]));
    // Renaming the table follows.
    let reply = server
        .post(
            "/w/data/people/-/alter",
            r,
            &json!({"operations": [{"op": "rename_table", "args": {"to": "folk"}}]}),
        )
        .await;
    assert_eq!(reply.json()["table"], json!("folk"));
    assert_eq!(server.get("/w/data/folk.json", r).await.status, 200);
    // A table with a CHECK constraint is not rebuilt (the constraint would be lost).
    server
        .post("/w/data/-/execute-write", r, &json!({"sql": "create table checked (id integer primary key, n integer check (n > 0))"}))
        .await;
    let reply = server
        .post(
            "/w/data/checked/-/alter",
            r,
            &json!({"operations": [{"op": "drop_column", "args": {"name": "n"}}]}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let reply = server
        .post(
            "/w/data/checked/-/alter",
            r,
            &json!({"operations": [{"op": "add_column", "args": {"name": "m", "type": "text"}}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = server
        .post(
            "/w/data/checked/-/alter",
            r,
            &json!({"operations": [{"op": "explode"}]}),
        )
        .await;
    assert_eq!(reply.status, 400);
}
