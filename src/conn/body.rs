//! Request bodies that must arrive in time, and answers that tell the
//! connection's [`Watch`] when they are done.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::watch::Watch;

/// Set on a request whose body has a deadline; says whether it passed, so
/// the HTTP layer can answer 408 whatever the handler made of the cut body.
#[derive(Clone, Debug, Default)]
pub struct BodyDeadline(Arc<AtomicBool>);

impl BodyDeadline {
    pub fn passed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The error a late body ends with.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body took too long to arrive")
    }
}

impl std::error::Error for BodyTimedOut {}

/// A request body cut off with an error once its deadline passes.
pub(super) struct TimedBody<B> {
    inner: B,
    timer: Option<Pin<Box<Sleep>>>,
    deadline: BodyDeadline,
}

impl<B: Body> TimedBody<B> {
    pub(super) fn new(inner: B, limit: Option<Duration>) -> (TimedBody<B>, BodyDeadline) {
        let deadline = BodyDeadline::default();
        let timer = match limit {
            Some(limit) if !inner.is_end_stream() => Some(Box::pin(tokio::time::sleep(limit))),
            _ => None,
        };
        let body = TimedBody {
            inner,
            timer,
            deadline: deadline.clone(),
        };
        (body, deadline)
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.deadline.passed() {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if let Some(timer) = &mut this.timer {
            if timer.as_mut().poll(cx).is_ready() {
                this.deadline.0.store(true, Ordering::Release);
                return Poll::Ready(Some(Err(BodyTimedOut.into())));
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body; when hyper drops it (written whole, or abandoned), the
/// connection goes back to waiting for its next request.
pub(super) struct Tracked<B> {
    pub(super) inner: B,
    pub(super) watch: Arc<Watch>,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.watch.request_ended();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
