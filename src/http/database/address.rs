//! Where the database a route names lives. Immutable databases live under
//! `/{db}-{hash}`: other names redirect there, and writes are refused.

use super::Addressed;
use crate::catalog::databases::DatabaseRow;
use crate::error::{AppError, AppResult};
use crate::http::routes::{self, Format, SpaceRoute};
use crate::http::tenant::{SpaceRequest, redirect};
use axum::response::Response;

/// Where the database a route names was found.
pub enum Address {
    /// Its catalog row, and whether the URL carried its current hash.
    Found(DatabaseRow, bool),
    /// An immutable database under another name: redirected to its hash.
    Redirect(Response),
    /// No such database: its handler answers the 404.
    Missing,
}

/// Finds the database of a route.
pub async fn address(
    req: &SpaceRequest,
    route: &SpaceRoute,
    segment: &str,
    rest: &str,
) -> AppResult<Address> {
    let Some(found) = super::find_database(req, segment).await? else {
        return Ok(Address::Missing);
    };
    let (row, current) = match found {
        Addressed::Plain(row) => (row, false),
        Addressed::Hashed { row, current } => (row, current),
    };
    let Some(hash) = row.immutable_hash.as_deref() else {
        return Ok(Address::Found(row, false));
    };
    if route.writes() {
        return Err(AppError::Forbidden("Database is immutable".into()));
    }
    if current {
        return Ok(Address::Found(row, true));
    }
    let after = rest
        .strip_prefix('/')
        .and_then(|r| r.find('/').map(|i| &r[i..]));
    let suffix = match (after, route) {
        (Some(after), _) => after.to_owned(),
        (None, SpaceRoute::Database(_, Format::Json)) => ".json".to_owned(),
        (None, SpaceRoute::Database(_, Format::Csv)) => ".csv".to_owned(),
        (None, SpaceRoute::Extra(routes::Extra::Download(_))) => ".db".to_owned(),
        (None, _) => String::new(),
    };
    let query = req.query().map(|q| format!("?{q}")).unwrap_or_default();
    let location = format!("{}/{}-{hash}{suffix}{query}", req.base, row.name);
    Ok(Address::Redirect(redirect(&location, 302)))
}
