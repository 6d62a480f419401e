//! Running a stored query at `/{db}/{name}` (`.json`, `.csv` or its page),
//! which Datasette serves when no table or view has that name. Anyone who
//! may `view-query` it may run it with `:named` parameters from the query
//! string, without `execute-sql`; SQL that writes runs on `POST`, through
//! the database's writer, when the actor may make each of its writes.

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use super::stored::may;
use super::stored_fields::{form_object, operations};
use crate::catalog::databases::DatabaseRow;
use crate::catalog::queries::StoredQuery;
use crate::error::{AppError, AppResult};
use crate::http::database::open_synced;
use crate::http::render::shape::{Output, Shape};
use crate::http::routes::Format;
use crate::http::tenant::SpaceRequest;
use crate::http::write::execute::{self, Audited};
use crate::http::write::{Body, json_status, open};
use crate::permissions::Resource;
use crate::read::args::Args;

/// A stored query found under `/{db}/{name}`, with its database.
pub struct Found {
    pub database: DatabaseRow,
    pub query: StoredQuery,
}

/// The stored query `/{db}/{name}` names: one exists and no table or view
/// of the database has that name (tables come first, as in Datasette).
pub async fn find(
    req: &SpaceRequest,
    database: Option<&DatabaseRow>,
    name: &str,
) -> AppResult<Option<Found>> {
    let Some(database) = database.filter(|_| req.space.has_queries) else {
        return Ok(None);
    };
    let stored = req.app.stored_query(req.space_id(), &database.name, name);
    let Some(query) = stored.await? else {
        return Ok(None);
    };
    let (_, schema) = open_synced(req, database).await?;
    if schema.table(name).is_some() {
        return Ok(None);
    }
    Ok(Some(Found {
        database: database.clone(),
        query,
    }))
}

/// Runs the query: reads on GET, writes on POST.
pub async fn run(
    req: &SpaceRequest,
    found: Found,
    format: Format,
    post: bool,
    headers: &HeaderMap,
    body: Body,
) -> AppResult<Response> {
    if !may(req, "view-query", &found.query).await? {
        return Err(AppError::Forbidden(
            "You do not have permission to view this query".into(),
        ));
    }
    if post {
        return write(req, found, headers, body).await;
    }
    let args = req.args();
    match format {
        // A writable query is run by its form: GET shows the form.
        Format::Html => return crate::http::ui::stored::page(req, &found, args, None).await,
        // GET runs no writes: Datasette answers no rows.
        Format::Json if found.query.is_write => {
            let body = json!({"ok": true, "rows": [], "truncated": false});
            return Ok(crate::http::json_response(body));
        }
        Format::Csv if found.query.is_write => {
            return Err(AppError::BadRequest("A writable query runs on POST".into()));
        }
        _ => {}
    }
    let result = super::run_sql(req, &found.database, found.query.sql.clone(), args).await?;
    if format == Format::Csv {
        let result = result.map_err(AppError::BadRequest)?;
        return Ok(crate::http::render::csv::query_result(
            req,
            args,
            &result,
            &found.query.name,
        ));
    }
    let output = Output::from_args(args)?;
    if output.shape == Shape::Object {
        return Err(AppError::BadRequest(
            "_shape=object is only available on tables".into(),
        ));
    }
    match result {
        Ok(result) => super::answer(args, output, result).await,
        Err(message) => Ok(super::sql_refusal(&message)),
    }
}

/// Whether the answer to a POST is JSON (else the query's page).
fn wants_json(headers: &HeaderMap, args: &Args, params: &Map<String, Json>, json: bool) -> bool {
    json || args.has("_json")
        || params.contains_key("_json")
        || headers
            .get(header::ACCEPT)
            .is_some_and(|a| a.as_bytes() == b"application/json")
}

/// `POST /{db}/{name}`: runs a writable query with the body's parameters
/// (a JSON object or a form) for an actor who may make each of its writes.
async fn write(
    req: &SpaceRequest,
    found: Found,
    headers: &HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let Found { database, query } = &found;
    if !query.is_write {
        return Err(AppError::MethodNotAllowed);
    }
    if database.immutable_hash.is_some() {
        return Err(AppError::Forbidden("Database is immutable".into()));
    }
    req.require(
        "execute-write-sql",
        Resource::Database(database.name.clone()),
        "execute-write-sql",
    )
    .await?;
    let json = body.is_json();
    let mut params = if json {
        match super::stored_fields::json_object(body).await? {
            Json::Object(map) => map,
            _ => Map::new(),
        }
    } else {
        form_object(req, body).await?
    };
    let args = req.args();
    let answer_json = wants_json(headers, args, &params, json);
    params.remove("_json");
    let outcome = execute_write(req, database, query, &params).await;
    let (ok, message, redirect) = match outcome {
        Ok(message) => (true, message, query.on_success_redirect.clone()),
        Err(AppError::Errors(_, errors)) => {
            let message = query.on_error_message.clone();
            (
                false,
                message.unwrap_or(errors.join("; ")),
                query.on_error_redirect.clone(),
            )
        }
        Err(other) => return Err(other),
    };
    if !answer_json {
        let note = Some((message, ok));
        return crate::http::ui::stored::page(req, &found, args, note).await;
    }
    if ok {
        let body = json!({"ok": true, "message": message, "redirect": redirect});
        return Ok(crate::http::json_response(body));
    }
    let body = json!({
        "ok": false, "error": message, "errors": [message], "status": 400, "redirect": redirect,
    });
    Ok(json_status(axum::http::StatusCode::BAD_REQUEST, body))
}

/// Checks the statement for the actor and runs it through the writer; the
/// message Datasette shows after it.
async fn execute_write(
    req: &SpaceRequest,
    database: &DatabaseRow,
    query: &StoredQuery,
    params: &Map<String, Json>,
) -> AppResult<String> {
    let (ops, names) = operations(req, database, &query.sql).await?;
    execute::check_permissions(req, &database.name, &ops).await?;
    // Values arrive as text, as from a form (Datasette turns JSON values into strings).
    let bound = names
        .iter()
        .map(|name| {
            let value = match params.get(name) {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (format!(":{name}"), libsql::Value::Text(value))
        })
        .collect();
    let (_, handle, _) = open(req, &database.name).await?;
    let audited = Audited {
        event: "stored-query",
        detail: json!({"query": query.name, "sql": query.sql}),
    };
    let executed = execute::write(req, database, &handle, &query.sql, &ops, bound, audited).await?;
    Ok(match (&query.on_success_message, executed.rowcount) {
        (Some(message), _) if !message.is_empty() => message.clone(),
        (_, -1) => "Query executed".to_owned(),
        (_, n) => format!(
            "Query executed, {n} row{} affected",
            if n == 1 { "" } else { "s" }
        ),
    })
}
