//! End-to-end in headless Chromium, driven over WebDriver (Debian's
//! `chromium-driver`, installed by `scripts/browser-setup`): log in, open a
//! table, apply a filter and a facet, create a token restricted to one
//! table, use it against the JSON API, revoke it and see it refused; insert,
//! edit and delete a row, run an UPDATE on the execute-write page; create a
//! table, add a column, rename it, find it with the jump box, drop it;
//! upload a 50,000-row CSV with a broken line, paste JSON into a table. Every
//! step leaves a screenshot in `target/ui-screenshots/`. Loopback only.
//! `LIBSETTE_SKIP_BROWSER_TESTS=1` skips this on machines without Chromium.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::Server;
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::sqlite;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let catalog = Catalog::open(&data).unwrap();
    let conn = catalog.conn().unwrap();
    users::create(&conn, "alice", Some("alice-pw")).unwrap();
    let acme = spaces::create(&conn, &SpaceName::parse("acme").unwrap(), "alice", false).unwrap();
    import::create(&conn, &data, "acme", &DbName::parse("shop").unwrap()).unwrap();
    let file = sqlite::open_file(&data.database_file("acme", "shop")).unwrap();
    let tenant = sqlite::connect(&file).unwrap();
    sqlite::execute_batch(
        &tenant,
        "create table makers (id integer primary key, name text);
         insert into makers values (1, 'Acme <Tools>'), (2, 'Globex');
         create table products (id integer primary key, title text, kind text, price real,
                                maker_id integer references makers(id));
         insert into products values
           (1, 'Anvil', 'heavy', 99.5, 1), (2, 'Rocket skates', 'fast', 250, 1),
           (3, 'Magnet', 'heavy', 12, 2), (4, 'Tornado kit', 'fast', 70, 1),
           (5, 'Spring <b>shoes</b>', 'fast', 35, 2), (6, 'Glue', 'sticky', 3.25, 2);",
    )
    .unwrap();
    let id = libsette::catalog::databases::find(&conn, acme.id, "shop")
        .unwrap()
        .unwrap()
        .id;
    libsette::catalog::mirror::refresh(&conn, id, &tenant).unwrap();
    dir
}

/// A chromedriver process and one browser session in it.
struct Driver {
    child: Child,
    url: String,
    /// The browser's profile folder, removed at the end.
    profile: PathBuf,
    http: reqwest::Client,
    shots: PathBuf,
    step: usize,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Ending the session quits the browser; killing only chromedriver
        // would leave Chromium running.
        self.end_session();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Driver {
    /// `DELETE` the session over a plain socket: `drop` cannot await.
    fn end_session(&self) {
        use std::io::{Read, Write};
        let Some((host, path)) = self
            .url
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
        else {
            return;
        };
        let Ok(mut stream) = std::net::TcpStream::connect(host) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request =
            format!("DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }

    async fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.display())],
            }
        }}});
        let session: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"));
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Driver {
            url: format!("{base}/session/{id}"),
            profile,
            child,
            http,
            shots,
            step: 0,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {path}: {answer}");
        }
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks something that loads a new page, and waits for that page.
    async fn click_nav(&self, css: &str) {
        self.script("window.__before_click = true").await;
        self.click(css).await;
        for _ in 0..100 {
            let loaded = self
                .script("return !window.__before_click && document.readyState === 'complete'")
                .await;
            if loaded == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new page after clicking {css}");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Saves `target/ui-screenshots/NN-name.png`.
    async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(path, bytes).unwrap();
    }
}

fn browser_available() -> bool {
    if std::env::var("LIBSETTE_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        return false;
    }
    let setup = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/browser-setup");
    let status = Command::new("bash")
        .arg(setup)
        .status()
        .expect("running browser-setup");
    assert!(
        status.success(),
        "scripts/browser-setup failed; install chromium and chromium-driver, \
         or set LIBSETTE_SKIP_BROWSER_TESTS=1"
    );
    true
}

#[tokio::test]
async fn log_in_filter_facet_and_a_token_for_one_table() {
    if !browser_available() {
        eprintln!("skipping: LIBSETTE_SKIP_BROWSER_TESTS=1");
        return;
    }
    let server = Server::start_in(world(), &[]);
    let base = server.base.trim_end_matches('/').to_owned();
    let mut d = Driver::start().await;

    // Log in.
    d.go(&format!("{base}/-/login")).await;
    d.type_into("#username", "alice").await;
    d.type_into("#password", "alice-pw").await;
    d.shot("login-form").await;
    d.click_nav("#login button[type=submit]").await;
    assert_eq!(d.current_url().await, format!("{base}/"));
    assert!(d.text("#spaces").await.contains("acme"));
    d.shot("my-spaces").await;

    // The space, then the table.
    d.click_nav("#spaces a").await;
    d.shot("space-home").await;
    d.go(&format!("{base}/acme/shop/products")).await;
    assert!(d.text("#row-count").await.contains("6 rows"));
    assert!(
        d.text("#rows").await.contains("Acme <Tools>"),
        "labelled foreign keys"
    );
    d.shot("table").await;

    // A filter through the form: kind = fast.
    d.script("document.querySelector('select[name=_filter_column]').value = 'kind'")
        .await;
    d.script("document.querySelector('select[name=_filter_op]').value = 'exact'")
        .await;
    d.type_into("input[name=_filter_value]", "fast").await;
    d.click_nav("#filter-form button[type=submit]").await;
    let url = d.current_url().await;
    assert!(
        url.ends_with("/acme/shop/products?kind__exact=fast"),
        "{url}"
    );
    assert!(d.text("#row-count").await.contains("3 rows"));
    d.shot("filtered").await;

    // A facet on maker_id, then toggle one of its values.
    d.script("document.querySelector('#facet-by').value = 'maker_id'")
        .await;
    d.click_nav("#facet-form button[type=submit]").await;
    let facet = d.text("#facets").await;
    assert!(facet.contains("maker_id"), "{facet}");
    d.shot("faceted").await;
    d.click_nav("#facets li a").await;
    let url = d.current_url().await;
    assert!(url.contains("maker_id=1"), "{url}");
    assert!(d.text("#row-count").await.contains("2 rows"));
    let json_link = d
        .script("return document.querySelector('#json-link').getAttribute('href')")
        .await;
    assert!(json_link.as_str().unwrap().contains("maker_id=1"));
    d.shot("facet-selected").await;

    // Sort by a header.
    d.go(&format!("{base}/acme/shop/products")).await;
    d.click_nav("#rows th:nth-child(5) a").await;
    assert!(d.current_url().await.ends_with("_sort=price"));
    d.shot("sorted-by-price").await;

    // A token that may only view one table.
    d.go(&format!("{base}/acme/-/tokens")).await;
    d.shot("tokens-page").await;
    d.type_into("#token-name", "products reader").await;
    d.script("document.querySelector('#token-expires').value = '86400'")
        .await;
    d.script("document.querySelectorAll('details').forEach(function(e){ e.open = true })")
        .await;
    d.click("input[value='resource:shop:products:vt']").await;
    d.shot("token-restrictions").await;
    d.click_nav("#create-token button[type=submit]").await;
    let secret = d.text("#token-secret").await;
    assert!(secret.starts_with("lstok_"), "{secret}");
    d.shot("token-created").await;

    let products = server.get("/acme/shop/products.json", Some(&secret)).await;
    assert_eq!(products.status, 200);
    let makers = server.get("/acme/shop/makers.json", Some(&secret)).await;
    assert_eq!(makers.status, 403);

    // Revoke it with one click, and see it refused.
    d.go(&format!("{base}/acme/-/tokens")).await;
    d.click_nav("#tokens tbody tr:first-child button.danger")
        .await;
    assert!(d.text("#tokens").await.contains("revoked"));
    d.shot("token-revoked").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refused = server.get("/acme/shop/products.json", Some(&secret)).await;
    assert_eq!(refused.status, 401);
    assert!(refused.text.contains("revoked"));

    // Phone width.
    d.resize(390, 844).await;
    d.go(&format!("{base}/acme/shop/products?_facet=kind"))
        .await;
    d.shot("phone-table").await;
    d.go(&format!("{base}/acme/-/tokens")).await;
    d.shot("phone-tokens").await;
    d.go(&format!("{base}/acme/shop/products/1")).await;
    d.shot("phone-row").await;
}

#[tokio::test]
async fn save_a_query_run_it_with_a_parameter_and_find_it_listed() {
    if !browser_available() {
        eprintln!("skipping: LIBSETTE_SKIP_BROWSER_TESTS=1");
        return;
    }
    let server = Server::start_in(world(), &[]);
    let base = server.base.trim_end_matches('/').to_owned();
    let mut d = Driver::start().await;
    d.go(&format!("{base}/-/login")).await;
    d.type_into("#username", "alice").await;
    d.type_into("#password", "alice-pw").await;
    d.click_nav("#login button[type=submit]").await;

    // Write SQL with a parameter on the query page, then save it.
    d.go(&format!("{base}/acme/shop/-/query")).await;
    d.script("document.querySelector('#sql').value = ''").await;
    d.type_into(
        "#sql",
        "select title, price from products where kind = :kind order by id",
    )
    .await;
    d.click_nav("#sql-editor button[type=submit]").await;
    d.click("#save-query summary").await;
    d.type_into("#query-name", "by_kind").await;
    d.type_into("#query-title", "Products of a kind").await;
    d.shot("save-query-form").await;
    d.click_nav("#save-query-form button[type=submit]").await;
    assert_eq!(d.current_url().await, format!("{base}/acme/shop/by_kind"));
    assert_eq!(d.text("#query-title").await, "Products of a kind private");

    // Run it from its page with a parameter.
    d.type_into("#param-kind", "heavy").await;
    d.click_nav("#query-form button[type=submit]").await;
    assert!(
        d.current_url()
            .await
            .ends_with("/acme/shop/by_kind?kind=heavy")
    );
    let results = d.text("#results").await;
    assert!(
        results.contains("Anvil") && results.contains("Magnet"),
        "{results}"
    );
    assert!(!results.contains("Glue"), "{results}");
    d.shot("stored-query-run").await;

    // Listed on the database page and in the list of queries.
    d.go(&format!("{base}/acme/shop")).await;
    assert!(
        d.text("#stored-queries")
            .await
            .contains("Products of a kind")
    );
    d.go(&format!("{base}/acme/-/queries")).await;
    assert!(d.text("#queries").await.contains("Products of a kind"));
    d.shot("stored-queries-list").await;
}

/// Logs alice in through the login form.
async fn log_in_alice(d: &Driver, base: &str) {
    d.go(&format!("{base}/-/login")).await;
    d.type_into("#username", "alice").await;
    d.type_into("#password", "alice-pw").await;
    d.click_nav("#login button[type=submit]").await;
}

/// The products table as JSON, read by the test with a token of alice's.
async fn products_json(server: &Server, token: &str) -> Vec<Value> {
    let reply = server
        .get(
            "/acme/shop/products.json?_shape=array&_sort=id",
            Some(token),
        )
        .await;
    assert_eq!(reply.status, 200);
    serde_json::from_str(&reply.text).unwrap()
}

#[tokio::test]
async fn insert_edit_delete_a_row_and_run_an_update_from_the_pages() {
    if !browser_available() {
        eprintln!("skipping: LIBSETTE_SKIP_BROWSER_TESTS=1");
        return;
    }
    let server = Server::start_in(world(), &[]);
    let base = server.base.trim_end_matches('/').to_owned();
    let token = server.token(&["acme", "alice"]);
    let mut d = Driver::start().await;
    log_in_alice(&d, &base).await;

    // Insert a row from the table page's button.
    d.go(&format!("{base}/acme/shop/products")).await;
    d.shot("write-table-controls").await;
    d.click_nav("#insert-row").await;
    d.type_into("input[name='value.title']", "Jet boots").await;
    d.type_into("input[name='value.kind']", "fast").await;
    d.type_into("input[name='value.price']", "120.5").await;
    d.type_into("input[name='value.maker_id']", "2").await;
    d.shot("write-insert-form").await;
    d.click_nav("#save-row").await;
    assert_eq!(d.text("#flash").await, "Row inserted.");
    assert!(d.text("#row-count").await.contains("7 rows"));
    let rows = products_json(&server, &token).await;
    assert_eq!(rows[6]["title"], "Jet boots");
    assert_eq!(rows[6]["price"], 120.5);

    // Edit it from its row: a new title, and kind set to NULL.
    d.click_nav("#rows tbody tr:last-child a.edit-row").await;
    d.script("document.querySelector(\"input[name='value.title']\").value = ''")
        .await;
    d.type_into("input[name='value.title']", "Jet boots II")
        .await;
    d.click("input[name='null.kind']").await;
    d.shot("write-edit-form").await;
    d.click_nav("#save-row").await;
    assert_eq!(d.text("#flash").await, "Row saved.");
    let rows = products_json(&server, &token).await;
    assert_eq!(rows[6]["title"], "Jet boots II");
    assert_eq!(rows[6]["kind"], Value::Null);

    // Delete it through the confirmation dialog.
    d.click("#rows tbody tr:last-child a.delete-row").await;
    assert!(
        d.text("#confirm-delete-dialog")
            .await
            .contains("Delete row 7?")
    );
    d.shot("write-delete-dialog").await;
    d.click_nav("#confirm-delete-dialog button.danger").await;
    assert_eq!(d.text("#flash").await, "Row deleted.");
    assert!(d.text("#row-count").await.contains("6 rows"));
    assert_eq!(products_json(&server, &token).await.len(), 6);
    // Without script, the same delete is a page.
    d.go(&format!("{base}/acme/shop/products/6/-/delete-row"))
        .await;
    d.shot("write-delete-page").await;

    // An UPDATE through the execute-write page: analyse, then run.
    d.go(&format!("{base}/acme/shop")).await;
    d.click_nav("#execute-write-link").await;
    d.type_into(
        "#sql",
        "update products set price = price * 2 where kind = :kind",
    )
    .await;
    d.click_nav("#analyse").await;
    let analysis = d.text("#analysis").await;
    assert!(
        analysis.contains("update") && analysis.contains("allowed"),
        "{analysis}"
    );
    d.type_into("input[name='_param_kind']", "heavy").await;
    d.shot("write-execute-analysed").await;
    d.click_nav("#run").await;
    assert_eq!(
        d.text("#execute-result").await,
        "Query executed, 2 rows affected"
    );
    d.shot("write-execute-ran").await;
    let rows = products_json(&server, &token).await;
    assert_eq!(rows[0]["price"], 199.0);
    assert_eq!(rows[2]["price"], 24.0);

    // The column chooser: hide the price.
    d.go(&format!("{base}/acme/shop/products")).await;
    d.click("#column-chooser summary").await;
    d.click("#column-form input[value=price]").await;
    d.shot("write-column-chooser").await;
    d.click_nav("#show-columns").await;
    let url = d.current_url().await;
    assert!(
        url.contains("_col=title") && !url.contains("_col=price"),
        "{url}"
    );
    assert!(!d.text("#rows thead").await.contains("price"));

    // Phone width.
    d.resize(390, 844).await;
    for (path, name) in [
        ("/acme/shop/products", "phone-write-table"),
        ("/acme/shop/products/-/insert-row", "phone-write-insert"),
        ("/acme/shop/products/1/-/edit", "phone-write-edit"),
        ("/acme/shop/products/1/-/delete-row", "phone-write-delete"),
        (
            "/acme/shop/-/execute-write?sql=delete+from+products+where+id+%3D+1",
            "phone-write-execute",
        ),
    ] {
        d.go(&format!("{base}{path}")).await;
        d.shot(name).await;
    }
    d.go(&format!("{base}/acme/shop/products/1")).await;
    d.click("#delete-row").await;
    d.shot("phone-write-delete-dialog").await;
}

/// The table names of `shop`, read by the test with a token of alice's.
async fn shop_tables(server: &Server, token: &str) -> Vec<String> {
    let reply = server.get("/acme/shop.json", Some(token)).await;
    assert_eq!(reply.status, 200);
    reply.table_names()
}

/// The columns of a table, read by the test with a token of alice's.
async fn columns(server: &Server, token: &str, table: &str) -> Vec<Value> {
    let path = format!("/acme/shop/{table}.json?_extra=columns");
    let reply = server.get(&path, Some(token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["columns"].as_array().unwrap().clone()
}

/// Waits until the jump box lists links, and returns their text.
async fn jump_results(d: &Driver) -> String {
    for _ in 0..100 {
        let found = d
            .script("return document.querySelectorAll('#jump-results a').length")
            .await;
        if found.as_u64().unwrap_or(0) > 0 {
            return d.text("#jump-results").await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the jump box listed nothing");
}

#[tokio::test]
async fn create_a_table_add_and_rename_a_column_jump_to_it_and_drop_it() {
    if !browser_available() {
        eprintln!("skipping: LIBSETTE_SKIP_BROWSER_TESTS=1");
        return;
    }
    let server = Server::start_in(world(), &[]);
    let base = server.base.trim_end_matches('/').to_owned();
    let token = server.token(&["acme", "alice"]);
    let mut d = Driver::start().await;
    log_in_alice(&d, &base).await;

    // Create: a name, three columns (one added by the page's script), a key.
    d.go(&format!("{base}/acme/shop")).await;
    d.shot("tables-database").await;
    d.click_nav("#create-table-link").await;
    d.type_into("#table-name", "gadgets").await;
    d.type_into("input[name='column.1']", "name").await;
    d.click("#more-columns").await;
    d.type_into("input[name='column.3']", "weight").await;
    d.script("document.querySelector(\"select[name='type.3']\").value = 'float'")
        .await;
    d.shot("tables-create-form").await;
    d.click_nav("#create-table").await;
    assert_eq!(d.text("#flash").await, "Table created.");
    assert!(d.current_url().await.ends_with("/acme/shop/gadgets"));
    assert_eq!(
        columns(&server, &token, "gadgets").await,
        ["id", "name", "weight"]
    );

    // Add a column, then rename it.
    d.click_nav("#alter-table-link").await;
    d.type_into("#add-name", "colour").await;
    d.shot("tables-alter-add").await;
    d.click_nav("#alter-table").await;
    assert_eq!(d.text("#flash").await, "Table altered.");
    d.click_nav("#alter-table-link").await;
    d.script("document.querySelector(\"input[name='name.3']\").value = ''")
        .await;
    d.type_into("input[name='name.3']", "color").await;
    d.shot("tables-alter-rename").await;
    d.click_nav("#alter-table").await;
    assert_eq!(d.text("#flash").await, "Table altered.");
    assert_eq!(
        columns(&server, &token, "gadgets").await,
        ["id", "name", "weight", "color"]
    );

    // The jump box finds it.
    d.type_into("#jump", "gadg").await;
    let found = jump_results(&d).await;
    assert!(found.contains("shop: gadgets"), "{found}");
    assert!(!found.contains("products"), "{found}");
    d.shot("tables-jump").await;
    d.click_nav("#jump-results a").await;
    assert!(d.current_url().await.ends_with("/acme/shop/gadgets"));

    // Drop it: the button waits for the typed name.
    d.click_nav("#drop-table-link").await;
    let disabled = "return document.getElementById('drop-table').disabled";
    assert_eq!(d.script(disabled).await, json!(true));
    d.type_into("#confirm-name", "gadgets").await;
    assert_eq!(d.script(disabled).await, json!(false));
    d.shot("tables-drop").await;
    d.click_nav("#drop-table").await;
    assert_eq!(d.text("#flash").await, "Table dropped.");
    assert!(
        !shop_tables(&server, &token)
            .await
            .contains(&"gadgets".to_owned())
    );

    // Phone width.
    d.resize(390, 844).await;
    for (path, name) in [
        ("/acme/shop/-/create-table", "phone-tables-create"),
        ("/acme/shop/products/-/alter-table", "phone-tables-alter"),
        ("/acme/shop/products/-/drop-table", "phone-tables-drop"),
    ] {
        d.go(&format!("{base}{path}")).await;
        d.shot(name).await;
    }
    d.go(&format!("{base}/acme/shop/products")).await;
    d.type_into("#jump", "prod").await;
    assert!(jump_results(&d).await.contains("shop: products"));
    d.shot("phone-tables-jump").await;
}

/// Waits until `css` matches an element of the page.
async fn wait_for(d: &Driver, css: &str) {
    let script = format!("return document.querySelector({css:?}) !== null");
    for _ in 0..600 {
        if d.script(&script).await == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never appeared");
}

#[tokio::test]
async fn upload_a_50000_row_csv_and_paste_json_into_a_table() {
    if !browser_available() {
        eprintln!("skipping: LIBSETTE_SKIP_BROWSER_TESTS=1");
        return;
    }
    let server = Server::start_in(world(), &[]);
    let base = server.base.trim_end_matches('/').to_owned();
    let token = server.token(&["acme", "alice"]);
    let mut d = Driver::start().await;
    log_in_alice(&d, &base).await;

    // A CSV of 50,000 rows, line 1,235 broken (a value short).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readings.csv");
    let mut csv = String::from("sensor,reading,place\n");
    for i in 1..=50_000 {
        if i == 1234 {
            csv.push_str("1234,broken\n");
        } else {
            csv.push_str(&format!("{i},{}.5,\"hall {}\"\n", i % 100, i % 7));
        }
    }
    std::fs::write(&file, csv).unwrap();

    d.go(&format!("{base}/acme/shop")).await;
    d.click_nav("#upload-link").await;
    d.type_into("#new-table", "readings").await;
    d.type_into("#pk", "sensor").await;
    d.type_into("#file", file.to_str().unwrap()).await;
    d.shot("upload-form").await;
    d.click("#upload-submit").await;
    wait_for(&d, "#upload-report").await;
    assert_eq!(d.text("#rows-written").await, "49999");
    assert_eq!(d.text("#rows-bad").await, "1");
    let bad = d.text("#bad-rows tbody").await;
    assert_eq!(bad, "1235 Expected 3 values, found 2");
    d.shot("upload-report").await;
    let reply = server
        .get(
            "/acme/shop.json?_shape=array&sql=select+count(*)+as+n,+sum(typeof(reading)='real')+as+reals+from+readings",
            Some(&token),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!([{"n": 49_999, "reals": 49_999}]),
        "{}",
        reply.text
    );

    // Paste JSON lines into products: one new row, one already there.
    d.go(&format!("{base}/acme/shop/products")).await;
    d.click_nav("#upload-link").await;
    d.type_into(
        "#text",
        "{\"id\": 7, \"title\": \"Bird seed\", \"kind\": \"tasty\", \"price\": 1.5}\n{\"id\": 1, \"title\": \"Anvil again\"}",
    )
    .await;
    d.shot("upload-paste").await;
    d.click("#upload-submit").await;
    wait_for(&d, "#upload-report").await;
    assert_eq!(d.text("#rows-written").await, "1");
    assert!(
        d.text("#bad-rows")
            .await
            .contains("UNIQUE constraint failed")
    );
    d.shot("upload-paste-report").await;
    let titles: Vec<Value> = products_json(&server, &token)
        .await
        .iter()
        .map(|p| p["title"].clone())
        .collect();
    assert!(titles.contains(&json!("Bird seed")) && titles.contains(&json!("Anvil")));

    // Phone width.
    d.resize(390, 844).await;
    d.go(&format!("{base}/acme/shop/-/upload")).await;
    d.shot("phone-upload-form").await;
    d.go(&format!("{base}/acme/shop/products/-/upload")).await;
    d.type_into("#text", "id,title\n8,Kite\n9\n").await;
    d.click("#upload-submit").await;
    wait_for(&d, "#upload-report").await;
    d.shot("phone-upload-report").await;
}

#[tokio::test]
async fn the_api_explorer_sends_a_get_and_a_post_from_the_page() {
    if !browser_available() {
        eprintln!("skipping: LIBSETTE_SKIP_BROWSER_TESTS=1");
        return;
    }
    let server = Server::start_in(world(), &[]);
    let base = server.base.trim_end_matches('/').to_owned();
    let token = server.token(&["acme", "alice"]);
    let mut d = Driver::start().await;
    log_in_alice(&d, &base).await;
    d.go(&format!("{base}/acme/shop")).await;
    d.click_nav("#api-link").await;
    assert!(d.current_url().await.ends_with("/acme/-/api"));

    // GET the products from the page.
    d.click("button.try[data-path='/acme/shop/products.json']")
        .await;
    d.click("#api-send").await;
    wait_for(&d, "#api-answer:not([hidden])").await;
    assert_eq!(d.text("#api-status").await, "200 OK");
    assert!(d.text("#api-answer").await.contains("Rocket skates"));
    d.shot("api-explorer-get").await;

    // POST an insert with a body typed in.
    d.click("button.try[data-path='/acme/shop/products/-/insert']")
        .await;
    d.script("document.getElementById('api-body').value = ''")
        .await;
    d.type_into(
        "#api-body",
        r#"{"rows": [{"id": 70, "title": "Explorer kite"}]}"#,
    )
    .await;
    d.script("document.getElementById('api-answer').hidden = true")
        .await;
    d.click("#api-send").await;
    wait_for(&d, "#api-answer:not([hidden])").await;
    assert_eq!(d.text("#api-status").await, "201 Created");
    d.shot("api-explorer-post").await;
    let titles: Vec<Value> = products_json(&server, &token)
        .await
        .iter()
        .map(|p| p["title"].clone())
        .collect();
    assert!(titles.contains(&json!("Explorer kite")));

    d.resize(390, 844).await;
    d.go(&format!("{base}/acme/-/api")).await;
    d.shot("phone-api-explorer").await;
}
