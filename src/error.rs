//! The one error type of the HTTP layer and its mapping to a status and
//! Datasette 1.0's JSON error body `{ok, error, errors, status}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401: a bearer token was sent but cannot be used.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// 403: the actor may not do this; Datasette names the action or the refusal.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the message never echoes the path, so it can't reflect input.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// Datasette's JSON error listing every problem found (the write API's
    /// 400s, its 404s that name the missing table or record, 413). `error`
    /// is the messages joined with "; ", as Datasette has it.
    #[error("{}", .1.join("; "))]
    Errors(StatusCode, Vec<String>),
    /// 429: over a rate or concurrency limit; retry after this many seconds.
    #[error("{0}")]
    TooMany(String, u64),
    /// 403: a space's quota (database size, number of databases) is used up.
    #[error("{0}")]
    Quota(String),
    /// 503: the primary cannot be reached (or this node is behind it);
    /// retry after this many seconds.
    #[error("{0}")]
    Unavailable(String, u64),
    /// 500: the cause is logged, never sent.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> AppError {
        // The primary of a replicated node could not take a write.
        if let Some(down) = err.downcast_ref::<crate::replica::PrimaryUnavailable>() {
            return AppError::Unavailable(down.to_string(), 1);
        }
        AppError::Internal(err)
    }
}

impl AppError {
    /// The answer for an unknown space and for one the actor may not see: identical on purpose.
    pub fn space_not_found() -> AppError {
        AppError::NotFound("Not found")
    }

    /// A 400 listing every problem.
    pub fn invalid(errors: Vec<String>) -> AppError {
        AppError::Errors(StatusCode::BAD_REQUEST, errors)
    }

    /// A 400 with one message.
    pub fn invalid_one(message: impl Into<String>) -> AppError {
        AppError::invalid(vec![message.into()])
    }

    /// Datasette's 400 for a JSON body holding keys outside `allowed`, sorted.
    pub fn check_keys(
        data: &serde_json::Map<String, serde_json::Value>,
        allowed: &[&str],
    ) -> AppResult<()> {
        let mut extra: Vec<&str> = data
            .keys()
            .map(String::as_str)
            .filter(|k| !allowed.contains(k))
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        extra.sort_unstable();
        Err(AppError::invalid_one(format!(
            "Invalid keys: {}",
            extra.join(", ")
        )))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Errors(status, _) => *status,
            AppError::TooMany(..) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Quota(_) => StatusCode::FORBIDDEN,
            AppError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl AppError {
    /// The message and the list of problems a client may see (never a 500's cause).
    pub fn public(&self) -> (String, Vec<String>) {
        match self {
            AppError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                let message = "Internal server error".to_owned();
                (message.clone(), vec![message])
            }
            AppError::Errors(_, errors) => (errors.join("; "), errors.clone()),
            other => (other.to_string(), vec![other.to_string()]),
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        self.public().0
    }

    /// The error as plain text, as Datasette answers failed CSV requests.
    pub fn into_text_response(self) -> Response {
        let status = self.status();
        let (message, _) = self.public();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message,
        )
            .into_response();
        self.add_headers(&mut response);
        response
    }

    /// Headers some errors carry whatever the body's format.
    pub fn add_headers(&self, response: &mut Response) {
        match self {
            AppError::InvalidToken(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            AppError::TooMany(_, seconds) | AppError::Unavailable(_, seconds) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            _ => {}
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, errors) = self.public();
        let body = json!({
            "ok": false,
            "error": message,
            "errors": errors,
            "status": status.as_u16(),
        });
        let mut response = (status, axum::Json(body)).into_response();
        self.add_headers(&mut response);
        response
    }
}
