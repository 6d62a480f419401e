//! Logging in and out: `/-/login` (username and password, argon2id checked on
//! the blocking pool with equal work for unknown users, attempts rate-limited
//! per user and per client address), `/-/logout`, and `/-/auth-token?token=`,
//! the one-time link `serve` prints for the instance admin.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{Chrome, check_origin, field, html_status, is_https, read_form, see_other};
use crate::app::App;
use crate::catalog::{logins, unix_now};
use crate::error::{AppError, AppResult};
use crate::http::auth;
use crate::session::{self, Session};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    username: String,
    next: String,
    error: Option<String>,
}

/// A hash to check unknown users' passwords against, so every attempt costs
/// one argon2 verification.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    crate::catalog::users::hash_password("libsette dummy password")
        .expect("hashing a constant works")
});

/// `next=` only ever leads to a path of this server.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn page(status: StatusCode, username: &str, next: &str, error: Option<String>) -> Response {
    html_status(
        status,
        LoginPage {
            chrome: Chrome::default(),
            username: username.to_owned(),
            next: next.to_owned(),
            error,
        },
    )
    .unwrap_or_else(|e| e.into_html_response())
}

/// `GET /-/login`
pub async fn form(request: Request) -> Response {
    let args = crate::read::args::Args::parse(request.uri().query());
    page(StatusCode::OK, "", &safe_next(args.get("next")), None)
}

/// Logs `user` in: a signed cookie and a redirect to `next`.
fn logged_in(app: &App, request_https: bool, user_id: i64, name: &str, next: &str) -> Response {
    let session = Session::new(user_id, name, unix_now());
    let mut response = see_other(next);
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(
        &session.sign(&app.config.secret),
        request_https,
    )) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Verifies `password` against the user's hash, or a dummy one, off the async workers.
async fn verify(hash: Option<String>, password: String) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
    let ok = crate::sqlite::blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await;
    known && ok
}

/// `POST /-/login`
pub async fn submit(State(app): State<Arc<App>>, request: Request) -> Response {
    match try_submit(&app, request).await {
        Ok(response) => response,
        Err(err) => err.into_html_response(),
    }
}

async fn try_submit(app: &Arc<App>, request: Request) -> AppResult<Response> {
    check_origin(request.headers())?;
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let https = is_https(app, request.headers());
    let form = read_form(request.into_body()).await?;
    let username = field(&form, "username").unwrap_or("").trim().to_owned();
    let password = field(&form, "password").unwrap_or("").to_owned();
    let next = safe_next(field(&form, "next"));
    if !app.logins.allows(&username, &address) {
        return Ok(page(
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            &next,
            Some("Too many failed attempts. Wait a few minutes and try again.".into()),
        ));
    }
    let lookup = username.clone();
    let user = app
        .catalog
        .call(move |conn| logins::find_user(conn, &lookup))
        .await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = verify(hash, password).await;
    match user {
        Some(user) if ok => {
            app.logins.succeeded(&username);
            Ok(logged_in(app, https, user.id, &user.name, &next))
        }
        _ => {
            app.logins.failed(&username, &address);
            Ok(page(
                StatusCode::UNAUTHORIZED,
                &username,
                &next,
                Some("Wrong username or password.".into()),
            ))
        }
    }
}

/// `POST /-/logout`: needs the session's CSRF token.
pub async fn logout(State(app): State<Arc<App>>, request: Request) -> Response {
    let result: AppResult<Response> = async {
        check_origin(request.headers())?;
        let session = auth::session(&app, request.headers());
        let https = is_https(&app, request.headers());
        let form = read_form(request.into_body()).await?;
        if let Some(session) = session
            && !session.csrf_matches(&app.config.secret, field(&form, "csrftoken").unwrap_or(""))
        {
            return Err(AppError::Forbidden(
                "Form expired or was sent from another site".into(),
            ));
        }
        let mut response = see_other("/-/login");
        if let Ok(value) = HeaderValue::from_str(&session::clear_cookie(https)) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        Ok(response)
    }
    .await;
    result.unwrap_or_else(|e| e.into_html_response())
}

/// `GET /-/auth-token?token=CODE`: a one-time login link.
pub async fn auth_token(State(app): State<Arc<App>>, request: Request) -> Response {
    let args = crate::read::args::Args::parse(request.uri().query());
    let code = args.get("token").unwrap_or("").to_owned();
    let https = is_https(&app, request.headers());
    let consumed = app
        .catalog
        .call(move |conn| logins::consume_code(conn, &code))
        .await;
    match consumed {
        Ok((user_id, name)) => logged_in(&app, https, user_id, &name, "/"),
        Err(_) => AppError::Forbidden("This login link is unknown, used or expired".into())
            .into_html_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/demo/")), "/demo/");
        assert_eq!(safe_next(Some("//evil.test/")), "/");
        assert_eq!(safe_next(Some("https://evil.test/")), "/");
        assert_eq!(safe_next(Some("/\\evil.test")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
