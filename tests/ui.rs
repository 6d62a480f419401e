//! The web UI over real HTTP: login and sessions, CSRF defences, escaping of
//! hostile names and values, HTML error pages, what viewers and other
//! spaces' members see, and the API tokens page and JSON API.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::browser::Browser;
use common::{BIN, Server};
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::sqlite;
use serde_json::{Value, json};

const NASTY_TABLE: &str = "<b>\"x'</b>";
const NASTY_COLUMN: &str = "<i>c\"</i>";
const NASTY_VALUE: &str = "<script>alert(\"x\")</script>";

/// A data folder with users alice (owner of `acme`) and bob (no role yet),
/// carol (owner of `other`), and hostile names in `acme/evil`.
fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let catalog = Catalog::open(&data).unwrap();
    let conn = catalog.conn().unwrap();
    users::create(&conn, "alice", Some("alice-pw")).unwrap();
    users::create(&conn, "bob", Some("bob-pw")).unwrap();
    users::create(&conn, "carol", Some("carol-pw")).unwrap();
    let acme = spaces::create(&conn, &SpaceName::parse("acme").unwrap(), "alice", false).unwrap();
    let other = spaces::create(&conn, &SpaceName::parse("other").unwrap(), "carol", false).unwrap();
    let add_db = |space: &str, space_id: i64, db: &str, sql: &str| {
        import::create(&conn, &data, space, &DbName::parse(db).unwrap()).unwrap();
        let file = sqlite::open_file(&data.database_file(space, db)).unwrap();
        let tenant = sqlite::connect(&file).unwrap();
        sqlite::execute_batch(&tenant, sql).unwrap();
        let id = libsette::catalog::databases::find(&conn, space_id, db)
            .unwrap()
            .unwrap()
            .id;
        libsette::catalog::mirror::refresh(&conn, id, &tenant).unwrap();
    };
    let nasty = format!(
        "create table \"{t}\" (id integer primary key, \"{c}\" text);
         insert into \"{t}\" values (1, '{v}');
         create table authors (id integer primary key, name text);
         insert into authors values (1, 'Ann <Author>'), (2, 'Ben');
         create table books (id integer primary key, title text, genre text, author_id integer references authors(id));
         insert into books values (1, 'One', 'sf', 1), (2, 'Two', 'sf', 2), (3, 'Three', 'poetry', 1);",
        t = NASTY_TABLE.replace('"', "\"\""),
        c = NASTY_COLUMN.replace('"', "\"\""),
        v = NASTY_VALUE.replace('\'', "''"),
    );
    add_db("acme", acme.id, "evil", &nasty);
    add_db(
        "other",
        other.id,
        "hidden",
        "create table secret_table_xyz (id integer primary key)",
    );
    dir
}

#[tokio::test]
async fn login_sets_a_signed_httponly_cookie_and_logout_ends_it() {
    let server = Server::start_in(world(), &[]);
    let mut b = Browser::new(&server);
    let form = b.get("/-/login").await;
    assert_eq!(form.status, 200);
    assert!(
        form.text
            .contains("<form method=\"post\" action=\"/-/login\"")
    );
    assert_eq!(b.get("/").await.location(), "/-/login", "logged out");

    let wrong = b.login("alice", "nope").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text.contains("Wrong username or password"));
    let unknown = b.login("nobody", "nope").await;
    assert_eq!(unknown.status, 401);
    assert!(b.cookie.is_none());

    let ok = b.login("alice", "alice-pw").await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.location(), "/");
    let set = ok.headers["set-cookie"].to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"));
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.text.contains("href=\"/acme/\""));
    assert!(!home.text.contains("other"), "only your spaces");

    // Pages accept the cookie; the JSON API does too.
    let actor = b.get("/acme/-/actor.json").await;
    assert!(actor.text.contains("\"alice\""), "{}", actor.text);

    // A tampered cookie is simply anonymous.
    let good = b.cookie.clone().unwrap();
    b.cookie = Some(format!("{}x", good));
    assert_eq!(b.get("/").await.location(), "/-/login");
    assert_eq!(
        b.get("/acme/").await.status,
        404,
        "private space, anonymous"
    );
    b.cookie = Some(good);

    // Logout needs the CSRF token.
    let home = b.get("/").await;
    assert_eq!(b.post("/-/logout", &[]).await.status, 403);
    let out = b.post("/-/logout", &[("csrftoken", &home.csrf())]).await;
    assert_eq!(out.status, 303);
    assert!(b.cookie.is_none());
}

#[tokio::test]
async fn https_behind_a_proxy_gets_a_secure_cookie() {
    let server = Server::start_in(world(), &[]);
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/-/login", server.base))
        .header("X-Forwarded-Proto", "https")
        .form(&[("username", "alice"), ("password", "alice-pw")])
        .send()
        .await
        .unwrap();
    let set = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let server = Server::start_in(world(), &[]);
    let mut b = Browser::new(&server);
    for _ in 0..10 {
        assert_eq!(b.login("alice", "wrong").await.status, 401);
    }
    let limited = b.login("alice", "alice-pw").await;
    assert_eq!(limited.status, 429);
    assert!(b.cookie.is_none());
    // Another user from the same address is not locked out yet.
    assert_eq!(b.login("bob", "bob-pw").await.status, 303);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let server = Server::start_in(world(), &[]);
    let mut b = Browser::new(&server);
    // Login CSRF: a login form posted from another site.
    let evil = b
        .http
        .post(format!("{}/-/login", b.base))
        .header("Origin", "http://evil.test")
        .form(&[("username", "alice"), ("password", "alice-pw")]);
    assert_eq!(b.send(evil).await.status, 403);
    b.login("alice", "alice-pw").await;
    let page = b.get("/acme/-/tokens").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    // No token in the form.
    assert_eq!(b.post("/acme/-/tokens", &[("name", "x")]).await.status, 403);
    // A token, but from another site.
    for (header, value) in [
        ("Origin", "http://evil.test"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let request = b
            .http
            .post(format!("{}/acme/-/tokens", b.base))
            .header(header, value)
            .form(&[("name", "x"), ("csrftoken", csrf.as_str())]);
        assert_eq!(b.send(request).await.status, 403, "{header}");
    }
    // The JSON API with a cookie from another site too.
    let request = b
        .http
        .post(format!("{}/acme/-/api/tokens", b.base))
        .header("Origin", "http://evil.test")
        .json(&json!({}));
    assert_eq!(b.send(request).await.status, 403);
    // The same form, same-origin, works.
    let made = b
        .post("/acme/-/tokens", &[("name", "x"), ("csrftoken", &csrf)])
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert!(made.text.contains("lstok_"));
}

#[tokio::test]
async fn hostile_names_and_values_are_escaped_everywhere() {
    let server = Server::start_in(world(), &[]);
    let mut b = Browser::new(&server);
    b.login("alice", "alice-pw").await;
    let raw = [NASTY_TABLE, NASTY_COLUMN, NASTY_VALUE, "<Author>"];
    let pages = [
        "/acme/".to_owned(),
        "/acme/evil".to_owned(),
        format!("/acme/evil/{}", libsette::names::tilde_encode(NASTY_TABLE)),
        format!(
            "/acme/evil/{}/1",
            libsette::names::tilde_encode(NASTY_TABLE)
        ),
        "/acme/evil/books?_facet=genre".to_owned(),
        "/acme/evil/-/query?sql=select+%27%3Cscript%3Ex%3C%2Fscript%3E%27+as+%22%3Cth%3E%22"
            .to_owned(),
        "/acme/-/tokens".to_owned(),
    ];
    for path in &pages {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        for text in raw {
            assert!(!page.text.contains(text), "{path} shows {text} unescaped");
        }
        assert!(!page.text.contains("<script>x"), "{path}");
        assert!(!page.text.contains("<th>\""), "{path}");
    }
    let table = b
        .get(&format!(
            "/acme/evil/{}",
            libsette::names::tilde_encode(NASTY_TABLE)
        ))
        .await;
    assert!(
        table
            .text
            .contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;"),
        "{}",
        table.text
    );
    assert!(table.text.contains("&#60;i&#62;c&#34;&#60;/i&#62;"));
}

#[tokio::test]
async fn table_page_sorts_filters_facets_and_labels() {
    let server = Server::start_in(world(), &[]);
    let mut b = Browser::new(&server);
    b.login("alice", "alice-pw").await;
    let page = b.get("/acme/evil/books").await;
    assert_eq!(page.status, 200);
    // Every operator is offered.
    for op in [
        "exact",
        "notcontains",
        "arraycontains",
        "date",
        "isnull__1",
        "notblank__1",
    ] {
        assert!(page.text.contains(&format!("value=\"{op}\"")), "{op}");
    }
    // Foreign keys as labelled links.
    assert!(
        page.text
            .contains("href=\"/acme/evil/authors/1\">Ann &#60;Author&#62;</a>"),
        "{}",
        page.text
    );
    // Sort links in headers.
    assert!(page.text.contains("href=\"/acme/evil/books?_sort=title\""));
    let sorted = b.get("/acme/evil/books?_sort=title").await;
    assert!(
        sorted
            .text
            .contains("href=\"/acme/evil/books?_sort_desc=title\"")
    );
    // The filter form redirects to Datasette's arguments.
    let redirect = b
        .get("/acme/evil/books?_filter_column=genre&_filter_op=exact&_filter_value=sf&_sort=title")
        .await;
    assert_eq!(redirect.status, 302);
    assert_eq!(
        redirect.location(),
        "/acme/evil/books?_sort=title&genre__exact=sf"
    );
    let filtered = b.get("/acme/evil/books?genre=sf&_facet=genre").await;
    assert!(filtered.text.contains("2 rows"), "{}", filtered.text);
    assert!(!filtered.text.contains("Three"));
    // JSON and CSV of exactly this view.
    assert!(
        filtered
            .text
            .contains("href=\"/acme/evil/books.json?genre=sf&#38;_facet=genre\"")
    );
    assert!(
        filtered
            .text
            .contains("href=\"/acme/evil/books.csv?genre=sf&#38;_facet=genre\"")
    );
    // A facet with counts and a toggle that removes the selection.
    assert!(filtered.text.contains("data-facet=\"genre\""));
    assert!(
        filtered.text.contains(
            "href=\"/acme/evil/books?_facet=genre\">sf</a> <span class=\"muted\">2</span>"
        ),
        "{}",
        filtered.text
    );
    // The row page links back from books.
    let author = b.get("/acme/evil/authors/1").await;
    assert!(
        author
            .text
            .contains("href=\"/acme/evil/books?author_id=1\">2 rows from author_id in books</a>"),
        "{}",
        author.text
    );
}

#[tokio::test]
async fn error_pages_are_html_and_never_echo_the_url() {
    let server = Server::start_in(world(), &[]);
    let mut b = Browser::new(&server);
    b.login("alice", "alice-pw").await;
    let page = b.get("/acme/zz-probe-db/zz%3Cscript%3E").await;
    assert_eq!(page.status, 404);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!page.text.contains("zz-probe") && !page.text.contains("<script>"));
    let json = b.get("/acme/zz-probe-db/t.json").await;
    assert_eq!(json.status, 404);
    assert!(json.text.starts_with('{'));
    let other = b.get("/other/hidden").await;
    assert_eq!(other.status, 404);
    assert!(!other.text.contains("secret_table_xyz"));
}

#[tokio::test]
async fn members_viewers_and_other_spaces() {
    let server = Server::start_in(world(), &[]);
    let mut alice = Browser::new(&server);
    alice.login("alice", "alice-pw").await;
    let members = alice.get("/acme/-/members").await;
    assert_eq!(members.status, 200);
    let csrf = members.csrf();
    let add = alice
        .post(
            "/acme/-/members",
            &[
                ("op", "add"),
                ("user", "bob"),
                ("role", "editor"),
                ("csrftoken", &csrf),
            ],
        )
        .await;
    assert_eq!(add.status, 303);
    let change = alice
        .post(
            "/acme/-/members",
            &[
                ("op", "change"),
                ("user", "bob"),
                ("role", "viewer"),
                ("csrftoken", &csrf),
            ],
        )
        .await;
    assert_eq!(change.status, 303);
    let unknown = alice
        .post(
            "/acme/-/members",
            &[
                ("op", "add"),
                ("user", "zed"),
                ("role", "viewer"),
                ("csrftoken", &csrf),
            ],
        )
        .await;
    // An unknown name is invited, answered exactly as a known one (see
    // tests/logins.rs for the comparison).
    assert_eq!(unknown.status, 303);
    let last_owner = alice
        .post(
            "/acme/-/members",
            &[("op", "remove"), ("user", "alice"), ("csrftoken", &csrf)],
        )
        .await;
    assert_eq!(last_owner.status, 400);
    assert!(last_owner.text.contains("at least one owner"));
    let home = alice.get("/acme/").await;
    assert!(
        home.text.contains("bob <span class=\"pill\">viewer</span>"),
        "{}",
        home.text
    );

    let mut bob = Browser::new(&server);
    bob.login("bob", "bob-pw").await;
    let space = bob.get("/acme/").await;
    assert_eq!(space.status, 200);
    assert!(
        !space.text.contains("/acme/-/members"),
        "no members link for viewers"
    );
    assert!(space.text.contains("/acme/-/tokens"));
    assert_eq!(bob.get("/acme/-/members").await.status, 403);
    let tokens = bob.get("/acme/-/tokens").await;
    assert!(tokens.text.contains("value=\"all:vt\""));
    assert!(
        !tokens.text.contains(":ir\""),
        "viewers cannot delegate insert-row"
    );
    let home = bob.get("/").await;
    assert!(home.text.contains("/acme/") && !home.text.contains("other"));
    for path in ["/other/", "/other/hidden", "/other/-/tokens"] {
        let page = bob.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.text.contains("secret_table_xyz"));
    }
    // Creating spaces is for the instance admin only.
    let csrf = home.csrf();
    assert_eq!(
        bob.post("/-/spaces", &[("name", "mine"), ("csrftoken", &csrf)])
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn api_tokens_json_create_list_revoke_and_narrowing() {
    let server = Server::start_in(world(), &[]);
    // A token manages tokens only when given create-token explicitly.
    let parent = server.token(&[
        "acme",
        "alice",
        "-a",
        "create-token",
        "-r",
        "evil",
        "books",
        "view-table",
        "--expires-after",
        "3600",
    ]);
    let client = reqwest::Client::new();
    let url = format!("{}/acme/-/api/tokens", server.base);
    let post = |body: Value, token: &str| client.post(&url).bearer_auth(token).json(&body).send();
    let wider = post(
        json!({"restrict_all": ["view-table"], "expires_after": 60}),
        &parent,
    )
    .await
    .unwrap();
    assert_eq!(wider.status(), 403);
    let unrestricted = post(json!({"expires_after": 60}), &parent).await.unwrap();
    assert_eq!(unrestricted.status(), 403);
    let longer = post(
        json!({"restrict_resource": {"evil": {"books": ["vt"]}}, "expires_after": 7200}),
        &parent,
    )
    .await
    .unwrap();
    assert_eq!(longer.status(), 403);
    let ok = post(json!({"name": "child", "restrict_resource": {"evil": {"books": ["view-table"]}}, "expires_after": 60}), &parent).await.unwrap();
    assert_eq!(ok.status(), 201);
    let body: Value = ok.json().await.unwrap();
    let child = body["token"].as_str().unwrap().to_owned();
    let id = body["token_info"]["id"].as_i64().unwrap();
    assert_eq!(
        body["token_info"]["restrictions"],
        json!({"r": {"evil": {"books": ["vt"]}}})
    );

    let books = server.get("/acme/evil/books.json", Some(&child)).await;
    assert_eq!(books.status, 200);
    assert_eq!(
        server
            .get("/acme/evil/authors.json", Some(&child))
            .await
            .status,
        403
    );
    // Pages take bearer tokens too.
    let page = server.get("/acme/evil/books", Some(&child)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    let list: Value = client
        .get(&url)
        .bearer_auth(&parent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "child")
    );
    let revoked = client
        .post(format!("{url}/{id}/revoke"))
        .bearer_auth(&parent)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        server
            .get("/acme/evil/books.json", Some(&child))
            .await
            .status,
        401
    );

    // Anonymous and non-members may not.
    assert_eq!(
        client
            .post(&url)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let carol = server.token(&["other", "carol"]);
    assert_eq!(
        post(json!({}), &carol).await.unwrap().status(),
        404,
        "bound to its space"
    );
}

#[tokio::test]
async fn token_lifetimes_are_capped_by_max_signed_tokens_ttl() {
    let dir = world();
    common::cli(
        dir.path(),
        &[
            "space",
            "set",
            "acme",
            "--setting",
            "max_signed_tokens_ttl",
            "3600",
        ],
    );
    let server = Server::start_in(dir, &[]);
    let mut b = Browser::new(&server);
    b.login("alice", "alice-pw").await;
    let page = b.get("/acme/-/tokens").await;
    assert!(
        !page.text.contains("value=\"never\""),
        "never is not offered"
    );
    let csrf = page.csrf();
    let long = b
        .post(
            "/acme/-/tokens",
            &[("expires", "86400"), ("csrftoken", &csrf)],
        )
        .await;
    assert_eq!(long.status, 400);
    assert!(long.text.contains("at most 3600 seconds"));
    let short = b
        .post(
            "/acme/-/tokens",
            &[
                ("name", "hourly"),
                ("expires", "3600"),
                ("restrict", "resource:evil:books:vt"),
                ("csrftoken", &csrf),
            ],
        )
        .await;
    assert_eq!(short.status, 201);
    assert!(
        short.text.contains("evil/books: view-table"),
        "{}",
        short.text
    );
}

#[tokio::test]
async fn first_serve_prints_a_one_time_login_link_for_the_admin() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("LIBSETTE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(10)
    {
        let line = line.unwrap();
        let done = line.contains("auth-token");
        lines.push(line);
        if done {
            break;
        }
    }
    let link = lines
        .iter()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.contains("/-/auth-token?token="))
        })
        .unwrap_or_else(|| panic!("no login link in {lines:?}"))
        .to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = client.get(&link).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let cookie = first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let base = link.split("/-/").next().unwrap().to_owned();
    let home = client
        .get(format!("{base}/"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    let text = home.text().await.unwrap();
    assert!(
        text.contains("Create a space"),
        "the admin may create spaces"
    );
    assert_eq!(
        client.get(&link).send().await.unwrap().status(),
        403,
        "single use"
    );
    let _ = child.kill();
    let _ = child.wait();

    // A later start prints no link.
    let mut again = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("LIBSETTE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(again.stdout.take().unwrap())
        .lines()
        .take(4)
        .map(Result::unwrap)
        .collect();
    assert!(!lines.iter().any(|l| l.contains("auth-token")));
    let _ = again.kill();
    let _ = again.wait();
}
