//! What a connection is waiting for, and so how long it may wait: its
//! request's headers, its next request, or (while a request is served) a
//! client that stopped reading the answer.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Limits;

const HEADERS: u8 = 0;
const IDLE: u8 = 1;
const BUSY: u8 = 2;

/// One connection's phase, shared by its socket, its requests and its watchdog.
pub(super) struct Watch {
    base: Instant,
    phase: AtomicU8,
    /// When the phase began, in ms since `base`.
    since: AtomicU64,
    /// Requests being served (HTTP/1 serves one at a time; counted to be safe).
    in_flight: AtomicUsize,
    /// When a write last found the socket full, in ms since `base` plus one; 0: it is not.
    write_blocked: AtomicU64,
    /// When a write last went through, in ms since `base`.
    written: AtomicU64,
    /// Tells the watchdog its deadline may have come sooner (a stored
    /// permit, so a change while it computes is not missed).
    pub(super) sooner: Notify,
    /// When the watchdog will look next, in ms since `base` (`u64::MAX`:
    /// never, or it is deciding). A phase change wakes it only when its
    /// deadline comes before that: a busy kept-alive connection changes
    /// phase three times a request, and waking for each cost a fifth of the
    /// server's throughput.
    armed: AtomicU64,
    /// The header and idle timeouts, in ms.
    header_ms: Option<u64>,
    idle_ms: Option<u64>,
}

impl Watch {
    /// A new connection waits for its first request's headers.
    pub(super) fn new(limits: &Limits) -> Watch {
        let ms = |limit: Option<Duration>| limit.map(|d| d.as_millis() as u64);
        Watch {
            armed: AtomicU64::new(u64::MAX),
            header_ms: ms(limits.header),
            idle_ms: ms(limits.idle),
            base: Instant::now(),
            phase: AtomicU8::new(HEADERS),
            since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            write_blocked: AtomicU64::new(0),
            written: AtomicU64::new(0),
            sooner: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn enter(&self, phase: u8) {
        let now = self.now();
        self.since.store(now, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
        let due = match phase {
            HEADERS => self.header_ms,
            IDLE => self.idle_ms,
            // Serving has no deadline until a write blocks (see `wrote`).
            _ => None,
        };
        if due.is_some_and(|ms| now + ms < self.armed.load(Ordering::Acquire)) {
            self.sooner.notify_one();
        }
    }

    /// When the watchdog should look next: the deadline, or sooner, so that
    /// no phase change can bring a deadline before it (a phase's deadline
    /// is at least the shortest timeout away from when the phase begins).
    pub(super) fn arm(&self, limits: &Limits, queued: bool) -> Option<Instant> {
        // Deciding: a phase change meanwhile must wake it.
        self.armed.store(u64::MAX, Ordering::Release);
        let mut wake = self.deadline(limits);
        let shortest = match (limits.header, limits.idle) {
            (Some(h), Some(i)) => Some(h.min(i)),
            (h, i) => h.or(i),
        };
        if let Some(shortest) = shortest {
            let horizon = Instant::now() + shortest;
            wake = Some(wake.map_or(horizon, |at| at.min(horizon)));
        }
        if queued {
            // Look again soon whether the client is taking what is queued.
            let soon = Instant::now() + super::QUEUE_SAMPLE;
            wake = Some(wake.map_or(soon, |at| at.min(soon)));
        }
        if let Some(at) = wake {
            let ms = at.saturating_duration_since(self.base).as_millis() as u64;
            self.armed.store(ms, Ordering::Release);
        }
        wake
    }

    /// A request's headers are in: the handler may take its time.
    pub(super) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.enter(BUSY);
    }

    /// Its answer is written (or abandoned): wait for the next request.
    pub(super) fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.enter(IDLE);
        }
    }

    fn bytes_arrived(&self) {
        // The next request has begun: its headers get the header timeout,
        // whatever is left of the idle one.
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.enter(HEADERS);
        }
    }

    /// The client took some of the answer out of the kernel's buffer: it
    /// is reading, however slowly.
    fn client_read(&self) {
        let now = self.now();
        self.written.store(now, Ordering::Relaxed);
        if self.write_blocked.load(Ordering::Relaxed) != 0 {
            self.write_blocked.store(now + 1, Ordering::Relaxed);
        }
    }

    /// When the connection must be closed, if nothing changes before then.
    pub(super) fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let at = |since: u64, limit: Option<Duration>| {
            limit.map(|limit| self.base + Duration::from_millis(since) + limit)
        };
        match self.phase.load(Ordering::Acquire) {
            HEADERS => at(self.since.load(Ordering::Relaxed), limits.header),
            // hyper may still be writing the last answer: a slow reader
            // that keeps reading is not idle.
            IDLE => at(
                self.since
                    .load(Ordering::Relaxed)
                    .max(self.written.load(Ordering::Relaxed)),
                limits.idle,
            ),
            // A handler may run long; a client that reads nothing of its
            // answer for the idle timeout is gone or hostile.
            _ => match self.write_blocked.load(Ordering::Relaxed) {
                0 => None,
                blocked => at(blocked - 1, limits.idle),
            },
        }
    }
}

/// What the kernel still holds of the answers: a client reading slowly drains
/// it long before hyper's next write gets room (the kernel frees room for a
/// write a third of its buffer at a time), so the watchdog samples it.
pub(super) struct SendQueue {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
    last: u64,
}

impl SendQueue {
    pub(super) fn new(stream: &tokio::net::TcpStream) -> SendQueue {
        SendQueue {
            #[cfg(target_os = "linux")]
            fd: std::os::fd::AsRawFd::as_raw_fd(stream),
            last: 0,
        }
    }

    #[cfg(target_os = "linux")]
    fn bytes(&self) -> u64 {
        let mut n: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int; the socket is open
        // for as long as the connection this belongs to.
        let done = unsafe { libc::ioctl(self.fd, libc::TIOCOUTQ, &mut n) };
        if done == 0 { n.max(0) as u64 } else { 0 }
    }

    #[cfg(not(target_os = "linux"))]
    fn bytes(&self) -> u64 {
        0
    }

    /// Records progress on `watch` if the queue shrank since the last
    /// sample; says whether bytes are still queued (worth sampling again).
    pub(super) fn sample(&mut self, watch: &Watch) -> bool {
        let now = self.bytes();
        if now < self.last {
            watch.client_read();
        }
        self.last = now;
        now > 0
    }
}

/// The socket, reporting to its [`Watch`].
pub(super) struct TimedIo<T> {
    pub(super) inner: T,
    pub(super) watch: std::sync::Arc<Watch>,
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watch.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> TimedIo<T> {
    /// Only writes count: hyper flushes (a no-op on a socket) whenever the
    /// connection is polled, which says nothing about the client.
    fn wrote(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        let blocked = &self.watch.write_blocked;
        match polled {
            Poll::Pending => {
                if blocked.load(Ordering::Relaxed) == 0 {
                    blocked.store(self.watch.now() + 1, Ordering::Relaxed);
                    self.watch.sooner.notify_one();
                }
            }
            Poll::Ready(Ok(n)) if n > 0 => {
                blocked.store(0, Ordering::Relaxed);
                self.watch
                    .written
                    .store(self.watch.now(), Ordering::Relaxed);
            }
            Poll::Ready(_) => {}
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
