//! Every permission rule, table-driven, against a real catalog: roles,
//! public spaces, explicit grants, deny wins, token restrictions narrowing,
//! implication of parent view actions, and `allowed_resources` agreeing
//! with `allowed` on every resource.

use std::collections::BTreeSet;

use libsette::actor::{Actor, TokenGrant};
use libsette::catalog::grants::{self, Grant};
use libsette::catalog::queries::{self, StoredQuery};
use libsette::catalog::tokens::Restrictions;
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::permissions::{Resource, allowed, allowed_resources};
use libsette::sqlite;

struct World {
    _dir: tempfile::TempDir,
    catalog: Catalog,
    acme: i64,
    open: i64,
}

fn table(db: &str, t: &str) -> Resource {
    Resource::Table(db.into(), t.into())
}

fn database(db: &str) -> Resource {
    Resource::Database(db.into())
}

/// Creates database `db` in the space with the given tables, mirrored in the catalog.
fn add_db(conn: &libsql::Connection, data: &DataDir, space: &str, db: &str, tables: &[&str]) {
    import::create(conn, data, space, &DbName::parse(db).unwrap()).unwrap();
    let file = sqlite::open_file(&data.database_file(space, db)).unwrap();
    let tenant = sqlite::connect(&file).unwrap();
    for t in tables {
        sqlite::execute_batch(
            &tenant,
            &format!("create table \"{t}\" (id integer primary key)"),
        )
        .unwrap();
    }
    let space_id = spaces::require(conn, space).unwrap().id;
    let id = libsette::catalog::databases::find(conn, space_id, db)
        .unwrap()
        .unwrap()
        .id;
    libsette::catalog::mirror::refresh(conn, id, &tenant).unwrap();
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let catalog = Catalog::open(&data).unwrap();
    let conn = catalog.conn().unwrap();
    let acme = spaces::create(&conn, &SpaceName::parse("acme").unwrap(), "olive", false).unwrap();
    let open = spaces::create(&conn, &SpaceName::parse("open").unwrap(), "olive", true).unwrap();
    let id = |name: &str| users::ensure(&conn, name).unwrap();
    spaces::set_member(&conn, acme.id, id("eddie"), "editor").unwrap();
    spaces::set_member(&conn, acme.id, id("vera"), "viewer").unwrap();
    id("nora");
    add_db(&conn, &data, "acme", "main", &["t1", "t2"]);
    add_db(&conn, &data, "acme", "other", &["t3"]);
    add_db(&conn, &data, "open", "pub", &["x"]);
    let rule = |user: &str,
                db: Option<&'static str>,
                t: Option<&'static str>,
                action: &'static str,
                allow: bool| {
        grants::add(
            &conn,
            Grant {
                space_id: acme.id,
                user_id: Some(id(user)),
                database: db,
                table: t,
                action,
                allow,
                reason: "test",
            },
        )
        .unwrap();
    };
    rule("nora", Some("main"), Some("t1"), "view-table", true);
    rule("eddie", Some("main"), Some("t2"), "insert-row", false);
    rule("vera", Some("other"), None, "view-table", false);
    let main = libsette::catalog::databases::find(&conn, acme.id, "main")
        .unwrap()
        .unwrap()
        .id;
    for (name, owner, private) in [
        ("q_pub", "eddie", false),
        ("q_priv", "eddie", true),
        ("q_olive", "olive", true),
        ("q_nora", "nora", false),
    ] {
        let query = StoredQuery {
            name: name.into(),
            sql: "select 1".into(),
            is_private: private,
            owner_user_id: Some(id(owner)),
            ..StoredQuery::default()
        };
        assert!(queries::insert(&conn, main, &query).unwrap());
    }
    drop(conn);
    World {
        _dir: dir,
        catalog,
        acme: acme.id,
        open: open.id,
    }
}

/// An actor by user name ("" for anonymous), optionally through a token with `_r` restrictions.
fn actor(world: &World, name: &str, restrictions: Option<&str>) -> Actor {
    if name.is_empty() {
        return Actor::anonymous();
    }
    let conn = world.catalog.conn().unwrap();
    Actor {
        user_id: users::find_id(&conn, name).unwrap(),
        name: Some(name.into()),
        token: restrictions.map(|r| TokenGrant {
            id: 1,
            restrictions: Some(serde_json::from_str::<Restrictions>(r).unwrap()),
            expires_at: None,
        }),
    }
}

/// (user, token restrictions, space, action, resource, expected, why)
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    i64,
    &'a str,
    Resource,
    bool,
    &'a str,
);

#[test]
fn every_rule() {
    let w = world();
    let (acme, open) = (w.acme, w.open);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // roles
        ("olive", None, acme, "drop-table", table("main", "t1"), true, "owner may do everything"),
        ("olive", None, acme, "view-instance", Resource::Space, true, "owner sees the space"),
        ("eddie", None, acme, "insert-row", table("main", "t1"), true, "editor writes rows"),
        ("eddie", None, acme, "create-table", database("main"), true, "editor creates tables"),
        ("eddie", None, acme, "drop-table", table("main", "t1"), false, "editor may not drop tables"),
        ("vera", None, acme, "view-table", table("main", "t1"), true, "viewer views"),
        ("vera", None, acme, "execute-sql", database("main"), true, "viewer runs read-only SQL"),
        ("vera", None, acme, "insert-row", table("main", "t1"), false, "viewer may not write"),
        // deny wins
        ("eddie", None, acme, "insert-row", table("main", "t2"), false, "deny on a table beats the editor role"),
        ("vera", None, acme, "view-table", table("other", "t3"), false, "deny on a database covers its tables"),
        ("vera", None, acme, "view-database", database("other"), true, "a deny of view-table leaves view-database"),
        // explicit grants and implication
        ("nora", None, acme, "view-table", table("main", "t1"), true, "grant on one table"),
        ("nora", None, acme, "view-table", table("main", "t2"), false, "grant covers only its table"),
        ("nora", None, acme, "view-database", database("main"), true, "view-table implies view-database"),
        ("nora", None, acme, "view-instance", Resource::Space, true, "view-table implies view-instance"),
        ("nora", None, acme, "view-database", database("other"), false, "implication stays on the path"),
        ("nora", None, acme, "execute-sql", database("main"), false, "implication is for view actions only"),
        ("nora", None, acme, "insert-row", table("main", "t1"), false, "a grant gives only its action"),
        // private and public spaces
        ("", None, acme, "view-instance", Resource::Space, false, "anonymous sees no private space"),
        ("", None, acme, "view-table", table("main", "t1"), false, "anonymous reads nothing private"),
        ("nora", None, open, "view-table", table("pub", "x"), true, "a public space is viewable by anyone"),
        ("", None, open, "view-table", table("pub", "x"), true, "anonymous views a public space"),
        ("", None, open, "execute-sql", database("pub"), true, "anonymous runs SQL in a public space"),
        ("", None, open, "insert-row", table("pub", "x"), false, "public means read-only"),
        ("eddie", None, open, "insert-row", table("pub", "x"), false, "roles are per space"),
        // token restrictions narrow
        ("olive", Some(r#"{"a":["vt"]}"#), acme, "view-table", table("main", "t1"), true, "-a view-table allows it"),
        ("olive", Some(r#"{"a":["vt"]}"#), acme, "insert-row", table("main", "t1"), false, "-a view-table forbids the rest"),
        ("olive", Some(r#"{"a":["vt"]}"#), acme, "view-database", database("main"), true, "restriction implication to database"),
        ("olive", Some(r#"{"a":["vt"]}"#), acme, "view-instance", Resource::Space, true, "restriction implication to space"),
        ("olive", Some(r#"{"a":["view-table"]}"#), acme, "view-table", table("main", "t2"), true, "full action names work too"),
        ("olive", Some(r#"{"d":{"main":["ir"]}}"#), acme, "insert-row", table("main", "t1"), true, "-d covers the database's tables"),
        ("olive", Some(r#"{"d":{"main":["ir"]}}"#), acme, "insert-row", table("other", "t3"), false, "-d covers only its database"),
        ("olive", Some(r#"{"d":{"main":["ir"]}}"#), acme, "view-table", table("main", "t1"), false, "-d insert-row gives no view-table"),
        ("olive", Some(r#"{"d":{"main":["es","vd"]}}"#), acme, "execute-sql", database("main"), true, "-d execute-sql on its database"),
        ("olive", Some(r#"{"d":{"main":["es"]}}"#), acme, "execute-sql", database("main"), false, "execute-sql also requires view-database"),
        ("olive", Some(r#"{"a":["vi","vd","vt"]}"#), acme, "execute-sql", database("main"), false, "view actions give no execute-sql"),
        ("olive", Some(r#"{"r":{"main":{"t1":["es"]}}}"#), acme, "execute-sql", database("main"), false, "a table restriction cannot grant a database action"),
        ("olive", Some(r#"{"r":{"main":{"t1":["vt"]}}}"#), acme, "view-table", table("main", "t1"), true, "-r covers its table"),
        ("olive", Some(r#"{"r":{"main":{"t1":["vt"]}}}"#), acme, "view-table", table("main", "t2"), false, "-r covers only its table"),
        ("olive", Some(r#"{"r":{"main":{"t1":["vt"]}}}"#), acme, "view-database", database("main"), true, "-r view-table implies its database"),
        ("olive", Some(r#"{"r":{"main":{"t1":["vt"]}}}"#), acme, "view-database", database("other"), false, "-r implies no other database"),
        ("olive", Some(r#"{"r":{"main":{"t1":["vt"]}}}"#), acme, "view-instance", Resource::Space, true, "-r view-table implies the space"),
        ("olive", Some(r#"{"r":{"main":{"t1":["ir"]}}}"#), acme, "view-instance", Resource::Space, false, "insert-row implies no view"),
        ("vera", Some(r#"{"a":["ir"]}"#), acme, "insert-row", table("main", "t1"), false, "restrictions never widen"),
        ("eddie", Some(r#"{"a":["ir"]}"#), acme, "insert-row", table("main", "t2"), false, "deny still wins under a token"),
        ("olive", Some(r#"{}"#), acme, "view-instance", Resource::Space, false, "an empty restriction allows nothing"),
        // stored queries
        ("vera", None, acme, "view-query", table("main", "q_pub"), true, "every role views a query"),
        ("vera", None, acme, "store-query", database("main"), false, "viewers store no queries"),
        ("eddie", None, acme, "store-query", database("main"), true, "editors store queries"),
        ("eddie", None, acme, "view-query", table("main", "q_priv"), true, "a private query's owner views it"),
        ("vera", None, acme, "view-query", table("main", "q_priv"), false, "a private query is its owner's alone"),
        ("olive", None, acme, "view-query", table("main", "q_priv"), false, "space owners included"),
        ("olive", None, acme, "delete-query", table("main", "q_priv"), false, "nor may they delete it"),
        ("eddie", None, acme, "update-query", table("main", "q_pub"), true, "the member who stored it changes it"),
        ("eddie", None, acme, "delete-query", table("main", "q_priv"), true, "and deletes it"),
        ("vera", None, acme, "update-query", table("main", "q_pub"), false, "other members may not"),
        ("olive", None, acme, "update-query", table("main", "q_pub"), true, "space owners may change public queries"),
        ("eddie", None, acme, "update-query", table("main", "q_olive"), false, "an editor changes only their own"),
        ("nora", None, acme, "update-query", table("main", "q_nora"), false, "owning a query needs membership too"),
        ("olive", Some(r#"{"r":{"main":{"q_olive":["vq"]}}}"#), acme, "view-query", table("main", "q_olive"), true, "-r covers its query"),
        ("olive", Some(r#"{"r":{"main":{"q_olive":["vq"]}}}"#), acme, "view-query", table("main", "q_pub"), false, "-r covers only its query"),
        ("olive", Some(r#"{"r":{"main":{"q_olive":["vq"]}}}"#), acme, "execute-sql", database("main"), false, "-r view-query runs no other SQL"),
    ];
    let conn = w.catalog.conn().unwrap();
    let mut failures = Vec::new();
    for (user, restrictions, space, action, resource, expected, why) in &cases {
        let a = actor(&w, user, *restrictions);
        let got = allowed(&conn, *space, &a, action, resource).unwrap();
        if got != *expected {
            failures.push(format!("{why}: {user:?} {restrictions:?} {action} {resource:?} → {got}, expected {expected}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn listing_agrees_with_single_decisions() {
    let w = world();
    let conn = w.catalog.conn().unwrap();
    let actors = [
        ("olive", None),
        ("eddie", None),
        ("vera", None),
        ("nora", None),
        ("", None),
        ("olive", Some(r#"{"r":{"main":{"t1":["vt"]}}}"#)),
        ("olive", Some(r#"{"d":{"other":["vt","vd"]}}"#)),
    ];
    let every_table = [
        table("main", "t1"),
        table("main", "t2"),
        table("other", "t3"),
    ];
    let every_db = [database("main"), database("other")];
    let every_query = [
        table("main", "q_pub"),
        table("main", "q_priv"),
        table("main", "q_olive"),
        table("main", "q_nora"),
    ];
    for (user, restrictions) in actors {
        let a = actor(&w, user, restrictions);
        for (action, candidates) in [
            ("view-table", &every_table[..]),
            ("insert-row", &every_table[..]),
            ("view-database", &every_db[..]),
            ("execute-sql", &every_db[..]),
            ("view-query", &every_query[..]),
            ("update-query", &every_query[..]),
        ] {
            let listed: BTreeSet<String> = allowed_resources(&conn, w.acme, &a, action)
                .unwrap()
                .into_iter()
                .map(|r| format!("{r:?}"))
                .collect();
            let decided: BTreeSet<String> = candidates
                .iter()
                .filter(|r| allowed(&conn, w.acme, &a, action, r).unwrap())
                .map(|r| format!("{r:?}"))
                .collect();
            assert_eq!(listed, decided, "{user:?} {restrictions:?} {action}");
        }
    }
    // The space-level listing is the space itself or nothing.
    let anon = allowed_resources(&conn, w.acme, &Actor::anonymous(), "view-instance").unwrap();
    assert!(anon.is_empty());
    let owner =
        allowed_resources(&conn, w.acme, &actor(&w, "olive", None), "view-instance").unwrap();
    assert_eq!(owner, vec![Resource::Space]);
}
