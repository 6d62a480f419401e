//! The result cache and HTTP caching: repeated reads of a settled database
//! come from the cache, any write to the file (from any process) is seen at
//! once, ETags answer 304, and permission changes still apply within a second.

mod common;

use std::time::Duration;

use common::Server;
use libsette::sqlite;

#[tokio::test]
async fn writes_from_another_process_are_seen_at_once() {
    let server = Server::start(&[]);
    server.settle().await;
    let path = "/demo/library/authors.json?_shape=array&_col=name";
    let first = server.get(path, None).await;
    assert_eq!(first.json().as_array().unwrap().len(), 5);
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = server.get(path, None).await;
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.text, first.text);

    // Write to the file directly, as another program would.
    let file = server.data().join("spaces/demo/library.db");
    let db = sqlite::open_file(&file).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute(
        &conn,
        "insert into authors (name) values (?1)",
        ["Ngũgĩ wa Thiong'o"],
    )
    .unwrap();
    let after = server.get(path, None).await;
    assert_eq!(
        after.json().as_array().unwrap().len(),
        6,
        "a write is never hidden by the cache"
    );
    assert_ne!(after.header("etag"), Some(etag.as_str()));

    // Once settled again, the new answer is cached under a new ETag.
    server.settle().await;
    let cached = server.get(path, None).await;
    assert_eq!(cached.json().as_array().unwrap().len(), 6);
    let new_etag = cached.header("etag").expect("an ETag once settled");
    assert_ne!(new_etag, etag);
    assert_eq!(server.get(path, None).await.header("etag"), Some(new_etag));
}

/// Writes from another process land at every distance from the moment the
/// file settles (where a stamp starts to be trusted): each read that starts
/// after a write has been acknowledged sees it, cached or not.
#[tokio::test]
async fn writes_around_the_settle_time_are_never_hidden() {
    let server = Server::start(&[]);
    let path = "/demo/library/authors.json?_shape=array&_col=name";
    let file = server.data().join("spaces/demo/library.db");
    let db = sqlite::open_file(&file).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    let mut expected = server
        .get(path, None)
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    for pause_ms in [0, 500, 950, 1000, 1050, 1100, 1500] {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        // Read twice (the second may be a cache hit), write, read again.
        for _ in 0..2 {
            let rows = server.get(path, None).await.json();
            assert_eq!(rows.as_array().unwrap().len(), expected);
        }
        sqlite::execute(&conn, "insert into authors (name) values ('x')", ()).unwrap();
        expected += 1;
        let rows = server.get(path, None).await.json();
        assert_eq!(
            rows.as_array().unwrap().len(),
            expected,
            "after a pause of {pause_ms} ms"
        );
    }
}

#[tokio::test]
async fn if_none_match_answers_304() {
    let server = Server::start(&[]);
    server.settle().await;
    let path = format!("{}/demo/library/books.json?_size=2", server.base);
    let first = server.client.get(&path).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let second = server
        .client
        .get(&path)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 304);
    let other = server
        .client
        .get(&path)
        .header("If-None-Match", "\"nope\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(other.headers()["cache-control"], "max-age=5");
}

#[tokio::test]
async fn cached_answers_respect_permission_changes() {
    let server = Server::start(&[]);
    let path = "/demo/library/books.json?_size=1";
    assert_eq!(server.get(path, None).await.status, 200);
    assert_eq!(server.get(path, None).await.status, 200);
    server.cli(&["space", "set", "demo", "--private"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.get(path, None).await.status, 404);

    let token = server.token(&["demo", "root"]);
    let authed = server.get(path, Some(&token)).await;
    assert_eq!(authed.status, 200);
    assert_eq!(authed.header("cache-control"), Some("no-store, private"));
    server.cli(&["token", "revoke", "demo", &token]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.get(path, Some(&token)).await.status, 401);
}

/// The result cache's count of `event` (hit, miss, eviction) in `metrics`.
fn results(metrics: &str, event: &str) -> u64 {
    common::metric(
        metrics,
        &format!(r#"libsette_cache_events_total{{cache="results",event="{event}"}}"#),
    )
}

/// `--result-cache-mb 0` keeps no answer; ETags still revalidate.
#[tokio::test]
async fn a_result_cache_of_zero_keeps_nothing() {
    let server = Server::start(&["--result-cache-mb", "0"]);
    server.settle().await;
    let path = "/demo/library/books.json?_size=2";
    let mut etags = std::collections::HashSet::new();
    for _ in 0..5 {
        let reply = server.get(path, None).await;
        assert_eq!(reply.status, 200);
        etags.insert(reply.header("etag").expect("an ETag").to_owned());
    }
    assert_eq!(etags.len(), 1);
    let metrics = server.get("/metrics", None).await.text;
    assert_eq!(results(&metrics, "hit"), 0, "{metrics}");
    assert!(results(&metrics, "miss") >= 5, "{metrics}");
    let revalidated = server
        .client
        .get(format!("{}{path}", server.base))
        .header("If-None-Match", etags.into_iter().next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
}

/// Repeated answers come from the cache (stored at the first or second
/// request, see `libsette::cache`), and any answer's ETag revalidates.
#[tokio::test]
async fn repeated_answers_come_from_the_cache() {
    let server = Server::start(&[]);
    server.settle().await;
    let once = server.get("/demo/library/books.json?_size=1", None).await;
    let etag = once.header("etag").expect("an ETag even when not stored");
    for _ in 0..4 {
        let again = server.get("/demo/library/books.json?_size=3", None).await;
        assert_eq!(again.status, 200);
    }
    let metrics = server.get("/metrics", None).await.text;
    assert!(results(&metrics, "hit") >= 2, "{metrics}");
    // Kept or not, the one-off answer's ETag answers 304.
    let revalidated = server
        .client
        .get(format!("{}/demo/library/books.json?_size=1", server.base))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
}

/// Catalog answers outlive their second while the catalog is unchanged; a
/// change made by another process still applies within a second.
#[tokio::test]
async fn long_lived_catalog_answers_still_follow_changes() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root"]);
    let path = "/demo/library/books.json?_size=1";
    let hits = |metrics: &str, cache: &str| -> u64 {
        common::metric(
            metrics,
            &format!(r#"libsette_cache_events_total{{cache="{cache}",event="hit"}}"#),
        )
    };
    // Each read asks for something new, so it takes the full path (the
    // front index would answer a repeated one without these caches).
    let other = |n: u32| format!("{path}&_n={n}");
    // The token's first use is recorded in the catalog: let that settle too.
    assert_eq!(server.get(&other(1), Some(&token)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.get(&other(2), Some(&token)).await.status, 200);
    assert_eq!(server.get(&other(3), None).await.status, 200);
    let before = server.get("/metrics", None).await.text;
    // Well past a second: these answers live on because nothing changed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.get(&other(4), Some(&token)).await.status, 200);
    assert_eq!(server.get(&other(5), None).await.status, 200);
    let after = server.get("/metrics", None).await.text;
    for cache in ["tokens", "spaces", "decisions", "databases"] {
        assert!(
            hits(&after, cache) > hits(&before, cache),
            "{cache}: {after}"
        );
    }

    server.cli(&["token", "revoke", "demo", &token]);
    server.cli(&["space", "set", "demo", "--private"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.get(path, Some(&token)).await.status, 401);
    assert_eq!(server.get(path, None).await.status, 404);
}

/// Answers that may differ from one run to the next (`random()`, the time
/// 'now') are never reused and carry no ETag; a plain query's are.
#[tokio::test]
async fn volatile_answers_are_never_cached() {
    let server = Server::start(&[]);
    server.settle().await;
    let query = |sql: &str| {
        format!(
            "/demo/library/-/query.json?_shape=array&sql={}",
            sql.replace(' ', "+").replace('\'', "%27")
        )
    };
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        let reply = server.get(&query("select random() as r"), None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("etag"), None);
        seen.insert(reply.json()[0]["r"].to_string());
    }
    assert_eq!(seen.len(), 4, "random() answered the same twice: {seen:?}");
    for sql in [
        "select current_timestamp as t",
        "select datetime('now') as t",
        "select strftime('%s', 'now') as t",
    ] {
        for _ in 0..3 {
            let reply = server.get(&query(sql), None).await;
            assert_eq!(reply.status, 200, "{sql}");
            assert_eq!(reply.header("etag"), None, "{sql}");
        }
    }
    // `_where` is user SQL too.
    for _ in 0..3 {
        let reply = server
            .get("/demo/library/authors.json?_where=random()%3E0", None)
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("etag"), None);
    }
    let plain = server.get(&query("select 1 as one"), None).await;
    assert!(plain.header("etag").is_some());
}

/// The front index's count of hits (`libsette::http::front`).
fn front_hits(metrics: &str) -> u64 {
    common::metric(
        metrics,
        r#"libsette_cache_events_total{cache="front",event="hit"}"#,
    )
}

/// A repeated read is answered from the front index with the very answer
/// the full path gave: same body, same headers.
#[tokio::test]
async fn repeated_reads_are_answered_from_the_front_as_the_full_path_answers() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root"]);
    server.settle().await;
    let path = "/demo/library/books.json?_size=2";
    // The first is computed, the second kept, later ones found from the front.
    let replies = [
        server.get(path, Some(&token)).await,
        server.get(path, Some(&token)).await,
        server.get(path, Some(&token)).await,
        server.get(path, Some(&token)).await,
    ];
    let metrics = server.get("/metrics", None).await.text;
    assert!(front_hits(&metrics) >= 2, "{metrics}");
    for reply in &replies[1..] {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text, replies[0].text);
        for name in ["etag", "cache-control", "vary", "content-type", "link"] {
            assert_eq!(reply.header(name), replies[0].header(name), "{name}");
        }
    }
    assert_eq!(
        replies[3].header("cache-control"),
        Some("no-store, private")
    );
}

/// An answer found from the front is only ever given to the credentials it
/// was computed for: not to another space's token, nor to no token, nor to
/// a token that has expired since.
#[tokio::test]
async fn the_front_answers_only_the_credentials_it_was_computed_for() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "other", "--owner", "root"]);
    server.cli(&["space", "set", "demo", "--private"]);
    let started = std::time::Instant::now();
    let token = server.token(&["demo", "root", "--expires-after", "4"]);
    let elsewhere = server.token(&["other", "root"]);
    let path = "/demo/library/books.json?_size=1";
    // First uses are written to the catalog: let the catalog go quiet, so
    // that nothing but the clock can tell the token is over.
    assert_eq!(server.get(path, Some(&token)).await.status, 200);
    assert_eq!(server.get(path, Some(&elsewhere)).await.status, 404);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..4 {
        assert_eq!(server.get(path, Some(&token)).await.status, 200);
    }
    let metrics = server.get("/metrics", None).await.text;
    assert!(front_hits(&metrics) >= 2, "{metrics}");
    assert_eq!(server.get(path, None).await.status, 404);
    assert_eq!(server.get(path, Some(&elsewhere)).await.status, 404);
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(started.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = server.get(path, Some(&token)).await;
    assert_eq!(expired.status, 401, "{}", expired.text);
}

/// A revocation applies within a second to answers the front holds, even
/// when the answers the check rested on were read long before.
#[tokio::test]
async fn a_revocation_reaches_the_front_within_a_second() {
    let server = Server::start(&[]);
    let token = server.token(&["demo", "root"]);
    let path = "/demo/library/books.json?_size=1";
    assert_eq!(server.get(path, Some(&token)).await.status, 200);
    // The token's first use and the files settle; the catalog goes quiet.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..4 {
        assert_eq!(server.get(path, Some(&token)).await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.get(path, Some(&token)).await.status, 200);
    let before = front_hits(&server.get("/metrics", None).await.text);
    assert!(before >= 1);
    server.cli(&["token", "revoke", "demo", &token]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.get(path, Some(&token)).await.status, 401);
}

/// Answers from the front still count against the caller's rate limit.
#[tokio::test]
async fn answers_from_the_front_count_against_the_rate_limit() {
    let server = Server::start(&["--setting", "rate_limit_anonymous_per_minute", "6"]);
    server.settle().await;
    let path = "/demo/library/books.json?_size=1";
    for _ in 0..6 {
        assert_eq!(server.get(path, None).await.status, 200);
    }
    let refused = server.get(path, None).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.header("retry-after").is_some());
    let metrics = server.get("/metrics", None).await.text;
    assert!(front_hits(&metrics) >= 3, "{metrics}");
}
