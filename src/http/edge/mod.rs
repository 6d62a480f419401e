//! The HTTP edge: layers every request passes (metrics and logs, CORS,
//! rate limits), who is asking (tokens, cookies), and bodies read under limits.

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod cors;
pub(crate) mod error_page;
pub(crate) mod limits;
pub(crate) mod observe;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::conn::BodyDeadline;
use crate::error::AppError;

/// What every request passes around `route`, outermost first: its span
/// and metrics ([`observe`]), its body deadline and `nosniff` ([`guard`]), a
/// spaces-domain host turned into a path, and CORS. Plain functions, not
/// tower layers: each layer cost every request allocations and a clone of
/// the whole stack beneath it.
pub async fn around(
    app: &App,
    request: Request,
    route: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    observe::observe(request, async move |request| {
        guard(
            request,
            async move |request| match crate::http::tenant::host_to_path(app, request) {
                Some(request) => cors::layer(app, request, route).await,
                None => crate::http::not_found(),
            },
        )
        .await
    })
    .await
}

/// Browsers must take every answer (JSON, CSV, HTML, errors) as the type
/// it says it is, never sniff it into HTML or script; and a body that did
/// not arrive in time (see `crate::conn`) is answered 408 whatever the
/// handler made of the cut-off body (it never read it whole, so it wrote
/// nothing), closing the connection: the rest may still trickle in.
async fn guard(request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let deadline = request.extensions().get::<BodyDeadline>().cloned();
    let mut response = next(request).await;
    if deadline.is_some_and(|d| d.passed()) {
        response = too_late(response);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The 408 for a body past its deadline, under the route the handler named.
fn too_late(response: Response) -> Response {
    let route = response.extensions().get::<observe::RouteLabel>().copied();
    let mut response = AppError::Errors(
        StatusCode::REQUEST_TIMEOUT,
        vec!["The request body took too long to arrive".into()],
    )
    .into_response();
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
