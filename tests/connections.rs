//! No client can starve the others: connections that send nothing, send
//! their headers or body a byte at a time, or sit idle are closed on time;
//! a full server refuses newcomers at once and recovers; one address cannot
//! take every connection. Real server, raw sockets on loopback (blocking
//! std sockets: the server is another process).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;

fn addr(server: &Server) -> SocketAddr {
    let host = server.base.trim_start_matches("http://");
    host.trim_end_matches('/').parse().unwrap()
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(addr(server)).unwrap()
}

/// Reads until the server closes the connection (EOF or reset) and returns
/// everything read and when, counted from `since`; `None` if still open at `limit`.
fn read_until_closed(
    stream: &mut TcpStream,
    since: Instant,
    limit: Duration,
) -> Option<(Vec<u8>, Duration)> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(since.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some((seen, since.elapsed())),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some((seen, since.elapsed())),
        }
    }
}

/// Reads an answer's head, byte by byte, leaving its body unread.
fn read_answer_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    while !seen.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("an answer in time");
        seen.push(byte[0]);
    }
    String::from_utf8(seen).unwrap()
}

/// Reads one whole answer (headers, then `Content-Length` bytes).
fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    loop {
        let n = stream.read(&mut buf).expect("an answer in time");
        assert!(n > 0, "closed before answering");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .map_or(0, |n| n.trim().parse().unwrap());
            if body.len() >= length {
                return (head.to_owned(), body.to_owned());
            }
        }
    }
}

async fn health_answers(server: &Server, local: Option<IpAddr>) -> Result<u16, reqwest::Error> {
    // A new client each time: a pooled connection would prove nothing.
    let client = reqwest::Client::builder()
        .local_address(local)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let reply = client
        .get(format!("{}/-/health", server.base))
        .send()
        .await?;
    Ok(reply.status().as_u16())
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = Server::start(&["--header-timeout-secs", "1", "--idle-timeout-secs", "30"]);
    let started = Instant::now();
    let mut stream = connect(&server);
    let (seen, after) = read_until_closed(&mut stream, started, Duration::from_secs(6))
        .expect("a silent connection stays open");
    assert!(seen.is_empty(), "answered a silent connection");
    assert!(
        after >= Duration::from_millis(900),
        "closed too early: {after:?}"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_waits_the_idle_timeout_then_closes() {
    let server = Server::start(&["--header-timeout-secs", "1", "--idle-timeout-secs", "3"]);
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_answer(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let answered = Instant::now();
    // Past the header timeout, the idle one still holds it open...
    assert!(
        read_until_closed(&mut stream, answered, Duration::from_secs(2)).is_none(),
        "an idle connection was closed by the header timeout"
    );
    // ...and then ends it.
    let (_, after) = read_until_closed(&mut stream, answered, Duration::from_secs(7))
        .expect("an idle kept-alive connection stays open");
    assert!(
        after >= Duration::from_millis(2900),
        "closed too early: {after:?}"
    );
}

#[tokio::test]
async fn a_second_request_trickled_on_a_kept_alive_connection_gets_the_header_timeout() {
    let server = Server::start(&["--header-timeout-secs", "1", "--idle-timeout-secs", "8"]);
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_answer(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Idle for longer than the header timeout first: the connection waits
    // on its idle deadline when the next request begins.
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        writer.write_all(b"GET /-/health HTTP/1.1\r\nX-Slow: ")?;
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(300));
            writer.write_all(b"a")?;
        }
        Ok::<_, std::io::Error>(())
    });
    // Cut after the header timeout, not the (longer) idle one.
    let (seen, after) = read_until_closed(&mut stream, started, Duration::from_secs(5))
        .expect("a trickled second request kept its connection");
    assert!(seen.is_empty(), "answered a header never finished");
    assert!(
        after >= Duration::from_millis(900),
        "closed too early: {after:?}"
    );
}

#[tokio::test]
async fn headers_trickled_a_byte_at_a_time_are_cut_off() {
    let server = Server::start(&["--header-timeout-secs", "2", "--idle-timeout-secs", "30"]);
    let started = Instant::now();
    let mut reader = connect(&server);
    let mut writer = reader.try_clone().unwrap();
    // Stops at the first failed write, or after 12 s.
    std::thread::spawn(move || {
        writer.write_all(b"GET /-/health HTTP/1.1\r\nX-Slow: ")?;
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(300));
            writer.write_all(b"a")?;
        }
        Ok::<_, std::io::Error>(())
    });
    let closed = read_until_closed(&mut reader, started, Duration::from_secs(8));
    let (seen, after) = closed.expect("a trickled header kept its connection");
    assert!(seen.is_empty(), "answered a header never finished");
    assert!(
        after >= Duration::from_millis(1900),
        "closed too early: {after:?}"
    );
}

#[tokio::test]
async fn a_body_trickled_slowly_is_cut_off_with_408_and_writes_nothing() {
    let server = Server::start(&["--body-timeout-secs", "2"]);
    server.cli(&["space", "create", "s", "--owner", "root"]);
    server.cli(&["db", "create", "s", "data"]);
    let token = server.token(&["s", "root"]);
    let create = json!({"table": "t", "columns": [{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}], "pk": "id"});
    let reply = server.post("/s/data/-/create", Some(&token), &create).await;
    assert_eq!(reply.status, 201, "{}", reply.text);

    let body = json!({"rows": [{"id": 1, "v": "slow"}]}).to_string();
    let head = format!(
        "POST /s/data/t/-/insert HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (half, rest) = body.split_at(body.len() / 2);
    let mut stream = connect(&server);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(half.as_bytes()).unwrap();
    let started = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let rest = rest.to_owned();
    std::thread::spawn(move || {
        for byte in rest.bytes() {
            std::thread::sleep(Duration::from_millis(700));
            if writer.write_all(&[byte]).is_err() {
                break;
            }
        }
    });
    let (answer, _) = read_until_closed(&mut stream, started, Duration::from_secs(8))
        .expect("a trickled body kept its request open");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{head}"
    );
    let error: Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["ok"], false);
    assert_eq!(error["status"], 408);
    assert_eq!(error["errors"].as_array().map(Vec::len), Some(1), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(1900));

    let count = "/s/data/-/query.json?sql=select+count(*)+as+n+from+t&_shape=array";
    let reply = server.get(count, Some(&token)).await;
    assert_eq!(reply.json()[0]["n"], 0, "the cut-off body was written");
    // The same body sent whole is written: the table took writes all along.
    let whole = json!({"rows": [{"id": 1, "v": "fast"}]});
    let reply = server
        .post("/s/data/t/-/insert", Some(&token), &whole)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(server.get(count, Some(&token)).await.json()[0]["n"], 1);
}

#[tokio::test]
async fn a_full_server_refuses_at_once_and_recovers_when_idle_sockets_time_out() {
    let server = Server::start(&[
        "--max-connections",
        "6",
        "--max-connections-per-address",
        "0",
        "--header-timeout-secs",
        "2",
    ]);
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(connect(&server));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let refused = health_answers(&server, None).await;
    assert!(refused.is_err(), "a full server answered: {refused:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "refusing took {:?}",
        asked.elapsed()
    );
    // Once the silent sockets time out, the server answers again.
    loop {
        if let Ok(status) = health_answers(&server, None).await {
            assert_eq!(status, 200);
            break;
        }
        assert!(
            opened.elapsed() < Duration::from_secs(6),
            "still full after the header timeout"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for mut stream in idle {
        assert!(read_until_closed(&mut stream, opened, Duration::from_secs(6)).is_some());
    }
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let server = Server::start(&[
        "--max-connections-per-address",
        "3",
        "--header-timeout-secs",
        "30",
    ]);
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&server));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let mut extra = connect(&server);
    let closed = read_until_closed(&mut extra, asked, Duration::from_secs(2));
    assert!(
        closed.is_some(),
        "a fourth connection from one address was kept"
    );
    // Another address (127.0.0.2 is loopback too on Linux) still gets in.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    assert_eq!(health_answers(&server, Some(other)).await.unwrap(), 200);
    // And the first address gets its slot back when one of its connections ends.
    drop(idle.pop());
    let dropped = Instant::now();
    while health_answers(&server, None).await.is_err() {
        assert!(
            dropped.elapsed() < Duration::from_secs(3),
            "the slot was not given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_answer_says_nosniff() {
    let server = Server::start(&[]);
    for path in [
        "/-/health",
        "/demo/",
        "/demo/library.json",
        "/demo/library/books.csv",
        "/demo/library/books",
        "/nope/x.json",
        "/demo/library/nope.json",
        "/-/login",
        "/metrics",
    ] {
        let reply = server.get(path, None).await;
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{path} answered {} without nosniff",
            reply.status
        );
    }
}

/// Creates space `s`, database `data` and table `t` (id, v); a root token.
async fn table_t(server: &Server) -> String {
    server.cli(&["space", "create", "s", "--owner", "root"]);
    server.cli(&["db", "create", "s", "data"]);
    let token = server.token(&["s", "root"]);
    let create = json!({"table": "t", "columns": [{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}], "pk": "id"});
    let reply = server.post("/s/data/-/create", Some(&token), &create).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    token
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_and_closes_idle_ones() {
    let mut server = Server::start(&[]);
    let token = table_t(&server).await;
    let body = json!({"rows": [{"id": 7, "v": "drained"}]}).to_string();
    let head = format!(
        "POST /s/data/t/-/insert HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut idle = connect(&server);
    idle.write_all(b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_answer(&mut idle);
    let (half, rest) = body.split_at(body.len() / 2);
    let mut busy = connect(&server);
    busy.write_all(head.as_bytes()).unwrap();
    busy.write_all(half.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    server.terminate();
    // The idle connection is closed at once; the busy one is not.
    assert!(read_until_closed(&mut idle, stopped, Duration::from_secs(3)).is_some());
    assert!(
        server.exited_within(Duration::from_millis(500)).is_none(),
        "exited mid-request"
    );
    busy.write_all(rest.as_bytes()).unwrap();
    let (head, body) = read_answer(&mut busy);
    assert!(head.starts_with("HTTP/1.1 201"), "{head}\n{body}");
    let status = server
        .exited_within(Duration::from_secs(5))
        .expect("still running after the drain");
    assert!(status.success(), "{status:?}");
}

/// Asks for about `mb` MB of CSV or JSON (made whole, then written fast) on a socket with a small receive buffer,
/// so the kernel cannot take the whole answer for the client (loopback may
/// otherwise grow it to tens of MB).
async fn ask_for_big_answer(server: &Server, token: &str, mb: usize, format: &str) -> TcpStream {
    let sql = format!(
        "with recursive c(x) as (select 1 union all select x+1 from c where x < {}) \
         select x, printf('%.*c', 100000, 'a') as v from c",
        mb * 10
    );
    let sql: String = form_urlencoded::byte_serialize(sql.as_bytes()).collect();
    let request = format!(
        "GET /s/data/-/query.{format}?sql={sql}&_size=max HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let stream = socket.connect(addr(server)).await.unwrap();
    let mut stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_dropped_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout-secs", "2"]);
    let token = table_t(&server).await;
    let mut stream = ask_for_big_answer(&server, &token, 10, "json").await;
    // Once the answer has begun, read nothing for longer than the idle timeout...
    let mut seen = vec![0u8; 12];
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.read_exact(&mut seen).unwrap();
    assert_eq!(&seen, b"HTTP/1.1 200");
    std::thread::sleep(Duration::from_secs(6));
    // ...then all there is: the answer was cut short.
    let started = Instant::now();
    let (rest, _) = read_until_closed(&mut stream, started, Duration::from_secs(10))
        .expect("the connection of a client that stopped reading was kept");
    let total = seen.len() + rest.len();
    assert!(
        total < 10_000_000,
        "the whole answer was sent: {total} bytes"
    );
}

#[tokio::test]
async fn a_slow_reader_that_keeps_reading_gets_its_whole_answer() {
    let server = Server::start(&["--idle-timeout-secs", "2"]);
    let token = table_t(&server).await;
    let mut stream = ask_for_big_answer(&server, &token, 6, "json").await;
    let head = read_answer_head(&mut stream);
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("a Content-Length")
        .trim()
        .parse()
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    // 1 MB, then a pause shorter than the idle timeout, and again: the
    // answer takes several idle timeouts to read but never stalls for one.
    while got < length {
        let mut chunk = 0;
        while chunk < 1 << 20 && got < length {
            let n = stream.read(&mut buf).expect("the answer was cut off");
            assert!(n > 0, "closed after {got} of {length} bytes");
            (chunk, got) = (chunk + n, got + n);
        }
        std::thread::sleep(Duration::from_millis(1200));
    }
}
