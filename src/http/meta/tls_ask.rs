//! `/-/tls-ask?domain=HOST`: Caddy's on-demand TLS asks here before it gets
//! a certificate, so only the spaces domain and the host names of existing
//! spaces get one (never a name an attacker points at the server). It answers
//! the proxy alone: a client on a private or loopback address that came
//! directly, not through a proxy (which adds `X-Forwarded-For`). Everyone
//! else gets the same 404 as for a name that is no space.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::http::edge::observe::RouteLabel;
use crate::read::args::Args;

pub async fn ask(State(app): State<Arc<App>>, request: Request) -> Response {
    // Read off before any await: a request's body is not `Sync`.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied();
    let proxied = request.headers().contains_key("x-forwarded-for")
        || request.headers().contains_key("forwarded");
    let direct = !proxied && peer.is_some_and(|ConnectInfo(addr)| internal(addr.ip()));
    let host = Args::parse(request.uri().query())
        .get("domain")
        .map(str::to_owned);
    let status = match host.filter(|_| direct) {
        None => Ok(false),
        Some(host) => exists(&app, &host).await,
    };
    let status = match status {
        Ok(true) => StatusCode::OK,
        Ok(false) => StatusCode::NOT_FOUND,
        Err(err) => {
            tracing::warn!(error = ?err, "tls ask: catalog lookup failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let mut response = status.into_response();
    response.extensions_mut().insert(RouteLabel("/-/tls-ask"));
    response
}

/// Whether `host` is the spaces domain or `{space}.{domain}` of a space.
async fn exists(app: &App, host: &str) -> anyhow::Result<bool> {
    let Some(domain) = app.config.spaces_domain.as_deref() else {
        return Ok(false);
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    if host == domain {
        return Ok(true);
    }
    let Some(label) = host
        .strip_suffix(domain.as_str())
        .and_then(|l| l.strip_suffix('.'))
    else {
        return Ok(false);
    };
    if label.is_empty() || label.contains('.') {
        return Ok(false);
    }
    Ok(app.space(label).await?.is_some())
}

/// Loopback, or an address of a private network (a compose network is one).
fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
    }
}
