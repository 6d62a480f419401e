//! The frame a request reads at on a replicated node: a replica older than
//! the staleness bound syncs first, a request may ask for "at least frame
//! N" (read-your-writes across nodes), and an unreachable primary leaves
//! reads on what the replica has, marked stale.

use std::sync::Arc;
use std::time::Duration;

use super::Replica;
use crate::error::{AppError, AppResult};

/// The request header asking for at least a frame (also `?_min_frame=`).
pub const MIN_FRAME_HEADER: &str = "x-libsette-min-frame";
/// The answer's header: the frame it was read at or written at.
pub const FRAME_HEADER: &str = "x-libsette-frame";
/// On answers read while the primary could not be reached.
pub const STALE_HEADER: &str = "x-libsette-stale";

/// How long a request waits for its replica to reach the frame it asked for.
const MIN_FRAME_WAIT: Duration = Duration::from_secs(3);

/// The frame a request asked for at least (header or `_min_frame`, as sent).
pub fn min_frame(asked: Option<&str>) -> AppResult<Option<u64>> {
    match asked.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            AppError::BadRequest("_min_frame must be a frame number (a whole number)".into())
        }),
    }
}

/// Brings `replica` to where the request may read it, and notes the frame.
pub async fn reach(replica: &Arc<Replica>, staleness: Duration, min: Option<u64>) -> AppResult<()> {
    if let Some(min) = min.filter(|m| *m > replica.frame()) {
        let r = replica.clone();
        let reached = crate::sqlite::blocking(move || {
            tokio::runtime::Handle::current().block_on(r.sync_until(min, MIN_FRAME_WAIT))
        })
        .await;
        if reached.is_err() || replica.frame() < min {
            return Err(AppError::Unavailable(
                format!("This node has not reached frame {min} yet: try again"),
                1,
            ));
        }
    } else if replica.since_sync().is_none_or(|age| age > staleness) {
        let r = replica.clone();
        let synced =
            crate::sqlite::blocking(move || tokio::runtime::Handle::current().block_on(r.sync()))
                .await;
        if let Err(err) = synced {
            tracing::debug!(namespace = %replica.namespace(), "serving stale: {err:#}");
            super::note_stale();
            crate::metrics::metrics().replica.stale_reads.inc();
        }
    }
    super::note_frame(replica.frame());
    Ok(())
}

/// Says on the answer where it was read or written (see the README).
pub fn mark(response: &mut axum::response::Response, at: super::ReadAt) {
    use axum::http::HeaderValue;
    if let Some(frame) = at.frame {
        response
            .headers_mut()
            .insert(FRAME_HEADER, HeaderValue::from(frame));
    }
    if at.stale {
        response
            .headers_mut()
            .insert(STALE_HEADER, HeaderValue::from_static("1"));
    }
}
