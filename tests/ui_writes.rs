//! Writing from the web UI over real HTTP: the row forms (insert, edit with
//! NULL, delete) through the write API's code with its audit rows, the
//! execute-write page beside its JSON API, write controls shown only to
//! actors who may use them (viewers, restricted tokens), and CSRF refusals
//! that write nothing.

mod common;

use common::Server;
use common::browser::{Browser, Page};
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::sqlite;
use serde_json::{Value, json};

/// alice owns `acme` (database `shop`), bob views it.
fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let catalog = Catalog::open(&data).unwrap();
    let conn = catalog.conn().unwrap();
    users::create(&conn, "alice", Some("alice-pw")).unwrap();
    users::create(&conn, "bob", Some("bob-pw")).unwrap();
    let acme = spaces::create(&conn, &SpaceName::parse("acme").unwrap(), "alice", false).unwrap();
    let bob = users::find_id(&conn, "bob").unwrap().unwrap();
    spaces::set_member(&conn, acme.id, bob, "viewer").unwrap();
    import::create(&conn, &data, "acme", &DbName::parse("shop").unwrap()).unwrap();
    let file = sqlite::open_file(&data.database_file("acme", "shop")).unwrap();
    let tenant = sqlite::connect(&file).unwrap();
    sqlite::execute_batch(
        &tenant,
        "create table products (id integer primary key, title text, kind text,
                                price real, stock integer, photo blob);
         insert into products values (1, 'Anvil', 'heavy', 99.5, 3, x'0102'),
                                     (2, 'Glue', 'sticky', 3.25, 10, null);",
    )
    .unwrap();
    let id = libsette::catalog::databases::find(&conn, acme.id, "shop")
        .unwrap()
        .unwrap()
        .id;
    libsette::catalog::mirror::refresh(&conn, id, &tenant).unwrap();
    dir
}

async fn logged_in(server: &Server, user: &str) -> Browser {
    let mut b = Browser::new(server);
    let page = b.login(user, &format!("{user}-pw")).await;
    assert_eq!(page.status, 303, "{}", page.text);
    b
}

/// The products as JSON, read with a session.
async fn products(b: &mut Browser) -> Vec<Value> {
    let page = b.get("/acme/shop/products.json?_shape=array").await;
    assert_eq!(page.status, 200, "{}", page.text);
    serde_json::from_str::<Vec<Value>>(&page.text).unwrap()
}

/// A form POST as a browser sends it, asking for HTML.
async fn post_page(b: &mut Browser, path: &str, form: &[(&str, &str)]) -> Page {
    let request = b
        .http
        .post(format!("{}{path}", b.base))
        .header("Origin", format!("http://{}", b.host()))
        .header("Sec-Fetch-Site", "same-origin")
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .form(form);
    b.send(request).await
}

#[tokio::test]
async fn insert_edit_with_null_and_delete_a_row_from_forms() {
    let server = Server::start_in(world(), &[]);
    let mut b = logged_in(&server, "alice").await;
    let table = b.get("/acme/shop/products").await;
    assert!(table.text.contains("id=\"insert-row\""), "{}", table.text);
    assert!(table.text.contains("class=\"edit-row\""));
    assert!(table.text.contains("class=\"delete-row\""));

    // Insert: typed inputs, blobs shown but not editable.
    let form = b.get("/acme/shop/products/-/insert-row").await;
    assert_eq!(form.status, 200);
    assert!(
        form.text.contains("type=\"number\" step=\"any\""),
        "REAL input"
    );
    assert!(form.text.contains("name=\"value.title\""));
    let csrf = form.csrf();
    let inserted = b
        .post(
            "/acme/shop/products/-/insert-row",
            &[
                ("csrftoken", &csrf),
                ("back", "/acme/shop/products"),
                ("value.id", ""),
                ("value.title", "Widget"),
                ("value.kind", "ignored"),
                ("null.kind", "1"),
                ("value.price", "9.5"),
                ("value.stock", "4"),
            ],
        )
        .await;
    assert_eq!(inserted.status, 303, "{}", inserted.text);
    assert_eq!(inserted.location(), "/acme/shop/products");
    let page = b.get("/acme/shop/products").await;
    assert!(page.text.contains("Row inserted."), "flash shown once");
    assert!(
        !b.get("/acme/shop/products")
            .await
            .text
            .contains("Row inserted.")
    );
    let rows = products(&mut b).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2],
        json!({"id": 3, "title": "Widget", "kind": null, "price": 9.5, "stock": 4, "photo": null})
    );

    // Edit: every column, a NULL ticked; the blob of row 1 stays as it is.
    let edit = b
        .get("/acme/shop/products/1/-/edit?back=%2Facme%2Fshop%2Fproducts%2F1")
        .await;
    assert_eq!(edit.status, 200);
    assert!(
        edit.text.contains("Binary: 2 bytes"),
        "blob shown: {}",
        edit.text
    );
    assert!(
        !edit.text.contains("name=\"value.photo\""),
        "blob not editable"
    );
    assert!(edit.text.contains("value=\"Anvil\""));
    let saved = b
        .post(
            "/acme/shop/products/1/-/edit",
            &[
                ("csrftoken", &edit.csrf()),
                ("back", "/acme/shop/products/1"),
                ("value.title", "Anvil II"),
                ("value.kind", "heavy"),
                ("value.price", "100"),
                ("value.stock", "0"),
                ("null.stock", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    assert_eq!(saved.location(), "/acme/shop/products/1");
    assert!(
        b.get("/acme/shop/products/1")
            .await
            .text
            .contains("Row saved.")
    );
    let anvil = server
        .cli(&["audit", "acme", "--table", "products", "--json"])
        .to_owned();
    assert!(
        anvil.contains("update-row") && anvil.contains("insert-rows"),
        "{anvil}"
    );
    let photo = b.get("/acme/shop/products/1.json?_shape=array").await;
    let row: Vec<Value> = serde_json::from_str(&photo.text).unwrap();
    assert_eq!(row[0]["title"], "Anvil II");
    assert_eq!(row[0]["stock"], Value::Null);
    assert_eq!(row[0]["price"], 100.0);
    assert!(row[0]["photo"].is_object(), "blob kept: {}", row[0]);

    // A bad value is shown in place, with what was typed.
    let bad = b
        .post(
            "/acme/shop/products/2/-/edit",
            &[
                ("csrftoken", &csrf),
                ("value.title", "Kept?"),
                ("value.stock", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.text.contains("Give stock a number, or tick NULL"),
        "{}",
        bad.text
    );
    assert!(bad.text.contains("value=\"Kept?\""));

    // Delete, after the confirmation page.
    let confirm = b.get("/acme/shop/products/3/-/delete-row").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.text.contains("Widget") && confirm.text.contains("id=\"confirm-delete\""));
    let deleted = b
        .post(
            "/acme/shop/products/3/-/delete-row",
            &[
                ("csrftoken", &confirm.csrf()),
                ("back", "/acme/shop/products/3"),
            ],
        )
        .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(
        deleted.location(),
        "/acme/shop/products",
        "never back to a deleted row"
    );
    assert_eq!(products(&mut b).await.len(), 2);
    let audit = server.cli(&["audit", "acme", "--event", "delete-row", "--json"]);
    assert!(audit.contains("alice"), "{audit}");
}

#[tokio::test]
async fn execute_write_page_analyses_then_runs_and_the_api_keeps_json() {
    let server = Server::start_in(world(), &[]);
    let mut b = logged_in(&server, "alice").await;
    let page = b.get("/acme/shop/-/execute-write").await;
    assert_eq!(page.status, 200);
    assert!(
        b.get("/acme/shop")
            .await
            .text
            .contains("id=\"execute-write-link\"")
    );
    let csrf = page.csrf();
    let sql = "update products set stock = stock + :n where id = 2";
    let analysed = post_page(
        &mut b,
        "/acme/shop/-/execute-write",
        &[("csrftoken", &csrf), ("sql", sql), ("op", "analyse")],
    )
    .await;
    assert_eq!(analysed.status, 200, "{}", analysed.text);
    assert!(
        analysed.text.contains("<td>update</td><td>products</td><td>insert-row, update-row, delete-row</td><td class=\"ok\">allowed</td>"),
        "{}",
        analysed.text
    );
    assert!(analysed.text.contains("name=\"_param_n\""));
    assert_eq!(
        products(&mut b).await[1]["stock"],
        10,
        "analysis runs nothing"
    );
    let ran = post_page(
        &mut b,
        "/acme/shop/-/execute-write",
        &[
            ("csrftoken", &csrf),
            ("sql", sql),
            ("_param_n", "5"),
            ("op", "run"),
        ],
    )
    .await;
    assert_eq!(ran.status, 200, "{}", ran.text);
    assert!(
        ran.text.contains("Query executed, 1 row affected"),
        "{}",
        ran.text
    );
    assert_eq!(products(&mut b).await[1]["stock"], 15);
    let error = post_page(
        &mut b,
        "/acme/shop/-/execute-write",
        &[
            ("csrftoken", &csrf),
            ("sql", "update nope set x = 1"),
            ("op", "run"),
        ],
    )
    .await;
    assert_eq!(error.status, 400);
    assert!(error.text.contains("no such table: nope"), "{}", error.text);

    // The JSON API: JSON bodies and plain form posts answer JSON as before.
    let token = server.token(&["acme", "alice"]);
    let api = server
        .post(
            "/acme/shop/-/execute-write",
            Some(&token),
            &json!({"sql": "update products set stock = 1 where id = 1"}),
        )
        .await;
    assert_eq!(api.status, 200);
    assert_eq!(api.json()["message"], "Query executed, 1 row affected");
    let form = server
        .post_raw(
            "/acme/shop/-/execute-write",
            Some(&token),
            "sql=delete+from+nope",
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(form.status, 400);
    assert!(
        form.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn write_controls_follow_the_actors_rights() {
    let server = Server::start_in(world(), &[]);
    let mut bob = logged_in(&server, "bob").await;
    for path in ["/acme/shop/products", "/acme/shop/products/1", "/acme/shop"] {
        let page = bob.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        for control in [
            "id=\"insert-row\"",
            "=\"edit-row\"",
            "=\"delete-row\"",
            "id=\"execute-write-link\"",
        ] {
            assert!(
                !page.text.contains(control),
                "viewer sees {control} on {path}"
            );
        }
    }
    let refused = bob.get("/acme/shop/products/-/insert-row").await;
    assert_eq!(refused.status, 403);
    assert_eq!(bob.get("/acme/shop/-/execute-write").await.status, 403);

    // A token narrowed to viewing and inserting: only "Insert row".
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
    let page = server.get("/acme/shop/products", Some(&token)).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("id=\"insert-row\""));
    assert!(!page.text.contains("=\"edit-row\"") && !page.text.contains("=\"delete-row\""));
    let edit = server
        .get("/acme/shop/products/1/-/edit", Some(&token))
        .await;
    assert_eq!(edit.status, 403);
}

#[tokio::test]
async fn row_forms_without_the_form_token_or_from_another_site_write_nothing() {
    let server = Server::start_in(world(), &[]);
    let mut b = logged_in(&server, "alice").await;
    let csrf = b.get("/acme/shop/products/-/insert-row").await.csrf();
    let missing = b
        .post(
            "/acme/shop/products/-/insert-row",
            &[("value.title", "Sneaky")],
        )
        .await;
    assert_eq!(missing.status, 403);
    let wrong = b
        .post(
            "/acme/shop/products/1/-/delete-row",
            &[("csrftoken", "forged")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    for (header, value) in [
        ("Origin", "http://evil.test"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        for path in [
            "/acme/shop/products/1/-/delete-row",
            "/acme/shop/-/execute-write",
        ] {
            let request = b
                .http
                .post(format!("{}{path}", b.base))
                .header(header, value)
                .header("Accept", "text/html")
                .form(&[
                    ("csrftoken", csrf.as_str()),
                    ("sql", "delete from products"),
                    ("op", "run"),
                ]);
            assert_eq!(b.send(request).await.status, 403, "{header} {path}");
        }
    }
    let no_token = post_page(
        &mut b,
        "/acme/shop/-/execute-write",
        &[("sql", "delete from products"), ("op", "run")],
    )
    .await;
    assert_eq!(no_token.status, 403);
    let rows = products(&mut b).await;
    assert_eq!(rows.len(), 2, "nothing written");
    let audit = server.cli(&["audit", "acme", "--json"]);
    assert!(
        !audit.contains("delete-row") && !audit.contains("execute-write"),
        "{audit}"
    );
}

#[tokio::test]
async fn the_column_chooser_keeps_the_choice_in_the_url() {
    let server = Server::start_in(world(), &[]);
    let mut b = logged_in(&server, "alice").await;
    let page = b.get("/acme/shop/products?kind=heavy").await;
    assert!(page.text.contains("id=\"column-form\""));
    assert!(page.text.contains("name=\"_col\" value=\"price\" checked"));
    assert!(
        page.text
            .contains("type=\"hidden\" name=\"kind\" value=\"heavy\""),
        "filters kept"
    );
    let chosen = b
        .get("/acme/shop/products?kind=heavy&_col=title&_col=price")
        .await;
    assert!(
        chosen
            .text
            .contains("name=\"_col\" value=\"price\" checked")
    );
    assert!(
        !chosen
            .text
            .contains("name=\"_col\" value=\"stock\" checked")
    );
    assert!(!chosen.text.contains(">stock</a></th>"), "stock hidden");
    let nocol = b.get("/acme/shop/products?_nocol=stock").await;
    assert!(!nocol.text.contains("name=\"_col\" value=\"stock\" checked"));
    assert!(nocol.text.contains("name=\"_col\" value=\"kind\" checked"));
}
