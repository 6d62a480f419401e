//! `/{db}.db`: the database file.

use axum::response::Response;

use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;

pub async fn show(_req: &SpaceRequest, _db: &str) -> AppResult<Response> {
    Err(AppError::NotFound("Not found"))
}
