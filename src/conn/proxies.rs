//! Trusted reverse proxies (`serve --trusted-proxy`): behind Caddy or
//! Docker's port proxy every request comes from the proxy's address, so
//! per-address rate limits and login lockouts would count everyone as one
//! client. For a request from a trusted proxy, the client is the last
//! address in `X-Forwarded-For` that is not itself a trusted proxy; from
//! anyone else the header is ignored (anyone can send it).

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result, bail};
use hyper::http::HeaderMap;

/// One address range: `10.0.0.0/8`, `fd00::/8`, or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr> {
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .with_context(|| format!("{text:?} is not an address or a range (CIDR)"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(bits) => bits
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .with_context(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as the IPv4 they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = ((bits / 8) as usize, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// The ranges requests may be forwarded from.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse(ranges: &[String]) -> Result<TrustedProxies> {
        let mut all = Vec::new();
        for range in ranges.iter().flat_map(|r| r.split(',')) {
            if range.trim().is_empty() {
                bail!("an empty --trusted-proxy range");
            }
            all.push(Cidr::parse(range)?);
        }
        Ok(TrustedProxies(all))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }

    /// The client a request is from: `peer`, or, when `peer` is a trusted
    /// proxy, the last untrusted address of `X-Forwarded-For`. A header
    /// that does not parse leaves `peer` (never an address it made up).
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if self.0.is_empty() || !self.trusts(peer.ip()) {
            return peer;
        }
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            for hop in value.split(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => hops.push(canonical(ip)),
                    Err(_) => return peer,
                }
            }
        }
        let client = hops
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(hops.first());
        client.map_or(peer, |ip| SocketAddr::new(*ip, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", v.parse().unwrap());
        }
        map
    }

    #[test]
    fn ranges_parse_and_match() {
        let net = Cidr::parse("172.16.0.0/12").unwrap();
        assert!(net.contains("172.31.255.1".parse().unwrap()));
        assert!(!net.contains("172.32.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:172.20.0.3".parse().unwrap()));
        assert!(
            Cidr::parse("10.0.0.1")
                .unwrap()
                .contains("10.0.0.1".parse().unwrap())
        );
        assert!(
            !Cidr::parse("10.0.0.1")
                .unwrap()
                .contains("10.0.0.2".parse().unwrap())
        );
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fdab::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["", "10.0.0.0/33", "fd00::/129", "example.com", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_is_the_last_untrusted_hop_and_only_behind_a_trusted_peer() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        let h = headers(&["203.0.113.9, 10.0.0.5"]);
        assert_eq!(proxies.client(proxy, &h).ip().to_string(), "203.0.113.9");
        // A client's own claim before its real address is not believed.
        let h = headers(&["1.1.1.1", "203.0.113.9"]);
        assert_eq!(proxies.client(proxy, &h).ip().to_string(), "203.0.113.9");
        // From an untrusted peer the header is ignored.
        assert_eq!(proxies.client(stranger, &h), stranger);
        // Garbage or no header: the peer.
        assert_eq!(proxies.client(proxy, &headers(&["nonsense"])), proxy);
        assert_eq!(proxies.client(proxy, &HeaderMap::new()), proxy);
        // Nothing trusted: never read.
        let none = TrustedProxies::default();
        assert_eq!(none.client(proxy, &h), proxy);
    }
}
