//! Logging in under attack, over real HTTP against the real binary: login
//! floods stay bounded in memory and in password checks, failures from one
//! address do not lock the user out elsewhere, `next=` never leads off this
//! server, session cookies end server-side (logout, `user passwd`, "log out
//! everywhere"), and the members form does not tell which user names exist.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::browser::Browser;
use common::{BIN, Server, metric};
use libsette::catalog::{Catalog, DataDir, spaces, users};
use libsette::names::SpaceName;

/// Users alice (owner of `acme`), bob and carol, with passwords `{name}-pw`.
fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let catalog = Catalog::open(&data).unwrap();
    let conn = catalog.conn().unwrap();
    for name in ["alice", "bob", "carol"] {
        users::create(&conn, name, Some(&format!("{name}-pw"))).unwrap();
    }
    spaces::create(&conn, &SpaceName::parse("acme").unwrap(), "alice", false).unwrap();
    dir
}

/// Who the server says this browser is, in `acme`.
async fn actor(browser: &mut Browser) -> String {
    browser.get("/acme/-/actor.json").await.text
}

/// The server's peak resident memory (VmHWM) in MiB.
fn peak_rss_mib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024
}

/// Password checks the server ran (each holds argon2's 19 MiB).
async fn hashed(server: &Server) -> u64 {
    let text = server.get("/metrics", None).await.text;
    metric(&text, "libsette_login_attempts_total{outcome=\"ok\"}")
        + metric(&text, "libsette_login_attempts_total{outcome=\"wrong\"}")
}

/// `n` concurrent wrong logins from `address`, user names from `user`: their statuses.
async fn flood(server: &Server, address: [u8; 4], n: usize, user: fn(usize) -> String) -> Vec<u16> {
    let attempts = (0..n).map(|i| {
        let mut client = Browser::from_address(server, address);
        async move { client.login(&user(i), "wrong").await.status }
    });
    futures::future::join_all(attempts).await
}

#[tokio::test]
async fn a_login_flood_runs_few_password_checks_and_stays_small() {
    let server = Server::start_in(world(), &[]);
    let before = peak_rss_mib(&server);
    // One user from one address: its ten failures, the rest refused unchecked.
    let statuses = flood(&server, [127, 0, 0, 1], 200, |_| "alice".into()).await;
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        wrong <= 10 && limited >= 190,
        "{wrong} checked, {limited} limited"
    );
    assert!(hashed(&server).await <= 10);
    // Many users from one address: that address's fifty, no more.
    let statuses = flood(&server, [127, 0, 0, 3], 200, |i| format!("nobody{i}")).await;
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 150);
    let checks = hashed(&server).await;
    assert!(checks <= 60, "{checks} password checks");
    // Without bounds, 400 checks of 19 MiB each ran at once (gigabytes).
    let peak = peak_rss_mib(&server);
    eprintln!("peak RSS {before} MiB before, {peak} MiB after; {checks} password checks");
    assert!(
        peak < before + 160,
        "peak RSS {peak} MiB (from {before} MiB)"
    );

    // The real user, from elsewhere, and another user from the flooding address.
    let mut alice = Browser::from_address(&server, [127, 0, 0, 2]);
    assert_eq!(alice.login("alice", "alice-pw").await.status, 303);
    let mut bob = Browser::from_address(&server, [127, 0, 0, 1]);
    assert_eq!(bob.login("bob", "bob-pw").await.status, 303);
}

#[tokio::test]
async fn failures_from_one_address_do_not_lock_the_user_out_elsewhere() {
    let server = Server::start_in(world(), &[]);
    let mut attacker = Browser::from_address(&server, [127, 0, 0, 1]);
    for _ in 0..10 {
        assert_eq!(attacker.login("alice", "guess").await.status, 401);
    }
    let locked = attacker.login("alice", "alice-pw").await;
    assert_eq!(locked.status, 429, "the attacker's address is locked");
    assert!(locked.set_cookie().is_none());
    let mut alice = Browser::from_address(&server, [127, 0, 0, 2]);
    let ok = alice.login("alice", "alice-pw").await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert!(actor(&mut alice).await.contains("\"alice\""));
    // The real user's success does not lift the attacker's lock.
    assert_eq!(attacker.login("alice", "alice-pw").await.status, 429);
}

#[tokio::test]
async fn next_only_ever_leads_to_a_path_of_this_server() {
    let server = Server::start_in(world(), &[]);
    let good = [
        "/acme/",
        "/acme/-/tokens",
        "/acme/db/t?_sort=id&x=%2F%2Fevil#frag",
    ];
    let nasty = [
        "//evil.example",
        "///evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "\t//evil.example",
        " //evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/%09/evil.example",
        "/%5cevil.example",
        "/%5C%5Cevil.example",
        "/%2f%2fevil.example",
        "/%252f%252fevil.example",
        "https://evil.example/",
        "HTTPS:evil.example",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "evil.example",
        "/x\r\nSet-Cookie: a=b",
        "/%0d%0aSet-Cookie:%20a=b",
        "/caf\u{e9}",
        "",
    ];
    let mut client = Browser::from_address(&server, [127, 0, 0, 1]);
    for (next, expected) in good
        .iter()
        .map(|n| (*n, *n))
        .chain(nasty.iter().map(|n| (*n, "/")))
    {
        let form = client
            .http
            .get(format!("{}/-/login", client.base))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let hidden = format!("name=\"next\" value=\"{}\"", expected.replace('&', "&#38;"));
        assert!(form.contains(&hidden), "GET next={next:?}: {form}");
        let answer = client
            .post(
                "/-/login",
                &[
                    ("username", "alice"),
                    ("password", "alice-pw"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "next={next:?}");
        assert_eq!(answer.location(), expected, "next={next:?}");
    }
}

/// Sets a user's password with the CLI, as an admin would.
fn passwd(server: &Server, user: &str, password: &str) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(server.data())
        .args(["user", "passwd", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    assert!(child.wait().unwrap().success());
}

/// Waits for `client`'s cookie to stop logging it in; how long since `start` that took.
async fn until_anonymous(client: &mut Browser, start: Instant) -> Duration {
    while actor(client).await.contains("\"alice\"") {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the session lives on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn captured_session_cookies_end_on_the_server() {
    let server = Server::start_in(world(), &[]);
    let login = |address| {
        let mut client = Browser::from_address(&server, address);
        async move {
            assert_eq!(client.login("alice", "alice-pw").await.status, 303);
            assert!(actor(&mut client).await.contains("\"alice\""));
            client
        }
    };

    // Logout: a copy of the cookie taken before stops working at once.
    let mut browser = login([127, 0, 0, 1]).await;
    let mut thief = Browser::from_address(&server, [127, 0, 0, 9]);
    thief.cookie = browser.cookie.clone();
    assert!(actor(&mut thief).await.contains("\"alice\""));
    let csrf = browser.get("/").await.csrf();
    assert_eq!(
        browser
            .post("/-/logout", &[("csrftoken", &csrf)])
            .await
            .status,
        303
    );
    assert!(browser.cookie.is_none());
    assert!(
        !actor(&mut thief).await.contains("\"alice\""),
        "after logout"
    );
    assert_eq!(thief.get("/").await.location(), "/-/login");

    // `libsette user passwd` on the running server's data: within a second.
    let mut first = login([127, 0, 0, 1]).await;
    let mut second = login([127, 0, 0, 2]).await;
    passwd(&server, "alice", "new-pw");
    let changed = Instant::now();
    for client in [&mut first, &mut second] {
        let took = until_anonymous(client, changed).await;
        assert!(took < Duration::from_millis(1500), "revoked after {took:?}");
    }
    assert_eq!(
        Browser::from_address(&server, [127, 0, 0, 3])
            .login("alice", "alice-pw")
            .await
            .status,
        401
    );

    // "Log out everywhere" from one session ends the others.
    let mut laptop = login_with(&server, [127, 0, 0, 1], "new-pw").await;
    let mut phone = login_with(&server, [127, 0, 0, 2], "new-pw").await;
    let home = laptop.get("/").await;
    assert!(home.text.contains("id=\"logout-everywhere\""));
    let out = laptop
        .post(
            "/-/logout",
            &[("csrftoken", &home.csrf()), ("everywhere", "1")],
        )
        .await;
    assert_eq!(out.status, 303);
    assert!(
        !actor(&mut phone).await.contains("\"alice\""),
        "the other session"
    );
    assert!(!actor(&mut laptop).await.contains("\"alice\""));
    // Needs the CSRF token like every form.
    let mut again = login_with(&server, [127, 0, 0, 1], "new-pw").await;
    assert_eq!(
        again.post("/-/logout", &[("everywhere", "1")]).await.status,
        403
    );
    assert!(actor(&mut again).await.contains("\"alice\""));
}

async fn login_with(server: &Server, address: [u8; 4], password: &str) -> Browser {
    let mut client = Browser::from_address(server, address);
    assert_eq!(client.login("alice", password).await.status, 303);
    client
}

#[tokio::test]
async fn the_members_form_does_not_tell_which_user_names_exist() {
    let server = Server::start_in(world(), &[]);
    let mut alice = login_with(&server, [127, 0, 0, 1], "alice-pw").await;
    let csrf = alice.get("/acme/-/members").await.csrf();
    // Each operation once with a real user (bob or carol) and once with a
    // name nobody has: the answers differ only by the name itself.
    let cases = [
        ("change", "bob", "nobody1"),
        ("remove", "bob", "nobody1"),
        ("add", "bob", "nobody1"),
        ("add", "bob", "nobody1"),
        ("change", "bob", "nobody1"),
        ("remove", "carol", "nobody2"),
    ];
    for (op, known, unknown) in cases {
        let blank = |(status, location, text): (u16, String, String)| {
            (
                status,
                location,
                text.replace(known, "NAME").replace(unknown, "NAME"),
            )
        };
        let a = blank(member_op(&mut alice, op, known, &csrf).await);
        let b = blank(member_op(&mut alice, op, unknown, &csrf).await);
        assert_eq!(a, b, "{op} {known} vs {unknown}");
    }
    // The page lists both the same way.
    let page = alice.get("/acme/-/members").await.text;
    let row = |name: &str| {
        let start = page.find(&format!("<td>{name}</td>")).expect(name);
        let end = start + page[start..].find("</tr>").unwrap();
        page[start..end].replace(name, "NAME")
    };
    assert_eq!(row("bob"), row("nobody1"));

    // An invited name cannot log in, until an admin creates the user; then
    // the invitation takes effect.
    let mut early = Browser::from_address(&server, [127, 0, 0, 3]);
    assert_eq!(early.login("nobody1", "x").await.status, 401);
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(server.data())
        .args(["user", "create", "nobody1", "--password-stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "n1-pw").unwrap();
    assert!(child.wait().unwrap().success());
    let mut invited = Browser::from_address(&server, [127, 0, 0, 2]);
    assert_eq!(invited.login("nobody1", "n1-pw").await.status, 303);
    let space = invited.get("/acme/").await;
    assert_eq!(space.status, 200, "a member of acme");
}

/// One members form operation: status, redirect and body.
async fn member_op(
    client: &mut Browser,
    op: &str,
    user: &str,
    csrf: &str,
) -> (u16, String, String) {
    let form = [
        ("op", op),
        ("user", user),
        ("role", "editor"),
        ("csrftoken", csrf),
    ];
    let answer = client.post("/acme/-/members", &form).await;
    (
        answer.status,
        answer.location().to_owned(),
        answer.text.replace(user, "NAME"),
    )
}
