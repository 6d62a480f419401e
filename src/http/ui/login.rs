//! Logging in and out: `/-/login` (username and password, argon2id checked on
//! the blocking pool with equal work for unknown users, a few checks at once,
//! attempts counted before checking; see [`crate::session::limits`]),
//! `/-/logout` (this session, or with `everywhere` all of the user's), and
//! `/-/auth-token?token=`, the one-time link `serve` prints for the admin.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, LazyLock};

use argon2::password_hash::PasswordHash;
use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::redirect::safe_next;
use super::{Chrome, check_origin, field, html_status, is_https, read_form, see_other};
use crate::app::App;
use crate::catalog::{logins, sessions, unix_now};
use crate::error::{AppError, AppResult};
use crate::http::edge::auth;
use crate::session::limits::Refusal;
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
    .unwrap_or_else(crate::http::edge::error_page::render)
}

/// The login page refusing an attempt, with when to retry.
fn refused(
    status: StatusCode,
    retry_after: u64,
    username: &str,
    next: &str,
    error: &str,
) -> Response {
    let mut response = page(status, username, next, Some(error.to_owned()));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// `GET /-/login`
pub async fn form(request: Request) -> Response {
    let args = crate::read::args::Args::parse(request.uri().query());
    page(StatusCode::OK, "", &safe_next(args.get("next")), None)
}

/// Logs `user` in: a new server-side session, its signed cookie and a
/// redirect to `next`.
async fn logged_in(
    app: &App,
    request_https: bool,
    user_id: i64,
    name: &str,
    next: &str,
) -> AppResult<Response> {
    let session = Session::new(user_id, name, unix_now());
    let (id, expires_at) = (session.id.clone(), session.expires_at);
    app.catalog
        .call(move |conn| sessions::create(conn, &id, user_id, expires_at))
        .await?;
    let mut response = see_other(next);
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(
        &session.sign(&app.config.secret),
        request_https,
    )) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

thread_local! {
    /// argon2's working memory (19 MiB), kept by each checking thread and
    /// reused: allocated afresh per check, the allocator's heaps grew by
    /// hundreds of MiB under a flood.
    static BLOCKS: RefCell<Vec<argon2::Block>> = const { RefCell::new(Vec::new()) };
}

/// Whether `password` matches `hash` (an argon2 PHC string), compared in
/// constant time; what `PasswordVerifier` does, in this thread's memory.
fn matches(hash: &str, password: &str) -> bool {
    let check = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::default(),
        };
        let params = argon2::Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        let blocks = params.block_count();
        let argon2 = argon2::Argon2::new(algorithm, version, params);
        BLOCKS.with_borrow_mut(|memory| {
            memory.resize(blocks, argon2::Block::default());
            argon2
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    salt,
                    &mut out,
                    &mut memory[..],
                )
                .ok()
        })?;
        Some(out.ct_eq(expected.as_bytes()).into())
    };
    check().unwrap_or(false)
}

/// Counts a login attempt by outcome in `/metrics`.
fn count(outcome: &str) {
    crate::metrics::metrics()
        .logins
        .with_label_values(&[outcome])
        .inc();
}

/// `POST /-/login`
pub async fn submit(State(app): State<Arc<App>>, request: Request) -> Response {
    match try_submit(&app, request).await {
        Ok(response) => response,
        Err(err) => crate::http::edge::error_page::render(err),
    }
}

async fn try_submit(app: &Arc<App>, request: Request) -> AppResult<Response> {
    check_origin(request.headers())?;
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let https = is_https(app, request.headers());
    let form = read_form(request.into_body()).await?;
    let username = field(&form, "username").unwrap_or("").trim().to_owned();
    let password = field(&form, "password").unwrap_or("").to_owned();
    let next = safe_next(field(&form, "next"));
    // Counted before anything is checked, so concurrent attempts cannot
    // all pass a limit that only failures already finished would move.
    let attempt = match app.logins.begin(&username, address) {
        Ok(attempt) => attempt,
        Err(Refusal::Limited(wait)) => {
            count("limited");
            let message = "Too many failed attempts. Wait a few minutes and try again.";
            return Ok(refused(
                StatusCode::TOO_MANY_REQUESTS,
                wait,
                &username,
                &next,
                message,
            ));
        }
    };
    // No user name is longer (or it could not be stored): one lookup fewer,
    // and the same argon2 check as for any unknown user.
    let user = if username.len() <= 64 {
        let lookup = username.clone();
        app.catalog
            .call(move |conn| logins::find_user(conn, &lookup))
            .await?
    } else {
        None
    };
    // Unknown users (and users without a password) cost one check too.
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
    let Some(ok) = app.logins.check(move || matches(&hash, &password)).await else {
        attempt.withdraw();
        count("busy");
        let message = "The server is busy. Try again in a moment.";
        return Ok(refused(
            StatusCode::SERVICE_UNAVAILABLE,
            1,
            &username,
            &next,
            message,
        ));
    };
    let ok = known && ok;
    match user {
        Some(user) if ok => {
            attempt.succeeded();
            count("ok");
            logged_in(app, https, user.id, &user.name, &next).await
        }
        _ => {
            count("wrong");
            Ok(page(
                StatusCode::UNAUTHORIZED,
                &username,
                &next,
                Some("Wrong username or password.".into()),
            ))
        }
    }
}

/// `POST /-/logout`: needs the session's CSRF token. Ends this session, or
/// with `everywhere` set, every session of its user.
pub async fn logout(State(app): State<Arc<App>>, request: Request) -> Response {
    let result: AppResult<Response> = async {
        check_origin(request.headers())?;
        let session = auth::session(&app, request.headers()).await;
        let https = is_https(&app, request.headers());
        let form = read_form(request.into_body()).await?;
        if let Some(session) = session {
            if !session.csrf_matches(&app.config.secret, field(&form, "csrftoken").unwrap_or("")) {
                return Err(AppError::Forbidden(
                    "Form expired or was sent from another site".into(),
                ));
            }
            let everywhere = field(&form, "everywhere").is_some_and(|v| !v.is_empty());
            app.catalog
                .call(move |conn| {
                    if everywhere {
                        sessions::revoke_all(conn, session.user_id).map(drop)
                    } else {
                        sessions::revoke(conn, &session.id)
                    }
                })
                .await?;
            app.sessions_changed();
        }
        let mut response = see_other("/-/login");
        if let Ok(value) = HeaderValue::from_str(&session::clear_cookie(https)) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        Ok(response)
    }
    .await;
    result.unwrap_or_else(crate::http::edge::error_page::render)
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
    let result = match consumed {
        Ok((user_id, name)) => logged_in(&app, https, user_id, &name, "/").await,
        Err(_) => Err(AppError::Forbidden(
            "This login link is unknown, used or expired".into(),
        )),
    };
    result.unwrap_or_else(crate::http::edge::error_page::render)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_passwords_as_argon2_does() {
        let hash = crate::catalog::users::hash_password("right").unwrap();
        assert!(matches(&hash, "right"));
        assert!(!matches(&hash, "wrong"));
        assert!(!matches(&hash, ""));
        assert!(!matches("not a hash", "right"));
        assert!(matches(&DUMMY_HASH, "libsette dummy password"));
    }
}
