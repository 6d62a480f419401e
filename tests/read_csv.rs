//! CSV of tables and queries against the real server: Python-csv quoting,
//! CRLF, NULLs, floats, blobs, labels, downloads, errors as plain text, and
//! `_stream=on` delivering a whole table larger than one page.

mod common;

use common::Server;
use libsette::sqlite;

fn setup(server: &Server) {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("c.db");
    {
        let db = sqlite::open_plain(&path).unwrap();
        let conn = sqlite::connect(&db).unwrap();
        sqlite::execute_batch(
            &conn,
            "pragma foreign_keys = off;
             create table people (id integer primary key, name text);
             create table notes (id integer primary key, person integer references people(id), body text, score real, raw blob);
             insert into people values (1, 'Ada'), (2, 'Grace');
             insert into notes values
               (1, 1, 'plain', 1.0, null),
               (2, 2, 'a, comma', 2.5, x'00ff'),
               (3, null, 'say \"hi\"', null, null),
               (4, 9, 'two
lines', -3.25, null),
               (5, 1, 'ünïcödé ✓', 0.0, null);
             create table many (id integer primary key, v text);",
        )
        .unwrap();
        for i in 1..=237i64 {
            sqlite::execute(
                &conn,
                "insert into many (v) values (?1)",
                [format!("row {i}")],
            )
            .unwrap();
        }
    }
    server.cli(&["space", "create", "c", "--public"]);
    server.cli(&["db", "import", "c", path.to_str().unwrap(), "--name", "d"]);
}

#[tokio::test]
async fn table_csv_is_written_as_python_writes_it() {
    let server = Server::start(&[]);
    setup(&server);
    let reply = server.get("/c/d/notes.csv", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        reply.text,
        "id,person,body,score,raw\r\n\
         1,1,plain,1.0,\r\n\
         2,2,\"a, comma\",2.5,AP8=\r\n\
         3,,\"say \"\"hi\"\"\",,\r\n\
         4,9,\"two\nlines\",-3.25,\r\n\
         5,1,ünïcödé ✓,0.0,\r\n"
    );
    let labelled = server
        .get("/c/d/notes.csv?_labels=on&_col=person&_size=4", None)
        .await;
    assert_eq!(
        labelled.text,
        "id,person,person_label\r\n1,1,Ada\r\n2,2,Grace\r\n3,,\r\n4,9,\r\n"
    );
    let filtered = server
        .get(
            "/c/d/notes.csv?score__gt=0&_sort_desc=score&_col=score",
            None,
        )
        .await;
    assert_eq!(filtered.text, "id,score\r\n2,2.5\r\n1,1.0\r\n");
}

#[tokio::test]
async fn downloads_queries_and_errors() {
    let server = Server::start(&[]);
    setup(&server);
    let dl = server.get("/c/d/people.csv?_dl=1", None).await;
    assert_eq!(dl.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        dl.header("content-disposition"),
        Some("attachment; filename=\"people.csv\"")
    );
    let query = server
        .get(
            "/c/d/-/query.csv?sql=select+name,+id+*+2+as+twice+from+people+order+by+id&_dl=1",
            None,
        )
        .await;
    assert_eq!(query.text, "name,twice\r\nAda,2\r\nGrace,4\r\n");
    assert_eq!(
        query.header("content-disposition"),
        Some("attachment; filename=\"d.csv\"")
    );
    let missing = server.get("/c/d/nope.csv", None).await;
    assert_eq!(
        (missing.status, missing.text.as_str()),
        (404, "Table not found")
    );
    assert_eq!(
        missing.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test]
async fn streams_the_whole_table_past_one_page() {
    let server = Server::start(&[]);
    setup(&server);
    server.cli(&[
        "space",
        "set",
        "c",
        "--setting",
        "max_returned_rows",
        "50",
        "--setting",
        "default_page_size",
        "20",
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let page = server.get("/c/d/many.csv", None).await;
    assert_eq!(
        page.text.lines().count(),
        1 + 20,
        "without _stream, one page"
    );
    let all = server.get("/c/d/many.csv?_stream=on", None).await;
    let lines: Vec<&str> = all.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 237);
    assert_eq!(lines[1], "1,row 1");
    assert_eq!(lines[237], "237,row 237");
    server.cli(&["space", "set", "c", "--setting", "allow_csv_stream", "off"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        server.get("/c/d/many.csv?_stream=on", None).await.status,
        400
    );
}

#[tokio::test]
async fn csv_options_limits_and_errors() {
    let server = Server::start(&[]);
    setup(&server);
    let bare = server.get("/c/d/people.csv?_header=off", None).await;
    assert_eq!(bare.text, "1,Ada\r\n2,Grace\r\n");
    let next = server.get("/c/d/many.csv?_stream=on&_next=5", None).await;
    assert_eq!(
        (next.status, next.text.as_str()),
        (400, "_next not allowed for CSV streaming")
    );
    let row = server.get("/c/d/people/2.csv", None).await;
    assert_eq!(row.text, "id,name\r\n2,Grace\r\n");
    let bad_sql = server
        .get("/c/d/-/query.csv?sql=select+nope+from+people", None)
        .await;
    assert_eq!(bad_sql.status, 400);
    assert_eq!(
        bad_sql.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(bad_sql.text, "no such column: nope");
    let no_sql = server.get("/c/d.csv", None).await;
    assert_eq!(
        (no_sql.status, no_sql.text.as_str()),
        (404, "Invalid format: csv")
    );

    // A stream past max_csv_mb says so in its last line instead of ending silently.
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("wide.db");
    {
        let db = sqlite::open_plain(&path).unwrap();
        let conn = sqlite::connect(&db).unwrap();
        sqlite::execute_batch(&conn, "create table w (id integer primary key, v text)").unwrap();
        let wide = "x".repeat(10_000);
        for _ in 0..300 {
            sqlite::execute(&conn, "insert into w (v) values (?1)", [wide.as_str()]).unwrap();
        }
    }
    server.cli(&[
        "db",
        "import",
        "c",
        path.to_str().unwrap(),
        "--name",
        "wide",
    ]);
    server.cli(&[
        "space",
        "set",
        "c",
        "--setting",
        "max_csv_mb",
        "1",
        "--setting",
        "max_returned_rows",
        "50",
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let capped = server.get("/c/wide/w.csv?_stream=on", None).await;
    assert_eq!(capped.status, 200);
    assert!(capped.text.len() < 2 * 1024 * 1024, "{}", capped.text.len());
    assert!(
        capped
            .text
            .ends_with("CSV contains more than 1048576 bytes\r\n")
    );
}

#[tokio::test]
async fn cache_control_vary_and_cors_on_every_answer() {
    let server = Server::start(&["--cors"]);
    setup(&server);
    let plain = server.get("/c/d/people.json", None).await;
    assert_eq!(plain.header("cache-control"), Some("max-age=5"));
    assert_eq!(plain.header("vary"), Some("Cookie, Authorization"));
    assert_eq!(plain.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        server
            .get("/c/d/people.json?_ttl=60", None)
            .await
            .header("cache-control"),
        Some("max-age=60")
    );
    assert_eq!(
        server
            .get("/c/d/people.json?_ttl=0", None)
            .await
            .header("cache-control"),
        Some("no-cache")
    );
    let token = server.token(&["c", "root"]);
    let authed = server.get("/c/d/people.json?_ttl=60", Some(&token)).await;
    assert_eq!(authed.header("cache-control"), Some("no-store, private"));
    let missing = server.get("/c/d/nope.json", None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("access-control-allow-origin"), Some("*"));
    let preflight = server
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/c/d/people/-/insert", server.base),
        )
        .header("Origin", "https://example.org")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "GET, POST, HEAD, OPTIONS"
    );
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "Authorization, Content-Type"
    );
}
