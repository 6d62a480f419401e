//! The conditions of a table request (column filters, `_where`, `_through`,
//! `_search`) with the permission checks they need, in Datasette's order;
//! and the redirect of the `_filter_column` form. Shared by the table page
//! and `POST /{db}/{table}/-/count`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::catalog::databases::DatabaseRow;
use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::http::database::{ViewableTable, open_viewable_table};
use crate::http::routes::Format;
use crate::http::tenant::SpaceRequest;
use crate::names::tilde_encode;
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::table_sql::{BadArg, Conditions};
use crate::read::{filters, search};
use crate::tenant::Schema;

fn bad(err: BadArg) -> AppError {
    AppError::BadRequest(err.0)
}

/// Builds the WHERE conditions of a request on `table`.
pub async fn conditions(
    req: &SpaceRequest,
    database: &DatabaseRow,
    schema: &Schema,
    table: &TableSchema,
    args: &Args,
) -> AppResult<Conditions> {
    let mut conditions = Conditions::default();
    filters::column_conditions(table, args, &mut conditions).map_err(bad)?;
    let column_descriptions = conditions.descriptions.len();

    // Then Datasette's filter hooks, in the order it runs them: _where, _through, _search.
    if args.has("_where") {
        let allowed = req.space.settings.flag("default_allow_sql")
            && req
                .app
                .allowed(
                    req.space_id(),
                    &req.actor,
                    "execute-sql",
                    Resource::Database(database.name.clone()),
                )
                .await?;
        if !allowed {
            return Err(AppError::Forbidden("_where= is not allowed".into()));
        }
        filters::where_conditions(args, &mut conditions).map_err(bad)?;
    }
    for through in filters::throughs(args).map_err(bad)? {
        req.require(
            "view-table",
            Resource::Table(database.name.clone(), through.table.clone()),
            "view-table",
        )
        .await?;
        filters::through_condition(schema, table, &through, &mut conditions).map_err(bad)?;
    }
    if let Some(search) = search::request(table, args).map_err(bad)? {
        req.require(
            "view-table",
            Resource::Table(database.name.clone(), search.fts_table.clone()),
            "view-table",
        )
        .await?;
        search::apply(&search, schema, &mut conditions).map_err(bad)?;
    }

    // Datasette describes _through and _search before the column filters.
    conditions.descriptions.rotate_left(column_descriptions);
    Ok(conditions)
}

/// The redirect Datasette answers `?_filter_column=…&_filter_op=…&_filter_value=…`
/// with, once the table is known to exist and be visible; `None` for other requests.
pub async fn form_redirect(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    format: Format,
) -> AppResult<Option<Response>> {
    let args = req.args();
    let Some(query) = filters::filter_form_redirect(args) else {
        return Ok(None);
    };
    let opened = open_viewable_table(req, db, table).await?;
    let ViewableTable {
        database,
        schema: _,
        ..
    } = &opened;
    let suffix = match format {
        Format::Html => "",
        Format::Json => ".json",
        Format::Csv => ".csv",
    };
    // Always a path of this server: the base is empty or `/{space}`, and the
    // database name and the tilde-encoded table name hold no `/`.
    let mut location = format!(
        "{}/{}/{}{suffix}",
        req.base,
        database.name,
        tilde_encode(table)
    );
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query);
    }
    let mut response = (
        StatusCode::FOUND,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("<{location}>; rel=preload")) {
        response.headers_mut().insert(header::LINK, value);
    }
    Ok(Some(response))
}
