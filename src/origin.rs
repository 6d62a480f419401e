//! Web origins (`scheme://host[:port]`), parsed and normalised once: the
//! server's public URL, from which every absolute URL in an answer is built
//! (never from a request's `Host`), and the entries of per-space CORS lists.

use std::fmt;
use std::net::SocketAddr;

/// A normalised origin: lowercase scheme and host, no default port, written
/// as a browser writes an `Origin` header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    https: bool,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Parses `http(s)://host[:port]`; a trailing `/` is allowed, any other
    /// path, a query, a fragment or user info is not.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let invalid = |why: &str| {
            Err(format!(
                "'{text}' is not an origin ({why}): expected scheme://host[:port], e.g. https://example.com"
            ))
        };
        let lower = text.trim().to_ascii_lowercase();
        let (https, rest) = if let Some(rest) = lower.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = lower.strip_prefix("http://") {
            (false, rest)
        } else {
            return invalid("the scheme must be http or https");
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@', '\\']) {
            return invalid("no path, query or user info");
        }
        let (host, port) = split_port(rest);
        if !valid_host(host) {
            return invalid("bad host");
        }
        let port = match port {
            None => None,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u16>() {
                    Ok(p) if p > 0 => Some(p),
                    _ => return invalid("bad port"),
                }
            }
            Some(_) => return invalid("bad port"),
        };
        let default = if https { 443 } else { 80 };
        // An IPv6 address as browsers write it: `[0:0::1]` is `[::1]`.
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => format!(
                "[{}]",
                v6.parse::<std::net::Ipv6Addr>()
                    .map_err(|e| e.to_string())?
            ),
            None => host.to_owned(),
        };
        Ok(Origin {
            https,
            host,
            port: port.filter(|p| *p != default),
        })
    }

    /// The origin of a server bound to `addr`. An unspecified address
    /// (`0.0.0.0`, `::`) is no place to send anyone: `localhost` stands in.
    pub fn from_bind(addr: SocketAddr) -> Origin {
        let host = if addr.ip().is_unspecified() {
            "localhost".to_owned()
        } else {
            match addr {
                SocketAddr::V4(v4) => v4.ip().to_string(),
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            }
        };
        Origin {
            https: false,
            host,
            port: (addr.port() != 80).then_some(addr.port()),
        }
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// This origin with `https` (Datasette's `force_https_urls`), written out.
    pub fn with_scheme(&self, force_https: bool) -> String {
        let https = self.https || force_https;
        let scheme = if https { "https" } else { "http" };
        match self.port {
            Some(443) if https => format!("{scheme}://{}", self.host),
            Some(port) => format!("{scheme}://{}:{port}", self.host),
            None => format!("{scheme}://{}", self.host),
        }
    }

    /// The origin of `space` under a spaces domain: this origin's scheme
    /// and port, host `{space}.{domain}`.
    pub fn for_space(&self, space: &str, domain: &str) -> Origin {
        Origin {
            https: self.https,
            host: format!("{space}.{}", domain.to_ascii_lowercase()),
            port: self.port,
        }
    }
}

/// `http://localhost`, for an app built without a configured public URL.
impl Default for Origin {
    fn default() -> Origin {
        Origin {
            https: false,
            host: "localhost".into(),
            port: None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_scheme(false))
    }
}

/// `host` and `port` of `host[:port]`, minding `[v6]:port`.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let (host, after) = authority.split_at(end + 1);
                (host, after.strip_prefix(':'))
            }
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// A DNS name or IPv4 address (letters, digits, `-`, dots between labels),
/// or a bracketed IPv6 address.
fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_as_browsers_write_them() {
        let ok = |text: &str| Origin::parse(text).unwrap().to_string();
        assert_eq!(ok("https://App.Example.com"), "https://app.example.com");
        assert_eq!(
            ok("https://app.example.com:443/"),
            "https://app.example.com"
        );
        assert_eq!(ok("http://localhost:80"), "http://localhost");
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://[0:0::1]:3000"), "http://[::1]:3000");
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://example.com/app",
            "https://example.com?x=1",
            "https://user@example.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:",
            "https://-bad.example.com",
            "https://exa mple.com",
            "https://[nope]:80",
            "null",
            "*",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn schemes_ports_and_space_hosts() {
        let bound = Origin::from_bind("127.0.0.1:8080".parse().unwrap());
        assert_eq!(bound.to_string(), "http://127.0.0.1:8080");
        assert_eq!(bound.with_scheme(true), "https://127.0.0.1:8080");
        let any = Origin::from_bind("0.0.0.0:80".parse().unwrap());
        assert_eq!(any.to_string(), "http://localhost");
        let public = Origin::parse("https://data.example.org").unwrap();
        assert_eq!(
            public.for_space("alpha", "Example.org").to_string(),
            "https://alpha.example.org"
        );
        assert_eq!(
            bound.for_space("alpha", "example.org").to_string(),
            "http://alpha.example.org:8080"
        );
    }
}
