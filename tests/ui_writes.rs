//! Writing from the web UI over real HTTP: the row forms (insert, edit with
//! NULL, delete) through the write API's code with its audit rows, the
//! execute-write page beside its JSON API, write controls shown only to
//! actors who may use them (viewers, restricted tokens), and CSRF refusals
//! that write nothing.

mod common;

use common::Server;
use common::browser::{Browser, Page};
use common::shop::logged_in;
use serde_json::{Value, json};

/// alice owns `acme` (database `shop`), bob views it.
fn world() -> tempfile::TempDir {
    common::shop::world(
        "create table products (id integer primary key, title text, kind text,
                                price real, stock integer, photo blob);
         insert into products values (1, 'Anvil', 'heavy', 99.5, 3, x'0102'),
                                     (2, 'Glue', 'sticky', 3.25, 10, null);",
    )
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

/// The columns of a table, as its JSON says.
async fn columns_of(b: &mut Browser, table: &str) -> Vec<String> {
    let page = b
        .get(&format!("/acme/shop/{table}.json?_extra=columns"))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let data: Value = serde_json::from_str(&page.text).unwrap();
    data["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// The tables of `shop`, as its JSON says.
async fn tables_of(b: &mut Browser) -> Vec<String> {
    let page = b.get("/acme/shop.json").await;
    let data: Value = serde_json::from_str(&page.text).unwrap();
    let mut names: Vec<String> = data["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn create_alter_and_drop_a_table_from_forms() {
    let server = Server::start_in(world(), &[]);
    let mut b = logged_in(&server, "alice").await;
    let db = b.get("/acme/shop").await;
    assert!(db.text.contains("id=\"create-table-link\""), "{}", db.text);
    assert!(db.text.contains("id=\"jump\""), "the jump box");
    let form = b.get("/acme/shop/-/create-table").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let more = b
        .post(
            "/acme/shop/-/create-table",
            &[
                ("csrftoken", &csrf),
                ("table", "notes"),
                ("column.0", "id"),
                ("op", "more"),
            ],
        )
        .await;
    assert_eq!(more.status, 200);
    assert!(more.text.contains("name=\"column.1\"") && more.text.contains("value=\"notes\""));

    // Bad input is shown in place, the form kept, nothing created.
    let base = [("csrftoken", csrf.as_str()), ("op", "create")];
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("table", "products"), ("column.0", "x"), ("pk", "rowid")],
            "already exists",
        ),
        (
            &[("table", "empty"), ("column.0", ""), ("pk", "rowid")],
            "at least one column",
        ),
        (
            &[
                ("table", "odd"),
                ("column.0", "a"),
                ("type.0", "varchar"),
                ("pk", "0"),
            ],
            "Unsupported column type: varchar",
        ),
    ];
    for (fields, message) in cases {
        let all: Vec<(&str, &str)> = base.iter().chain(fields).copied().collect();
        let bad = b.post("/acme/shop/-/create-table", &all).await;
        assert_eq!(bad.status, 400, "{message}: {}", bad.text);
        assert!(bad.text.contains(message), "{message}: {}", bad.text);
        assert!(bad.text.contains("id=\"form-error\""));
        assert!(
            bad.text.contains(&format!("value=\"{}\"", fields[0].1)),
            "form kept"
        );
    }
    assert_eq!(tables_of(&mut b).await, ["products"]);

    let created = b
        .post(
            "/acme/shop/-/create-table",
            &[
                ("csrftoken", &csrf),
                ("table", "notes"),
                ("column.0", "id"),
                ("type.0", "integer"),
                ("column.1", "body"),
                ("type.1", "text"),
                ("column.2", ""),
                ("type.2", "text"),
                ("pk", "0"),
                ("op", "create"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text);
    assert_eq!(created.location(), "/acme/shop/notes");
    let table = b.get("/acme/shop/notes").await;
    assert!(table.text.contains("Table created."));
    assert!(
        table.text.contains("id=\"alter-table-link\"")
            && table.text.contains("id=\"drop-table-link\"")
    );
    assert_eq!(columns_of(&mut b, "notes").await, ["id", "body"]);
    let schema = b.get("/acme/shop/notes/-/schema.json").await;
    assert!(schema.text.contains("PRIMARY KEY"), "{}", schema.text);

    // Alter: add a column, then rename it and change a type, then drop it.
    let alter = b.get("/acme/shop/notes/-/alter-table").await;
    assert_eq!(alter.status, 200);
    assert!(alter.text.contains("name=\"col.1\" value=\"body\""));
    let post_alter = |extra: Vec<(&'static str, &'static str)>| {
        let mut form = vec![
            ("col.0", "id"),
            ("name.0", "id"),
            ("type.0", "integer"),
            ("col.1", "body"),
            ("name.1", "body"),
            ("type.1", "text"),
        ];
        for (k, v) in extra {
            form.retain(|(key, _)| *key != k);
            form.push((k, v));
        }
        form
    };
    let send = async |b: &mut Browser, form: Vec<(&str, &str)>| {
        let mut all = vec![("csrftoken", csrf.as_str())];
        all.extend(form);
        b.post("/acme/shop/notes/-/alter-table", &all).await
    };
    let added = send(
        &mut b,
        post_alter(vec![("add.name", "tags"), ("add.type", "text")]),
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.text);
    assert_eq!(added.location(), "/acme/shop/notes");
    assert!(
        b.get("/acme/shop/notes")
            .await
            .text
            .contains("Table altered.")
    );
    assert_eq!(columns_of(&mut b, "notes").await, ["id", "body", "tags"]);
    let renamed = send(
        &mut b,
        post_alter(vec![
            ("col.2", "tags"),
            ("name.2", "labels"),
            ("type.2", "text"),
            ("type.1", "blob"),
        ]),
    )
    .await;
    assert_eq!(renamed.status, 303, "{}", renamed.text);
    assert_eq!(columns_of(&mut b, "notes").await, ["id", "body", "labels"]);
    let schema = b.get("/acme/shop/notes/-/schema.json").await;
    let schema: Value = serde_json::from_str(&schema.text).unwrap();
    let schema = schema["schema"].as_str().unwrap();
    assert!(schema.contains("\"body\" BLOB"), "{schema}");
    // Positions reorder: labels first, then id, then body.
    let reordered = send(
        &mut b,
        post_alter(vec![
            ("type.1", "blob"),
            ("col.2", "labels"),
            ("name.2", "labels"),
            ("type.2", "text"),
            ("pos.2", "1"),
            ("pos.0", "2"),
            ("pos.1", "3"),
        ]),
    )
    .await;
    assert_eq!(reordered.status, 303, "{}", reordered.text);
    assert_eq!(columns_of(&mut b, "notes").await, ["labels", "id", "body"]);
    let back = post_alter(vec![
        ("type.1", "blob"),
        ("col.2", "labels"),
        ("name.2", "labels"),
        ("type.2", "text"),
        ("pos.0", "1"),
        ("pos.1", "2"),
        ("pos.2", "3"),
    ]);
    assert_eq!(send(&mut b, back).await.status, 303);
    assert_eq!(columns_of(&mut b, "notes").await, ["id", "body", "labels"]);

    // Bad alterations: shown in place, nothing changed.
    let now = || {
        vec![
            ("type.1", "blob"),
            ("col.2", "labels"),
            ("name.2", "labels"),
            ("type.2", "text"),
        ]
    };
    let nothing = send(&mut b, post_alter(now())).await;
    assert_eq!(nothing.status, 400);
    assert!(nothing.text.contains("Nothing to change"));
    let clash = send(&mut b, post_alter([now(), vec![("name.1", "id")]].concat())).await;
    assert_eq!(clash.status, 400, "{}", clash.text);
    assert!(clash.text.contains("id=\"form-error\""), "{}", clash.text);
    assert!(
        clash.text.contains("name=\"name.1\" value=\"id\""),
        "form kept"
    );
    assert_eq!(columns_of(&mut b, "notes").await, ["id", "body", "labels"]);

    let dropped = send(&mut b, post_alter([now(), vec![("drop.2", "1")]].concat())).await;
    assert_eq!(dropped.status, 303, "{}", dropped.text);
    assert_eq!(columns_of(&mut b, "notes").await, ["id", "body"]);

    // Drop: the name must be typed.
    let page = b.get("/acme/shop/notes/-/drop-table").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("data-table=\"notes\""));
    let wrong = b
        .post(
            "/acme/shop/notes/-/drop-table",
            &[("csrftoken", &csrf), ("confirm", "note")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong
            .text
            .contains("Type the table&#39;s name, notes, to drop it"),
        "{}",
        wrong.text
    );
    assert_eq!(tables_of(&mut b).await, ["notes", "products"]);
    let gone = b
        .post(
            "/acme/shop/notes/-/drop-table",
            &[("csrftoken", &csrf), ("confirm", "notes")],
        )
        .await;
    assert_eq!(gone.status, 303, "{}", gone.text);
    assert_eq!(gone.location(), "/acme/shop");
    assert!(b.get("/acme/shop").await.text.contains("Table dropped."));
    assert_eq!(tables_of(&mut b).await, ["products"]);
    let audit = server.cli(&["audit", "acme", "--table", "notes", "--json"]);
    for event in ["create-table", "alter-table", "drop-table"] {
        assert!(audit.contains(event), "{event}: {audit}");
    }
    assert!(audit.contains("alice"));
}

#[tokio::test]
async fn table_forms_only_for_actors_with_the_right() {
    let server = Server::start_in(world(), &[]);
    let mut bob = logged_in(&server, "bob").await;
    let db = bob.get("/acme/shop").await;
    assert!(!db.text.contains("create-table-link"));
    assert!(db.text.contains("id=\"jump\""), "viewers may jump");
    let table = bob.get("/acme/shop/products").await;
    assert!(!table.text.contains("alter-table-link") && !table.text.contains("drop-table-link"));
    let csrf = table.csrf();
    for path in [
        "/acme/shop/-/create-table",
        "/acme/shop/products/-/alter-table",
        "/acme/shop/products/-/drop-table",
    ] {
        assert_eq!(bob.get(path).await.status, 403, "{path}");
        let posted = bob
            .post(
                path,
                &[
                    ("csrftoken", &csrf),
                    ("table", "sneaky"),
                    ("column.0", "a"),
                    ("pk", "rowid"),
                    ("add.name", "sneaky"),
                    ("confirm", "products"),
                ],
            )
            .await;
        assert_eq!(posted.status, 403, "{path}: {}", posted.text);
    }

    // A token narrowed to viewing and altering products: only "Alter table".
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
        "alter-table",
    ]);
    let page = server.get("/acme/shop/products", Some(&token)).await;
    assert!(
        page.text.contains("id=\"alter-table-link\""),
        "{}",
        page.text
    );
    assert!(!page.text.contains("drop-table-link"));
    let db = server.get("/acme/shop", Some(&token)).await;
    assert!(!db.text.contains("create-table-link"));
    assert_eq!(
        server
            .get("/acme/shop/products/-/drop-table", Some(&token))
            .await
            .status,
        403
    );
    let form = "application/x-www-form-urlencoded";
    for (path, body) in [
        (
            "/acme/shop/-/create-table",
            "table=sneaky&column.0=a&pk=rowid",
        ),
        ("/acme/shop/products/-/drop-table", "confirm=products"),
    ] {
        let refused = server.post_raw(path, Some(&token), body, form).await;
        assert_eq!(refused.status, 403, "{path}");
    }
    let altered = server
        .post_raw(
            "/acme/shop/products/-/alter-table",
            Some(&token),
            "add.name=note",
            form,
        )
        .await;
    // (This client follows the 303 to the table page.)
    assert_eq!(altered.status, 200, "the token may alter: {}", altered.text);
    let mut alice = logged_in(&server, "alice").await;
    assert_eq!(tables_of(&mut alice).await, ["products"]);
    assert!(
        columns_of(&mut alice, "products")
            .await
            .contains(&"note".to_owned())
    );
}

#[tokio::test]
async fn table_forms_without_the_form_token_or_from_another_site_change_nothing() {
    let server = Server::start_in(world(), &[]);
    let mut b = logged_in(&server, "alice").await;
    let csrf = b.get("/acme/shop/-/create-table").await.csrf();
    let forms: [(&str, &[(&str, &str)]); 3] = [
        (
            "/acme/shop/-/create-table",
            &[("table", "sneaky"), ("column.0", "a"), ("pk", "rowid")],
        ),
        (
            "/acme/shop/products/-/alter-table",
            &[("col.0", "id"), ("drop.0", "1"), ("add.name", "x")],
        ),
        (
            "/acme/shop/products/-/drop-table",
            &[("confirm", "products")],
        ),
    ];
    for (path, fields) in forms {
        assert_eq!(b.post(path, fields).await.status, 403, "no token: {path}");
        let forged: Vec<(&str, &str)> = [("csrftoken", "forged")]
            .iter()
            .chain(fields)
            .copied()
            .collect();
        assert_eq!(b.post(path, &forged).await.status, 403, "forged: {path}");
        let good: Vec<(&str, &str)> = [("csrftoken", csrf.as_str())]
            .iter()
            .chain(fields)
            .copied()
            .collect();
        let request = b
            .http
            .post(format!("{}{path}", b.base))
            .header("Origin", "http://evil.test")
            .form(&good);
        assert_eq!(b.send(request).await.status, 403, "cross-site: {path}");
    }
    assert_eq!(tables_of(&mut b).await, ["products"]);
    assert_eq!(
        columns_of(&mut b, "products").await,
        ["id", "title", "kind", "price", "stock", "photo"]
    );
    let audit = server.cli(&["audit", "acme", "--json"]);
    assert!(
        !audit.contains("create-table")
            && !audit.contains("alter-table")
            && !audit.contains("drop-table"),
        "{audit}"
    );
}
