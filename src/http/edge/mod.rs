//! The HTTP edge: layers every request passes (metrics and logs, CORS,
//! rate limits), who is asking (tokens, cookies), and bodies read under limits.

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod cors;
pub(crate) mod limits;
pub(crate) mod observe;
