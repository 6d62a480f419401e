//! The web UI: askama pages from `templates/` (every value escaped), and what
//! they share: the page chrome, form and JSON bodies, CSRF checks, redirects,
//! and the formatting of cells, sizes and times.

pub(crate) mod pages;

pub mod alter;
pub mod execute;
pub mod explorer;
pub mod flash;
pub mod login;
pub mod members;
pub mod multipart;
pub mod redirect;
pub mod row;
pub mod rows;
pub mod spaces;
pub mod stored;
pub mod table;
pub mod tables;
pub mod tokens;
pub mod upload;

use askama::Template;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::session::Session;

/// What the header of every page needs: where the space is, who is asking.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    /// Prefix of the space's URLs (`/{space}`), empty outside a space.
    pub base: String,
    /// The space's name, outside a space `None`.
    pub space: Option<String>,
    /// The logged-in user (or the token's user).
    pub user: Option<String>,
    /// The CSRF token forms carry, when logged in with a cookie.
    pub csrf: String,
    /// The actor is a member of the space (may manage their API tokens).
    pub member: bool,
    /// The actor owns the space (may manage members).
    pub owner: bool,
    /// A message left by the form that led here ("Row inserted.").
    pub flash: Option<&'static str>,
}

impl Chrome {
    /// Chrome outside any space (login, error pages, the spaces list).
    pub fn instance(app: &crate::app::App, session: Option<&Session>) -> Chrome {
        Chrome {
            user: session.map(|s| s.name.clone()),
            csrf: session
                .map(|s| s.csrf_token(&app.config.secret))
                .unwrap_or_default(),
            ..Chrome::default()
        }
    }

    /// Chrome of a space page, with the actor's role in the space.
    pub async fn for_space(req: &SpaceRequest) -> AppResult<Chrome> {
        let role = role(req).await?;
        Ok(Chrome {
            base: req.base.clone(),
            space: Some(req.space.space.name.clone()),
            user: req.actor.name.clone(),
            csrf: req
                .session
                .as_ref()
                .map(|s| s.csrf_token(&req.app.config.secret))
                .unwrap_or_default(),
            member: role.is_some(),
            owner: role.as_deref() == Some("owner") && req.actor.restrictions().is_none(),
            flash: req.flash,
        })
    }
}

/// The actor's role in the request's space, if the actor is a member.
pub async fn role(req: &SpaceRequest) -> AppResult<Option<String>> {
    let Some(user_id) = req.actor.user_id else {
        return Ok(None);
    };
    let space_id = req.space_id();
    Ok(req
        .app
        .catalog
        .call(move |conn| crate::catalog::spaces::role_of(conn, space_id, user_id))
        .await?)
}

/// Renders a page with status 200.
pub fn html(page: impl Template) -> AppResult<Response> {
    html_status(StatusCode::OK, page)
}

/// Renders a page with `status`.
pub fn html_status(status: StatusCode, page: impl Template) -> AppResult<Response> {
    let body = page.render().map_err(anyhow::Error::from)?;
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    // Pages may hold secrets (a new token) and per-user content.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    Ok(response)
}

/// A 303 to a path of this server (after a form POST); anything that is not
/// a plain path of this server leads to `/` instead.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let location = redirect::same_origin_path(location).unwrap_or("/");
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The largest form or JSON body the UI reads.
const MAX_BODY: usize = 256 * 1024;

/// Reads a body whole, refusing very large ones.
pub async fn read_body(body: Body) -> AppResult<Vec<u8>> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| AppError::BadRequest("Request body is too large or unreadable".into()))
}

/// A url-encoded form body as ordered pairs.
pub async fn read_form(body: Body) -> AppResult<Vec<(String, String)>> {
    let bytes = read_body(body).await?;
    Ok(form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The first value of `key` in a form.
pub fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A form POST made with a session cookie must carry the session's CSRF
/// token (the Origin checks already ran in the tenant router).
pub fn check_form_token(req: &SpaceRequest, form: &[(String, String)]) -> AppResult<()> {
    let Some(session) = &req.session else {
        return Ok(());
    };
    let token = field(form, "csrftoken").unwrap_or("");
    if session.csrf_matches(&req.app.config.secret, token) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Form expired or was sent from another site: reload the page and try again".into(),
        ))
    }
}

/// Datasette 1.0's CSRF defence for requests authenticated by a cookie:
/// a browser's `Sec-Fetch-Site` must say same-origin (or a typed URL), and an
/// `Origin`, when sent, must name this host.
pub fn check_origin(headers: &HeaderMap) -> AppResult<()> {
    let refused = || AppError::Forbidden("Cross-site request refused".into());
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return Err(refused());
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("");
        if host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(refused());
        }
    }
    Ok(())
}

/// Whether the session cookie should be `Secure`: the server is public over
/// https, or the request came over https.
pub fn is_https(app: &crate::app::App, headers: &HeaderMap) -> bool {
    app.config.settings.flag("force_https_urls")
        || app.config.public_url.is_https()
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `1.2 MB` for a byte count.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2024-05-01 12:30 UTC` for unix seconds.
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// A cell's text cut to `limit` characters (0: no limit), as `truncate_cells_html`.
pub fn truncate(text: String, limit: u64) -> String {
    if limit == 0 || text.chars().count() as u64 <= limit {
        return text;
    }
    let mut cut: String = text.chars().take(limit as usize).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_714_566_600), "2024-05-01 12:30 UTC");
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(2048), "2.0 KB");
        assert_eq!(truncate("abcdef".into(), 3), "abc…");
        assert_eq!(truncate("abc".into(), 3), "abc");
        assert_eq!(truncate("abcdef".into(), 0), "abcdef");
    }

    #[test]
    fn origin_checks() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("a.test:8080"));
        assert!(check_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://a.test:8080"),
        );
        assert!(check_origin(&headers).is_ok());
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_origin(&headers).is_err());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
        assert!(check_origin(&headers).is_err());
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(check_origin(&headers).is_err());
    }
}

/// One table cell as a page shows it.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    /// What is shown (already truncated).
    pub text: String,
    /// Where the text links to.
    pub href: Option<String>,
    /// Shown after a link, e.g. the raw key beside a foreign key's label.
    pub note: Option<String>,
    /// `null`, `num` or empty: styling only.
    pub class: &'static str,
}

impl Cell {
    /// A value as text: blobs as their size, long text cut to `limit`.
    pub fn value(value: &libsql::Value, limit: u64) -> Cell {
        use libsql::Value;
        match value {
            Value::Null => Cell {
                text: String::new(),
                class: "null",
                ..Cell::default()
            },
            Value::Integer(_) | Value::Real(_) => Cell {
                text: crate::read::values::to_text(value),
                class: "num",
                ..Cell::default()
            },
            Value::Blob(b) => Cell {
                text: format!("<Binary: {} bytes>", b.len()),
                ..Cell::default()
            },
            Value::Text(t) => Cell {
                text: truncate(t.clone(), limit),
                ..Cell::default()
            },
        }
    }
}
