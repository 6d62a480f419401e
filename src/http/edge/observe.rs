//! Observing requests: one tracing span per request (request id, method,
//! space) and one line when it is answered (route, status, time),
//! Prometheus counters and latency by route template, and the `/metrics`
//! endpoint with its access rule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use crate::app::App;
use crate::metrics::metrics;

/// The route template a handler answered for; set as a response extension.
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// Counts, times and traces every request.
pub async fn observe(request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    // The span names what is known before the answer, for any line logged
    // while it is made; the answer's route and status go on the request's
    // own line, written once rather than recorded into the span first.
    let span = tracing::info_span!(
        "request",
        id,
        method = %request.method(),
        space = tracing::field::Empty
    );
    let started = Instant::now();
    let m = metrics();
    m.in_flight.inc();
    let response = next(request).instrument(span.clone()).await;
    m.in_flight.dec();
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map(|r| r.0)
        .unwrap_or("other");
    let status = response.status();
    crate::metrics::series(
        &m.requests,
        &[route, crate::metrics::status_label(status.as_u16())],
    )
    .inc();
    crate::metrics::series(&m.latency, &[route]).observe(started.elapsed().as_secs_f64());
    tracing::info!(
        parent: &span,
        route,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "served"
    );
    response
}

/// `/metrics`: with `--metrics-token`, only `Authorization: Bearer TOKEN`;
/// without it, only clients on the loopback interface.
pub async fn endpoint(State(app): State<Arc<App>>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    let allowed = match &app.config.metrics_token {
        Some(token) => bearer(request.headers())
            .is_some_and(|given| given.as_bytes().ct_eq(token.as_bytes()).into()),
        None => peer.is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback()),
    };
    let mut response = if allowed {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics().render(),
        )
            .into_response()
    } else {
        (
            StatusCode::FORBIDDEN,
            "metrics are not available to this client\n",
        )
            .into_response()
    };
    response.extensions_mut().insert(RouteLabel("/metrics"));
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
