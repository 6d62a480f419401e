//! Foreign keys.

use axum::response::Response;

use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;

pub async fn targets(_req: &SpaceRequest, _db: &str) -> AppResult<Response> {
    Err(AppError::NotFound("Not found"))
}

pub async fn suggestions(_req: &SpaceRequest, _db: &str, _t: &str) -> AppResult<Response> {
    Err(AppError::NotFound("Not found"))
}
