//! Errors as HTML pages, for the routes that answer with pages: rendered
//! here at the edge, so the error type knows nothing of the UI's chrome.

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::http::ui::Chrome;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    title: String,
    message: String,
}

/// The error as a page with the site's chrome, its status and headers.
pub fn render(error: AppError) -> Response {
    let status = error.status();
    let (message, _) = error.public();
    let page = ErrorPage {
        chrome: Default::default(),
        title: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error")
        ),
        message,
    };
    let body = page
        .render()
        .unwrap_or_else(|_| "<!DOCTYPE html><title>Error</title>".to_owned());
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    error.add_headers(&mut response);
    response
}
