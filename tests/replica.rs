//! Embedded replicas against a real sqld primary (`LIBSETTE_SQLD`): what
//! the replicated mode stands on. Namespaces through the admin API, a write
//! through one node's replica read on another's at the frame it produced,
//! user SQL on a plain read-only connection to the replica file, and a
//! primary that goes away and comes back.

mod common;

use std::time::Duration;

use common::sqld::{self, Sqld};
use libsette::replica::{Namespace, Replica, admin::Admin};
use libsette::sqlite;

fn count(db: &libsql::Database, sql: &str) -> i64 {
    let conn = sqlite::connect(db).unwrap();
    sqlite::query_one(&conn, sql, ())
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap()
}

async fn write(replica: &Replica, statements: &[&str]) -> u64 {
    let conn = replica.writer().unwrap();
    for sql in statements {
        conn.execute(sql, ())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    replica.written_frame().expect("a write reports its frame")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_is_read_on_another_at_its_frame() {
    let Some(binary) = sqld::binary("a_write_on_one_node_is_read_on_another_at_its_frame") else {
        return;
    };
    let primary = Sqld::start(binary);
    let admin = Admin::new(&primary.admin_url(), None);
    let ns = Namespace::database(7).unwrap();
    admin.create(&ns).await.unwrap();
    admin.create(&ns).await.expect("creating twice is fine");

    let nodes = tempfile::tempdir().unwrap();
    let a = Replica::open(&primary.primary(), &ns, &nodes.path().join("a/db.db"))
        .await
        .unwrap();
    let b = Replica::open(&primary.primary(), &ns, &nodes.path().join("b/db.db"))
        .await
        .unwrap();
    let first = write(&a, &["create table t (id integer primary key, v text)"]).await;
    let frame = write(
        &a,
        &[
            "begin immediate",
            "insert into t (v) values ('one')",
            "insert into t (v) values ('two')",
            "commit",
        ],
    )
    .await;
    assert!(
        frame > first,
        "a later write has a later frame: {first} then {frame}"
    );
    assert!(
        admin.frame(&ns).await.unwrap() >= frame,
        "the primary is at the write's frame"
    );

    // Node B, asked for A's frame, syncs to it and reads both rows on a
    // plain read-only connection to its replica file.
    assert!(b.sync_until(frame, Duration::from_secs(5)).await.unwrap() >= frame);
    let reader = b.open_reader().unwrap();
    assert_eq!(count(&reader, "select count(*) from t"), 2);
    // The reader is read-only: a write on it fails and changes nothing.
    let conn = sqlite::connect(&reader).unwrap();
    assert!(sqlite::execute(&conn, "insert into t (v) values ('three')", ()).is_err());
    // Node A reads its own writes.
    assert!(a.frame() >= frame || a.sync().await.unwrap() >= frame);
    assert_eq!(
        count(&a.open_reader().unwrap(), "select count(*) from t"),
        2
    );

    // A rolled-back transaction writes nothing anywhere.
    let conn = a.writer().unwrap();
    conn.execute("begin immediate", ()).await.unwrap();
    conn.execute("insert into t (v) values ('never')", ())
        .await
        .unwrap();
    conn.execute("rollback", ()).await.unwrap();
    b.sync().await.unwrap();
    assert_eq!(
        count(&reader, "select count(*) from t where v = 'never'"),
        0
    );

    // Deleting the namespace on the primary leaves the replica files alone.
    admin.delete(&ns).await.unwrap();
    admin.delete(&ns).await.expect("deleting twice is fine");
    assert!(b.path().is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_serves_reads_while_the_primary_is_down_and_resumes() {
    let Some(binary) = sqld::binary("a_replica_serves_reads_while_the_primary_is_down_and_resumes")
    else {
        return;
    };
    let mut primary = Sqld::start(binary);
    let admin = Admin::new(&primary.admin_url(), None);
    let ns = Namespace::database(1).unwrap();
    admin.create(&ns).await.unwrap();
    let nodes = tempfile::tempdir().unwrap();
    let path = nodes.path().join("a/db.db");
    let a = Replica::open(&primary.primary(), &ns, &path).await.unwrap();
    write(
        &a,
        &[
            "create table t (id integer primary key)",
            "insert into t values (1)",
        ],
    )
    .await;
    a.sync().await.unwrap();

    primary.stop();
    let started = std::time::Instant::now();
    assert!(
        a.sync().await.is_err(),
        "a sync fails while the primary is down"
    );
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "a failed sync is bounded"
    );
    assert_eq!(
        count(&a.open_reader().unwrap(), "select count(*) from t"),
        1
    );
    let conn = a.writer().unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(15),
        conn.execute("insert into t values (2)", ()),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a write fails while the primary is down"
    );

    primary.restart();
    let mut frame = None;
    for _ in 0..50 {
        if let Ok(f) = tokio::time::timeout(
            Duration::from_secs(5),
            a.writer().unwrap().execute("insert into t values (3)", ()),
        )
        .await
        .map_err(|_| ())
        .and_then(|r| r.map_err(|_| ()))
        {
            let _ = f;
            frame = a.written_frame();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let frame = frame.expect("writes work again once the primary is back");
    a.sync_until(frame, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        count(&a.open_reader().unwrap(), "select count(*) from t"),
        2
    );

    // A node restarted on its folder resumes from its file.
    drop(a);
    let again = Replica::open(&primary.primary(), &ns, &path).await.unwrap();
    assert!(
        again.frame() >= frame,
        "the reopened replica knows its frame"
    );
    assert_eq!(
        count(&again.open_reader().unwrap(), "select count(*) from t"),
        2
    );
}

#[test]
fn namespace_names_come_from_catalog_ids_only() {
    assert_eq!(Namespace::database(12).unwrap().as_str(), "libsette-db-12");
    assert!(Namespace::database(0).is_err());
    assert!(Namespace::database(-3).is_err());
    assert_eq!(Namespace::catalog().as_str(), "libsette-catalog");
    for bad in [
        "",
        "../x",
        "libsette-db-1/..",
        "LIBSETTE-DB-1",
        "other",
        "libsette-db 1",
    ] {
        assert!(Namespace::parse(bad).is_err(), "{bad:?}");
    }
    assert!(Namespace::parse("libsette-db-12").is_ok());
}
