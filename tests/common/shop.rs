//! The shop fixture of the UI write tests: alice owns space `acme`, whose
//! database `shop` holds what the caller's SQL makes; bob views it.

use libsette::catalog::{Catalog, DataDir, databases, mirror, spaces, users};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::sqlite;

use super::Server;
use super::browser::Browser;

/// A data folder with the shop, `sql` run in `shop` and its schema mirrored.
pub fn world(sql: &str) -> tempfile::TempDir {
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
    sqlite::execute_batch(&tenant, sql).unwrap();
    let id = databases::find(&conn, acme.id, "shop").unwrap().unwrap().id;
    mirror::refresh(&conn, id, &tenant).unwrap();
    dir
}

/// A browser signed in as `user` (whose password is `{user}-pw`).
pub async fn logged_in(server: &Server, user: &str) -> Browser {
    let mut b = Browser::new(server);
    let page = b.login(user, &format!("{user}-pw")).await;
    assert_eq!(page.status, 303, "{}", page.text);
    b
}
