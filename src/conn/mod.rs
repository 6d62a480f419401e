//! The accept loop: HTTP/1 connections served with the limits that keep one
//! client from starving the rest (header, idle and body timeouts, a cap on
//! open connections overall and per client address) and a graceful drain.

mod body;
pub mod proxies;
mod slots;
mod watch;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch as signal;
use tokio::time::Instant;

pub use body::BodyDeadline;
use body::{TimedBody, Tracked};
use slots::Slots;
use watch::{SendQueue, TimedIo, Watch};

/// How long clients may take and how many connections they may hold; a
/// `None` duration is no limit.
#[derive(Clone, Debug)]
pub struct Limits {
    /// To send a request's headers, from its first byte (or from connecting).
    pub header: Option<Duration>,
    /// To start the next request on a kept-alive connection; also how long a
    /// client may leave a written answer unread.
    pub idle: Option<Duration>,
    /// To send a request's body, from the end of its headers.
    pub body: Option<Duration>,
    pub max_connections: usize,
    /// 0: no cap.
    pub max_per_address: usize,
    /// How long requests in flight may take to finish once a stop is asked
    /// for; connections still open then are cut.
    pub drain: Option<Duration>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub proxies: Arc<proxies::TrustedProxies>,
}

/// While answers sit in the kernel's buffer, how often to check that the
/// client is taking them.
const QUEUE_SAMPLE: Duration = Duration::from_secs(1);

/// What answers the requests of every connection (the whole app, `crate::http::Http`).
pub trait Serve: Clone + Send + Sync + 'static {
    fn serve(&self, request: Request) -> impl Future<Output = Response> + Send;
}

/// Serves `app` until `shutdown` resolves, then stops accepting and waits
/// for requests in flight (idle connections close at once), at most for
/// `limits.drain`; connections open after that are cut.
pub async fn serve(
    listener: TcpListener,
    app: impl Serve,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Slots::new(limits.max_connections, limits.max_per_address);
    let limits = Arc::new(limits);
    // Dropping `stop_tx` asks every connection to drain, dropping `cut_tx`
    // to end at once; each holds a `close_rx`, so `close_tx.closed()`
    // resolves when all have ended.
    let (stop_tx, stop_rx) = signal::channel(());
    let (cut_tx, cut_rx) = signal::channel(());
    let (close_tx, close_rx) = signal::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or memory: wait rather than spin.
                    tracing::warn!(%err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                // Closed at once: a full server answers quickly, not never.
                tracing::debug!(?refusal, %peer, "connection refused");
                drop(stream);
                continue;
            }
        };
        let (app, limits) = (app.clone(), limits.clone());
        let (stop_rx, close_rx) = (stop_rx.clone(), close_rx.clone());
        let mut cut_rx = cut_rx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = connection(stream, peer, app, &limits, stop_rx) => {}
                // Dropping the connection closes its socket.
                _ = cut_rx.changed() => tracing::debug!(%peer, "connection cut after the drain"),
            }
            drop((slot, close_rx));
        });
    }
    drop((listener, stop_tx, stop_rx, close_rx, cut_rx));
    let open = close_tx.receiver_count();
    tracing::info!(
        open,
        drain_secs = limits.drain.map_or(0, |d| d.as_secs()),
        "stopping: no new connections, finishing requests in flight"
    );
    let drained = match limits.drain {
        Some(limit) => tokio::time::timeout(limit, close_tx.closed()).await.is_ok(),
        None => {
            close_tx.closed().await;
            true
        }
    };
    if !drained {
        tracing::warn!(
            open = close_tx.receiver_count(),
            "cutting connections still busy at the end of the drain"
        );
        drop(cut_tx);
        close_tx.closed().await;
    }
}

/// `make()`'s value (a future), boxed and pinned. `Box::pin(make())` builds
/// it on the stack and then copies all of it into the box: a future that
/// has not started holds only its arguments, but it is copied at its full
/// size (several KB for a request's; issue 17's profile put those copies
/// at half the cache misses of the memory copied). With the box allocated
/// first, the value is built straight into it.
#[inline(always)]
pub fn pin_in_place<T>(make: impl FnOnce() -> T) -> std::pin::Pin<Box<T>> {
    let mut slot = Box::<T>::new_uninit();
    slot.write(make());
    // SAFETY: written on the line above.
    Box::into_pin(unsafe { slot.assume_init() })
}

/// Serves one connection until it ends, its watchdog closes it, or a drain
/// asked for it ends its request in flight.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: impl Serve,
    limits: &Limits,
    mut stop: signal::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let watch = Arc::new(Watch::new(limits));
    let mut queue = SendQueue::new(&stream);
    let io = TimedIo {
        inner: stream,
        watch: watch.clone(),
    };
    let body_limit = limits.body;
    let proxies = limits.proxies.clone();
    let service = {
        let watch = watch.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            watch.request_started();
            let (watch, app, proxies) = (watch.clone(), app.clone(), proxies.clone());
            pin_in_place(move || async move {
                let (mut parts, body) = request.into_parts();
                let (body, deadline) = TimedBody::new(body, body_limit);
                parts.extensions.insert(deadline);
                // What `into_make_service_with_connect_info` would insert,
                // with the client behind a trusted proxy in its place.
                parts
                    .extensions
                    .insert(ConnectInfo(proxies.client(peer, &parts.headers)));
                let request =
                    axum::extract::Request::from_parts(parts, axum::body::Body::new(body));
                let response = app.serve(request).await;
                Ok::<_, Infallible>(response.map(|inner| Tracked { inner, watch }))
            })
        })
    };
    // hyper's own header timeout also bounds the wait between requests;
    // the watch keeps the two apart.
    let connection = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let queued = queue.sample(&watch);
        let wake = watch.arm(limits, queued);
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%err, "connection ended");
                }
                return;
            }
            _ = timer => {
                queue.sample(&watch);
                if watch.deadline(limits).is_some_and(|at| at <= Instant::now()) {
                    // Dropping the connection closes the socket.
                    tracing::debug!(%peer, "connection timed out");
                    return;
                }
            }
            // The phase changed, or a write blocked: the deadline may be sooner.
            _ = watch.sooner.notified() => {}
            _ = stop.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
