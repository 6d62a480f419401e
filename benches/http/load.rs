//! A lean HTTP/1.1 keep-alive load generator: every connection is a future
//! on one current-thread runtime (one core), written GET, parsed status line,
//! headers and a Content-Length or chunked body, nothing more.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Numbers `_bust=N`: never repeats within a sitting (one process).
static BUST: AtomicU64 = AtomicU64::new(0);

/// What a run requests.
pub enum Urls {
    /// These paths in turn (a timed run cycles; an untimed run takes each once).
    Fixed(Vec<String>),
    /// The path with `&_bust=N` added, so no answer can come from a cache.
    Unique(String),
}

impl Urls {
    pub fn one(path: &str) -> Urls {
        Urls::Fixed(vec![path.to_owned()])
    }

    pub fn path(&self, i: usize) -> Option<String> {
        match self {
            Urls::Fixed(list) => list.get(i % list.len()).cloned(),
            Urls::Unique(prefix) => {
                let n = BUST.fetch_add(1, Ordering::Relaxed);
                Some(format!("{prefix}&_bust={n}"))
            }
        }
    }
}

/// One run: `conns` connections to `addr`, each sending its next request as
/// soon as the last answered, for `seconds` (or, with `None`, through a
/// `Fixed` list exactly once).
pub struct Load<'a> {
    pub addr: SocketAddr,
    pub urls: &'a Urls,
    pub token: Option<&'a str>,
    pub conns: usize,
    pub seconds: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    pub requests: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// An answer: its status and the first bytes of its body.
pub struct Answer {
    pub status: u16,
    pub head: Vec<u8>,
}

impl Answer {
    pub fn describe(&self) -> String {
        format!("{} {}", self.status, String::from_utf8_lossy(&self.head))
    }
}

/// Connections reopened because the server had closed them between answers.
static REOPENED: AtomicU64 = AtomicU64::new(0);

pub fn reopened() -> u64 {
    REOPENED.load(Ordering::Relaxed)
}

/// A keep-alive connection with its read buffer.
struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    request: Vec<u8>,
    /// Answers read whole on it.
    served: u64,
    /// Bytes read of the answer under way.
    received: usize,
}

/// Why an exchange failed; `closed`: the server closed or reset the connection.
struct Fail {
    message: String,
    closed: bool,
}

impl Fail {
    fn io(what: &str, e: std::io::Error) -> Fail {
        let closed = matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
        );
        Fail {
            message: format!("{what}: {e}"),
            closed,
        }
    }
}

impl From<String> for Fail {
    fn from(message: String) -> Fail {
        Fail {
            message,
            closed: false,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream.set_nodelay(true).unwrap();
        Ok(Conn {
            addr,
            stream,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            request: Vec::with_capacity(512),
            served: 0,
            received: 0,
        })
    }

    async fn more(&mut self) -> Result<(), Fail> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.reserve(16 * 1024);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(Fail {
                message: "the server closed the connection".into(),
                closed: true,
            }),
            Ok(n) => {
                self.received += n;
                Ok(())
            }
            Err(e) => Err(Fail::io("reading", e)),
        }
    }

    /// Index (in `buf`) where `needle` starts at or after `pos`, reading as needed.
    async fn until(&mut self, needle: &[u8]) -> Result<usize, Fail> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..], needle) {
                return Ok(self.pos + i);
            }
            self.more().await?;
        }
    }

    async fn skip(&mut self, n: usize) -> Result<(), Fail> {
        while self.buf.len() < self.pos + n {
            self.more().await?;
        }
        self.pos += n;
        Ok(())
    }

    /// Sends one GET and reads its whole answer. A server may close a
    /// kept-alive connection between answers (its idle timeout): then, if
    /// nothing of the answer came, the GET is sent once more on a new one.
    async fn get(&mut self, path: &str, token: Option<&str>) -> Result<Answer, String> {
        let leftover = self.buf.len() - self.pos;
        self.received = 0;
        let fail = match self.exchange(path, token).await {
            Ok(answer) => return Ok(answer),
            Err(fail) => fail,
        };
        if fail.closed && self.served > 0 && self.received == 0 && leftover == 0 {
            REOPENED.fetch_add(1, Ordering::Relaxed);
            *self = Conn::open(self.addr).await?;
            if let Ok(answer) = self.exchange(path, token).await {
                return Ok(answer);
            }
        }
        Err(format!(
            "{} ({} answers served on the connection, {} bytes of this one read)",
            fail.message, self.served, self.received
        ))
    }

    async fn exchange(&mut self, path: &str, token: Option<&str>) -> Result<Answer, Fail> {
        use std::io::Write;
        self.request.clear();
        write!(
            self.request,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n",
            self.addr
        )
        .unwrap();
        if let Some(token) = token {
            write!(self.request, "Authorization: Bearer {token}\r\n").unwrap();
        }
        self.request.extend_from_slice(b"\r\n");
        if let Err(e) = self.stream.write_all(&self.request).await {
            return Err(Fail::io("writing", e));
        }
        let head_end = self.until(b"\r\n\r\n").await?;
        let head = std::str::from_utf8(&self.buf[self.pos..head_end])
            .map_err(|_| "answer head is not UTF-8".to_owned())?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        self.pos = head_end + 4;
        let body_start = self.pos;
        if chunked {
            loop {
                let end = self.until(b"\r\n").await?;
                let line = String::from_utf8_lossy(&self.buf[self.pos..end]);
                let size = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                self.pos = end + 2;
                if size == 0 {
                    // Trailers, if any, end with an empty line.
                    loop {
                        let end = self.until(b"\r\n").await?;
                        let empty = end == self.pos;
                        self.pos = end + 2;
                        if empty {
                            break;
                        }
                    }
                    break;
                }
                self.skip(size + 2).await?;
            }
        } else if let Some(length) = length {
            self.skip(length).await?;
        } else if !(status == 204 || status == 304 || status < 200) {
            return Err(format!("{status} answer with neither length nor chunks").into());
        }
        let answer = Answer {
            status,
            head: self.buf[body_start..self.pos.min(body_start + 300)].to_vec(),
        };
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.served += 1;
        if close {
            *self = Conn::open(self.addr).await?;
        }
        Ok(answer)
    }
}

/// Connections kept open between runs, per server, as a client that stays
/// would keep them: each run reuses them rather than leaving the server
/// the last run's to close.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<HashMap<SocketAddr, Vec<Conn>>>,
}

impl Pool {
    async fn take(&self, addr: SocketAddr, n: usize) -> Result<Vec<Conn>, String> {
        let mut conns = {
            let mut idle = self.idle.borrow_mut();
            let list = idle.entry(addr).or_default();
            let keep = list.len().saturating_sub(n);
            list.split_off(keep)
        };
        while conns.len() < n {
            conns.push(Conn::open(addr).await?);
        }
        Ok(conns)
    }

    fn give(&self, conns: Vec<Conn>) {
        for conn in conns {
            self.idle
                .borrow_mut()
                .entry(conn.addr)
                .or_default()
                .push(conn);
        }
    }
}

/// One request on a fresh connection (for checks and calibration).
pub async fn get_once(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    let mut conn = Conn::open(addr).await.unwrap();
    conn.get(path, token).await.unwrap()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).map(|&ns| ns as f64 / 1e6).unwrap_or(0.0)
}

/// Runs `load`; any non-2xx answer or broken connection ends it with an
/// error naming the status and the first bytes of the body.
pub async fn run(pool: &Pool, load: &Load<'_>) -> Result<Figures, String> {
    let conns = pool.take(load.addr, load.conns).await?;
    let next = Cell::new(0usize);
    let failed: RefCell<Option<String>> = RefCell::new(None);
    let started = Instant::now();
    let deadline = load.seconds.map(|s| started + Duration::from_secs_f64(s));
    let mut workers: FuturesUnordered<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (next, failed) = (&next, &failed);
            async move {
                let (mut latencies, mut in_time) = (Vec::new(), 0usize);
                while failed.borrow().is_none() {
                    let i = next.get();
                    next.set(i + 1);
                    if deadline.is_none() && matches!(load.urls, Urls::Fixed(l) if i >= l.len()) {
                        break;
                    }
                    let path = load.urls.path(i).unwrap();
                    let t = Instant::now();
                    match conn.get(&path, load.token).await {
                        Ok(a) if (200..300).contains(&a.status) => {}
                        Ok(a) => {
                            *failed.borrow_mut() = Some(format!("GET {path}: {}", a.describe()));
                        }
                        Err(e) => *failed.borrow_mut() = Some(format!("GET {path}: {e}")),
                    }
                    let done = Instant::now();
                    latencies.push((done - t).as_nanos() as u64);
                    match deadline {
                        Some(d) if done >= d => break,
                        _ => in_time += 1,
                    }
                }
                (latencies, in_time, conn)
            }
        })
        .collect();
    let (mut all, mut in_time, mut back) = (Vec::new(), 0, Vec::new());
    while let Some((latencies, n, conn)) = workers.next().await {
        all.extend(latencies);
        in_time += n;
        back.push(conn);
    }
    drop(workers);
    if let Some(error) = failed.into_inner() {
        return Err(error);
    }
    pool.give(back);
    let elapsed = match load.seconds {
        Some(s) => s,
        None => started.elapsed().as_secs_f64(),
    };
    all.sort_unstable();
    Ok(Figures {
        requests: all.len(),
        rps: in_time as f64 / elapsed,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
    })
}

/// What the slow loop did while it ran.
#[derive(Default, Debug)]
pub struct SlowLoop {
    pub runs: usize,
    pub mean_ms: f64,
    pub refusals: usize,
    /// The last refusal (say, the time limit under load).
    pub refused: Option<String>,
}

/// Sends `path` (with `_bust`, so never cached) again and again on one
/// connection until `stop` is set, finishing the query under way.
pub async fn slow_loop(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    stop: &Cell<bool>,
) -> SlowLoop {
    let mut conn = Conn::open(addr).await.unwrap();
    let mut out = SlowLoop::default();
    let urls = Urls::Unique(path.to_owned());
    let mut total = 0.0;
    while !stop.get() {
        let t = Instant::now();
        let answer = conn.get(&urls.path(0).unwrap(), token).await;
        match answer {
            Ok(a) if a.status == 200 => {
                out.runs += 1;
                total += t.elapsed().as_secs_f64() * 1000.0;
            }
            Ok(a) => {
                out.refusals += 1;
                out.refused = Some(a.describe());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => {
                out.refusals += 1;
                out.refused = Some(e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                match Conn::open(addr).await {
                    Ok(c) => conn = c,
                    Err(_) => break,
                }
            }
        }
    }
    out.mean_ms = total / out.runs.max(1) as f64;
    out
}
