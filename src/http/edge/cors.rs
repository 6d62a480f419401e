//! CORS. A space with an allowlist (`space set --cors-origin`) answers
//! cross-origin requests from those origins only, naming the origin; other
//! spaces and instance routes follow `serve --cors` (any origin, `*`).
//! Credentials are never allowed: cookies must not ride cross-origin.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::http::routes;
use crate::names::SpaceName;

/// What a request may be told about CORS.
enum Policy {
    /// No CORS headers.
    None,
    /// `serve --cors`: any origin.
    Any,
    /// The space's allowlist; `Some(origin)` when the request's is on it.
    Listed(Option<HeaderValue>),
}

/// The layer. It runs after the spaces-domain rewrite, so the space is the
/// path's first segment; its list comes from the cached space lookup.
pub async fn layer(
    app: &App,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    // Owned copies: a `Request` must not be held across the lookup's await.
    let path = request.uri().path().to_owned();
    let origin = request.headers().get(header::ORIGIN).cloned();
    let policy = policy(app, &path, origin).await;
    let preflight = request.method() == Method::OPTIONS;
    let mut response = match (&policy, preflight) {
        (Policy::Any | Policy::Listed(_), true) => StatusCode::OK.into_response(),
        _ => next(request).await,
    };
    let headers = response.headers_mut();
    match policy {
        Policy::None => {}
        Policy::Any => allow(headers, HeaderValue::from_static("*")),
        Policy::Listed(origin) => {
            // The answer depends on Origin: shared caches must key on it.
            add_vary_origin(headers);
            if let Some(origin) = origin {
                allow(headers, origin);
            }
        }
    }
    response
}

async fn policy(app: &App, path: &str, origin: Option<HeaderValue>) -> Policy {
    let fallback = if app.config.cors {
        Policy::Any
    } else {
        Policy::None
    };
    let Some((name, _)) = routes::split_space(path) else {
        return fallback;
    };
    // Instance routes (`-`, `metrics`, …) and junk are no space: no lookup.
    if SpaceName::parse(name).is_err() {
        return fallback;
    }
    let space = match app.space(name).await {
        Ok(Some(space)) => space,
        Ok(None) => return fallback,
        // Unsure whether the space has a list: allow nothing.
        Err(_) => return Policy::None,
    };
    if space.cors_origins.is_empty() {
        return fallback;
    }
    let origin = origin.filter(|o| {
        space
            .cors_origins
            .iter()
            .any(|a| o.as_bytes() == a.as_bytes())
    });
    Policy::Listed(origin)
}

/// Datasette's `--cors` headers, with `origin` allowed.
fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    for (name, value) in [
        (
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type",
        ),
        (header::ACCESS_CONTROL_EXPOSE_HEADERS, "Link"),
        (
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, HEAD, OPTIONS",
        ),
        (header::ACCESS_CONTROL_MAX_AGE, "3600"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Adds `Origin` to the answer's `Vary`, keeping what it names already.
fn add_vary_origin(headers: &mut HeaderMap) {
    let value = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(vary) if !vary.is_empty() => format!("{vary}, Origin"),
        _ => "Origin".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(header::VARY, value);
    }
}
