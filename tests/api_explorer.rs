//! The API explorer, `/{space}/-/api`, over real HTTP: it lists the actor's
//! own databases and tables with the endpoints they may use, never a name
//! of another space, nothing a narrowed token may not see, and a private
//! space's explorer is the same 404 as a space that does not exist.

mod common;

use common::Server;
use common::browser::Browser;
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::sqlite;

/// alice owns private `acme` (database `shop`: `products`, `makers`), bob
/// views it; carol owns private `beta` (database `vault`, table `payroll`).
fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let catalog = Catalog::open(&data).unwrap();
    let conn = catalog.conn().unwrap();
    for user in ["alice", "bob", "carol"] {
        users::create(&conn, user, Some(&format!("{user}-pw"))).unwrap();
    }
    let acme = spaces::create(&conn, &SpaceName::parse("acme").unwrap(), "alice", false).unwrap();
    let bob = users::find_id(&conn, "bob").unwrap().unwrap();
    spaces::set_member(&conn, acme.id, bob, "viewer").unwrap();
    let beta = spaces::create(&conn, &SpaceName::parse("beta").unwrap(), "carol", false).unwrap();
    for (space, id, db, sql) in [
        (
            "acme",
            acme.id,
            "shop",
            "create table products (id integer primary key, title text);
                                   create table makers (id integer primary key, name text);",
        ),
        (
            "beta",
            beta.id,
            "vault",
            "create table payroll (id integer primary key, salary real);",
        ),
    ] {
        import::create(&conn, &data, space, &DbName::parse(db).unwrap()).unwrap();
        let file = sqlite::open_file(&data.database_file(space, db)).unwrap();
        let tenant = sqlite::connect(&file).unwrap();
        sqlite::execute_batch(&tenant, sql).unwrap();
        let found = libsette::catalog::databases::find(&conn, id, db)
            .unwrap()
            .unwrap();
        libsette::catalog::mirror::refresh(&conn, found.id, &tenant).unwrap();
    }
    dir
}

async fn logged_in(server: &Server, user: &str) -> Browser {
    let mut b = Browser::new(server);
    let page = b.login(user, &format!("{user}-pw")).await;
    assert_eq!(page.status, 303, "{}", page.text);
    b
}

#[tokio::test]
async fn the_explorer_shows_only_what_the_actor_may_see() {
    let server = Server::start_in(world(), &[]);
    let mut alice = logged_in(&server, "alice").await;
    let page = alice.get("/acme/-/api").await;
    assert_eq!(page.status, 200, "{}", page.text);
    for expected in [
        "/acme/shop/products.json",
        "/acme/shop/makers/-/schema.json",
        "/acme/shop/products/-/insert",
        "/acme/shop/-/create",
        "<option>POST</option>",
    ] {
        assert!(page.text.contains(expected), "{expected}: {}", page.text);
    }
    for secret in ["beta", "vault", "payroll", "carol"] {
        assert!(
            !page.text.contains(secret),
            "alice's explorer names {secret}"
        );
    }

    // bob only views: no write endpoint, no POST.
    let mut bob = logged_in(&server, "bob").await;
    let page = bob.get("/acme/-/api").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("/acme/shop/makers.json"));
    assert!(!page.text.contains("/-/insert") && !page.text.contains("/-/create"));
    assert!(!page.text.contains("<option>POST</option>"));

    // A token narrowed to one table sees that table only.
    let token = server.token(&["acme", "alice", "-r", "shop", "products", "view-table"]);
    let page = server.get("/acme/-/api", Some(&token)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("/acme/shop/products.json"));
    assert!(!page.text.contains("makers"), "{}", page.text);

    // Another space's explorer: as unknown as a space that does not exist.
    let unknown = alice.get("/nosuchspace/-/api").await;
    assert_eq!(unknown.status, 404);
    let hidden = alice.get("/beta/-/api").await;
    assert_eq!((hidden.status, hidden.text), (404, unknown.text.clone()));
    let mut anonymous = Browser::new(&server);
    let unknown = anonymous.get("/nosuchspace/-/api").await;
    let private = anonymous.get("/beta/-/api").await;
    assert_eq!(unknown.status, 404);
    assert_eq!((private.status, private.text), (404, unknown.text));
    let acme = anonymous.get("/acme/-/api").await;
    assert_eq!(acme.status, 404);
    assert!(!acme.text.contains("shop"));
}
