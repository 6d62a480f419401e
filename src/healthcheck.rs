//! `libsette healthcheck`: asks a running server's `/-/health` and says in
//! one line whether it answered 200, for container healthchecks (the image
//! needs no curl). Plain HTTP/1.1 over a socket, with one deadline for all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

/// Time for the whole check: resolving, connecting, asking and reading.
const DEADLINE: Duration = Duration::from_secs(3);

#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// The server's base URL (http only), e.g. http://127.0.0.1:8080
    /// (default: the address serve binds, from LIBSETTE_BIND).
    #[arg(long)]
    pub url: Option<String>,
    /// Where serve binds, when no --url is given.
    #[arg(
        long,
        env = "LIBSETTE_BIND",
        default_value = "127.0.0.1:8080",
        hide = true
    )]
    pub bind: String,
}

/// Where to ask: a host with its port, and the health path under the base.
#[derive(Debug, PartialEq)]
struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn from_url(url: &str) -> Result<Target> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("--url must start with http:// (the check speaks plain HTTP)");
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("--url names no host");
        }
        // A port-less authority takes HTTP's; an IPv6 literal keeps its brackets.
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let base = base.trim_end_matches('/');
        let path = if base.ends_with("/-/health") {
            base.to_owned()
        } else {
            format!("{base}/-/health")
        };
        Ok(Target { authority, path })
    }

    /// The bind address as a client reaches it: a wildcard becomes loopback.
    fn from_bind(bind: &str) -> Result<Target> {
        let authority = match bind.parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_unspecified() => {
                let loopback: std::net::IpAddr = if addr.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                };
                SocketAddr::new(loopback, addr.port()).to_string()
            }
            Ok(addr) => addr.to_string(),
            Err(_) => bind.to_owned(),
        };
        Ok(Target {
            authority,
            path: "/-/health".into(),
        })
    }
}

/// Runs the check; prints one line and gives the exit status (0 healthy, 1 not).
pub fn run(args: HealthcheckArgs) -> std::process::ExitCode {
    match check(&args) {
        Ok(healthy) => {
            println!("{healthy}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("unhealthy: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A line saying the server is healthy, or why it is not.
pub fn check(args: &HealthcheckArgs) -> Result<String> {
    let target = match &args.url {
        Some(url) => Target::from_url(url)?,
        None => Target::from_bind(&args.bind)?,
    };
    let url = format!("http://{}{}", target.authority, target.path);
    let started = Instant::now();
    match ask(&target)? {
        200 => Ok(format!(
            "healthy: {url} answered 200 in {} ms",
            started.elapsed().as_millis()
        )),
        status => bail!("{url} answered {status}"),
    }
}

/// The status code the server answers `GET path` with, within [`DEADLINE`].
fn ask(target: &Target) -> Result<u16> {
    let started = Instant::now();
    let left = || {
        DEADLINE
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .context("no answer within 3 s")
    };
    let addr = target
        .authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", target.authority))?
        .next()
        .with_context(|| format!("{} resolves to no address", target.authority))?;
    let mut stream = TcpStream::connect_timeout(&addr, left()?)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_write_timeout(Some(left()?))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: libsette-healthcheck\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("asking {addr}"))?;
    // The status line is all we need: read until it is whole.
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        stream.set_read_timeout(Some(left()?))?;
        let n = stream
            .read(&mut buf)
            .with_context(|| format!("reading the answer of {addr}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_of(&head).with_context(|| format!("{addr} did not answer HTTP"))
}

/// The code of an `HTTP/1.x NNN …` status line.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    words.next().filter(|v| v.starts_with("HTTP/1."))?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(authority: &str, path: &str) -> Target {
        Target {
            authority: authority.into(),
            path: path.into(),
        }
    }

    #[test]
    fn urls_name_the_health_path_under_their_base() {
        let cases = [
            (
                "http://127.0.0.1:8080",
                target("127.0.0.1:8080", "/-/health"),
            ),
            ("http://localhost:9/", target("localhost:9", "/-/health")),
            ("http://h", target("h:80", "/-/health")),
            ("http://[::1]", target("[::1]:80", "/-/health")),
            ("http://[::1]:81/x/", target("[::1]:81", "/x/-/health")),
            ("http://h:1/-/health", target("h:1", "/-/health")),
        ];
        for (url, want) in cases {
            assert_eq!(Target::from_url(url).unwrap(), want, "{url}");
        }
        assert!(Target::from_url("https://h").is_err());
        assert!(Target::from_url("http:///x").is_err());
    }

    #[test]
    fn a_wildcard_bind_is_asked_on_loopback() {
        let t = |bind| Target::from_bind(bind).unwrap().authority;
        assert_eq!(t("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(t("[::]:8080"), "[::1]:8080");
        assert_eq!(t("10.1.2.3:80"), "10.1.2.3:80");
        assert_eq!(t("localhost:8080"), "localhost:8080");
    }

    #[test]
    fn status_lines_are_read_and_anything_else_is_not() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_of(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b""), None);
    }
}
