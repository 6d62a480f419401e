//! Upload and paste over real HTTP (`/{db}/-/upload`, `/{db}/{table}/-/upload`):
//! a CSV into a new table with inferred types and a broken line reported by
//! its number, JSON pasted into an existing table (appended, then upserted),
//! the `max_upload_mb` cap (413, nothing written), an upload cut off
//! mid-body (nothing written, no file left), refusals for actors
//! without the rights, CSRF refusals, and the audit rows. Multipart bodies
//! are written here by hand, as a browser sends them.

mod common;

use common::Server;
use common::browser::{Browser, Page};
use common::shop::logged_in;
use serde_json::{Value, json};

const BOUNDARY: &str = "----libsette-test-7MA4YWxkTrZu0gW";

/// alice owns `acme` (database `shop` with `products`), bob views it.
fn world() -> tempfile::TempDir {
    common::shop::world(
        "create table products (id integer primary key, title text, price real);
         insert into products values (1, 'Anvil', 99.5), (2, 'Glue', 3.25);",
    )
}

/// A multipart body: the fields, then (if any) a file part.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((filename, content)) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A same-origin multipart POST with the session cookie.
async fn upload(b: &mut Browser, path: &str, body: Vec<u8>) -> Page {
    let request = b
        .http
        .post(format!("{}{path}", b.base))
        .header("Origin", format!("http://{}", b.host()))
        .header("Sec-Fetch-Site", "same-origin")
        .header("Accept", "text/html")
        .header("Content-Type", content_type())
        .body(body);
    b.send(request).await
}

async fn rows(b: &mut Browser, table: &str) -> Vec<Value> {
    let page = b
        .get(&format!("/acme/shop/{table}.json?_shape=array&_size=max"))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    serde_json::from_str(&page.text).unwrap()
}

async fn tables(b: &mut Browser) -> Vec<String> {
    let page = b.get("/acme/shop.json").await;
    let json: Value = serde_json::from_str(&page.text).unwrap();
    json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The text of the element with `id`.
fn by_id(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = page
        .text
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id}: {}", page.text));
    page.text[start + marker.len()..]
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_csv_becomes_a_new_table_and_a_broken_line_is_reported() {
    let server = Server::start_in(world(), &[]);
    let mut alice = logged_in(&server, "alice").await;
    let db_page = alice.get("/acme/shop").await;
    assert!(db_page.text.contains("id=\"upload-link\""));
    let form = alice.get("/acme/shop/-/upload").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let csv = "code,name,weight\n1,Ada,1.5\n2,\"Bob, \"\"the\"\" builder\",2\n3,Cy\n4,Di,\n";
    let body = multipart(
        &[
            ("csrftoken", &csrf),
            ("target", "new"),
            ("table", "people"),
            ("pk", "code"),
            ("format", "auto"),
            ("text", ""),
        ],
        Some(("people.csv", csv.as_bytes())),
    );
    let page = upload(&mut alice, "/acme/shop/-/upload", body).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(by_id(&page, "rows-written"), "3");
    assert_eq!(by_id(&page, "rows-bad"), "1");
    assert!(
        page.text
            .contains("<td>4</td><td>Expected 3 values, found 2</td>"),
        "{}",
        page.text
    );
    let people = rows(&mut alice, "people").await;
    assert_eq!(
        people,
        vec![
            json!({"code": 1, "name": "Ada", "weight": 1.5}),
            json!({"code": 2, "name": "Bob, \"the\" builder", "weight": 2.0}),
            // An empty value is null in a numeric column.
            json!({"code": 4, "name": "Di", "weight": null}),
        ]
    );
    let schema = alice.get("/acme/shop/people/-/schema.json").await;
    assert!(
        schema.text.contains(r#"\"code\" INTEGER PRIMARY KEY"#),
        "{}",
        schema.text
    );
    assert!(
        schema.text.contains(r#"\"weight\" REAL"#),
        "{}",
        schema.text
    );

    // The same again: the table exists, the error is in the form, nothing changes.
    let again = multipart(
        &[("csrftoken", &csrf), ("target", "new"), ("table", "people")],
        Some(("people.csv", csv.as_bytes())),
    );
    let page = upload(&mut alice, "/acme/shop/-/upload", again).await;
    assert_eq!(page.status, 400, "{}", page.text);
    assert!(page.text.contains("already exists"), "{}", page.text);
    assert_eq!(rows(&mut alice, "people").await.len(), 3);

    let audit = alice.get("/acme/-/audit.json").await;
    assert!(audit.text.contains("\"upload\":true"), "{}", audit.text);
}

#[tokio::test]
async fn pasted_json_appends_then_upserts_into_an_existing_table() {
    let server = Server::start_in(world(), &[]);
    let mut alice = logged_in(&server, "alice").await;
    let table_page = alice.get("/acme/shop/products").await;
    assert!(table_page.text.contains("/acme/shop/products/-/upload"));
    let csrf = alice.get("/acme/shop/products/-/upload").await.csrf();
    let pasted = r#"[{"id": 3, "title": "Rope", "price": 7},
 {"id": 1, "title": "Clash"},
 {"id": 4, "title": "Nail", "colour": "red"}]"#;
    let body = multipart(
        &[("csrftoken", &csrf), ("mode", "append"), ("text", pasted)],
        None,
    );
    let page = upload(&mut alice, "/acme/shop/products/-/upload", body).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(by_id(&page, "rows-written"), "1");
    assert_eq!(by_id(&page, "rows-bad"), "2");
    assert!(
        page.text.contains("<td>2</td><td>UNIQUE constraint failed"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("<td>3</td><td>The table has no column colour</td>"),
        "{}",
        page.text
    );

    let lines = "{\"id\": 1, \"title\": \"Anvil II\"}\n{\"title\": \"no key\"}\n";
    let body = multipart(
        &[
            ("csrftoken", &csrf),
            ("mode", "upsert"),
            ("format", "json"),
            ("text", lines),
        ],
        None,
    );
    let page = upload(&mut alice, "/acme/shop/products/-/upload", body).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(by_id(&page, "rows-written"), "1");
    assert!(
        page.text
            .contains("<td>2</td><td>No value for the primary key id</td>"),
        "{}",
        page.text
    );
    let products = rows(&mut alice, "products").await;
    assert_eq!(
        products,
        vec![
            json!({"id": 1, "title": "Anvil II", "price": 99.5}),
            json!({"id": 2, "title": "Glue", "price": 3.25}),
            json!({"id": 3, "title": "Rope", "price": 7.0}),
        ]
    );
}

#[tokio::test]
async fn past_max_upload_mb_is_413_and_writes_nothing() {
    let server = Server::start_in(world(), &["--setting", "max_upload_mb", "1"]);
    let mut alice = logged_in(&server, "alice").await;
    let csrf = alice.get("/acme/shop/-/upload").await.csrf();
    let mut csv = String::from("n,text\n");
    let mut i = 0;
    while csv.len() < 1_200_000 {
        csv.push_str(&format!("{i},some text to fill the file up\n"));
        i += 1;
    }
    let body = multipart(
        &[("csrftoken", &csrf), ("target", "new"), ("table", "big")],
        Some(("big.csv", csv.as_bytes())),
    );
    let page = upload(&mut alice, "/acme/shop/-/upload", body).await;
    assert_eq!(page.status, 413, "{}", page.text);
    assert!(page.text.contains("max_upload_mb"), "{}", page.text);
    assert!(!tables(&mut alice).await.contains(&"big".to_owned()));
    // No temporary file is left behind.
    let tmp = server.data().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn actors_without_the_rights_are_refused() {
    let server = Server::start_in(world(), &[]);
    let mut bob = logged_in(&server, "bob").await;
    assert!(!bob.get("/acme/shop").await.text.contains("upload-link"));
    assert!(
        !bob.get("/acme/shop/products")
            .await
            .text
            .contains("upload-link")
    );
    let csrf = bob.get("/acme/shop/products").await.csrf();
    for path in ["/acme/shop/-/upload", "/acme/shop/products/-/upload"] {
        assert_eq!(bob.get(path).await.status, 403, "{path}");
        let body = multipart(
            &[
                ("csrftoken", &csrf),
                ("target", "new"),
                ("table", "sneaky"),
                ("text", "a\n1\n"),
            ],
            None,
        );
        assert_eq!(upload(&mut bob, path, body).await.status, 403, "{path}");
    }
    // A token that may only insert into products: appends, no upsert, no new table.
    let token = server.token(&[
        "acme",
        "alice",
        "-r",
        "shop",
        "products",
        "view-table",
        "-r",
        "shop",
        "products",
        "insert-row",
    ]);
    let send = |path: &str, fields: &[(&str, &str)]| {
        server
            .client
            .post(format!("{}{path}", server.base.trim_end_matches('/')))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", content_type())
            .body(multipart(fields, None))
            .send()
    };
    let text = "id,title\n9,Token row\n";
    let status = |r: reqwest::Response| r.status().as_u16();
    let upsert = send(
        "/acme/shop/products/-/upload",
        &[("mode", "upsert"), ("text", text)],
    );
    assert_eq!(status(upsert.await.unwrap()), 403);
    let new = send(
        "/acme/shop/-/upload",
        &[("target", "new"), ("table", "t2"), ("text", text)],
    );
    assert_eq!(status(new.await.unwrap()), 403);
    let append = send(
        "/acme/shop/products/-/upload",
        &[("mode", "append"), ("text", text)],
    );
    assert_eq!(status(append.await.unwrap()), 200);
    let mut alice = logged_in(&server, "alice").await;
    assert_eq!(rows(&mut alice, "products").await.len(), 3);
    assert!(
        !tables(&mut alice)
            .await
            .iter()
            .any(|t| t == "t2" || t == "sneaky")
    );
}

#[tokio::test]
async fn uploads_without_the_form_token_or_from_another_site_write_nothing() {
    let server = Server::start_in(world(), &[]);
    let mut alice = logged_in(&server, "alice").await;
    let csrf = alice.get("/acme/shop/-/upload").await.csrf();
    let fields = [("target", "new"), ("table", "forged"), ("text", "a\n1\n")];
    let path = "/acme/shop/-/upload";
    assert_eq!(
        upload(&mut alice, path, multipart(&fields, None))
            .await
            .status,
        403
    );
    let forged: Vec<(&str, &str)> = [("csrftoken", "forged")]
        .iter()
        .chain(&fields)
        .copied()
        .collect();
    assert_eq!(
        upload(&mut alice, path, multipart(&forged, None))
            .await
            .status,
        403
    );
    let good: Vec<(&str, &str)> = [("csrftoken", csrf.as_str())]
        .iter()
        .chain(&fields)
        .copied()
        .collect();
    let request = alice
        .http
        .post(format!("{}{path}", alice.base))
        .header("Origin", "http://evil.test")
        .header("Content-Type", content_type())
        .body(multipart(&good, None));
    assert_eq!(alice.send(request).await.status, 403);
    assert!(!tables(&mut alice).await.contains(&"forged".to_owned()));
    // With the token, from this site, it works.
    assert_eq!(
        upload(&mut alice, path, multipart(&good, None))
            .await
            .status,
        200
    );
    assert!(tables(&mut alice).await.contains(&"forged".to_owned()));
}

/// `VmRSS` or `VmHWM` of a process, in KB.
fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A 100 MB CSV uploaded into a new table: prints how much the server's
/// resident memory grew (its peak during the upload over its size before),
/// which should stay under 64 MB. `cargo test --test ui_upload -- --ignored`.
#[tokio::test]
#[ignore]
async fn a_100_mb_csv_keeps_the_server_rss_growth_small() {
    let server = Server::start_in(world(), &["--setting", "max_upload_mb", "120"]);
    let mut alice = logged_in(&server, "alice").await;
    let csrf = alice.get("/acme/shop/-/upload").await.csrf();
    let mut csv = Vec::with_capacity(101 << 20);
    csv.extend_from_slice(b"id,name,score,note\n");
    let mut rows = 0u64;
    while csv.len() < 100 << 20 {
        rows += 1;
        csv.extend_from_slice(
            format!(
                "{rows},name {rows},{}.{},\"a note, with a comma, for row {rows}\"\n",
                rows % 997,
                rows % 10
            )
            .as_bytes(),
        );
    }
    let size_mb = csv.len() as f64 / (1 << 20) as f64;
    let body = multipart(
        &[("csrftoken", &csrf), ("target", "new"), ("table", "big")],
        Some(("big.csv", &csv)),
    );
    drop(csv);
    let pid = server.pid();
    let before = memory_kb(pid, "VmRSS");
    let started = std::time::Instant::now();
    let page = upload(&mut alice, "/acme/shop/-/upload", body).await;
    let took = started.elapsed();
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(by_id(&page, "rows-written"), rows.to_string());
    let peak = memory_kb(pid, "VmHWM");
    let growth_mb = peak.saturating_sub(before) as f64 / 1024.0;
    println!(
        "uploaded {size_mb:.1} MB ({rows} rows) in {took:.1?}: server RSS {:.1} MB before, peak {:.1} MB, growth {growth_mb:.1} MB",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(growth_mb < 64.0, "RSS grew by {growth_mb:.1} MB");
}

/// An upload cut off mid-body (the client goes away) writes nothing and
/// leaves no temporary file.
#[tokio::test]
async fn an_upload_cut_off_mid_body_writes_nothing() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start_in(world(), &[]);
    let token = server.token(&["acme", "alice"]);
    let mut csv = String::from("n,text\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i},row {i}\n"));
    }
    let body = multipart(
        &[("target", "new"), ("table", "cut")],
        Some(("cut.csv", csv.as_bytes())),
    );
    let host = server
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /acme/shop/-/upload HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        content_type(),
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body[..body.len() / 2]).await.unwrap();
    socket.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let tmp = server.data().join("tmp");
    let during: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert_eq!(during.len(), 1, "the body waits on disk while it arrives");
    drop(socket);
    for _ in 0..50 {
        if std::fs::read_dir(&tmp).unwrap().next().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        std::fs::read_dir(&tmp).unwrap().next().is_none(),
        "the temporary file went"
    );
    let reply = server.get("/acme/shop.json", Some(&token)).await;
    assert!(!reply.table_names().contains(&"cut".to_owned()));
}
