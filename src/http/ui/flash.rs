//! One-time messages after a form's redirect ("Row inserted"): a short-lived
//! cookie holding a code from a fixed list, so nothing the client sends is
//! ever shown back, shown once by the next page and cleared there.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::http::tenant::SpaceRequest;

const COOKIE: &str = "ls_flash";

/// The codes and the messages they show.
const MESSAGES: &[(&str, &str)] = &[
    ("row-inserted", "Row inserted."),
    ("row-updated", "Row saved."),
    ("row-deleted", "Row deleted."),
    ("table-created", "Table created."),
    ("table-altered", "Table altered."),
    ("table-dropped", "Table dropped."),
];

/// The message a request's flash cookie names, if any.
pub fn from_headers(headers: &HeaderMap) -> Option<&'static str> {
    let code = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| crate::session::cookie_value(v, COOKIE))?;
    MESSAGES.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// A 303 to `location` that leaves the message `code` for the next page.
pub fn see_other(location: &str, code: &'static str) -> Response {
    debug_assert!(MESSAGES.iter().any(|(c, _)| *c == code));
    let mut response = super::see_other(location);
    let cookie = format!("{COOKIE}={code}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Clears the cookie once a page has been answered with its message.
pub fn shown(req: &SpaceRequest, response: &mut Response) {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if req.flash.is_some() && html && !response.headers().contains_key(header::SET_COOKIE) {
        let clear = format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
        if let Ok(value) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_codes_show() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; ls_flash=row-deleted"),
        );
        assert_eq!(from_headers(&headers), Some("Row deleted."));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("ls_flash=<script>"),
        );
        assert_eq!(from_headers(&headers), None);
        let response = see_other("/s/db/t", "row-inserted");
        let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("ls_flash=row-inserted;"), "{cookie}");
    }
}
