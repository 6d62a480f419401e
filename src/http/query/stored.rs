//! Stored queries' own endpoints, as Datasette 1.0a41 answers them:
//! `POST /{db}/-/queries/store` (JSON, or the "Save this query" form),
//! `/{db}/{query}/-/definition`, `POST …/-/update` and `POST …/-/delete`.
//! Checks run in Datasette's order with its messages.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use super::stored_fields::{self, Analysed, Fields};
use crate::catalog::databases::DatabaseRow;
use crate::catalog::queries::{self, StoredQuery};
use crate::error::{AppError, AppResult};
use crate::http::routes::QueryAction;
use crate::http::tenant::SpaceRequest;
use crate::http::write::{Body, json_status, record};
use crate::http::{database::require_database, ui};
use crate::permissions::Resource;

/// Datasette marks the stored-query API as unstable in every answer.
pub const UNSTABLE: &str =
    "This API is not part of Datasette's stable interface and may change at any time";

/// The path of a stored query's page.
pub fn query_path(req: &SpaceRequest, query: &StoredQuery) -> String {
    format!(
        "{}/{}/{}",
        req.base,
        query.database,
        crate::names::tilde_encode(&query.name)
    )
}

/// `POST /{db}/-/queries/store`: 201 with the query for JSON; a form is
/// answered with a redirect to the new query's page, or an error page.
pub async fn store(req: &SpaceRequest, db: &str, body: Body) -> AppResult<Response> {
    if body.is_json() {
        let query = store_query(req, db, body, true).await?;
        return Ok(json_status(
            StatusCode::CREATED,
            json!({"ok": true, "unstable": UNSTABLE, "query": query.to_json()}),
        ));
    }
    match store_query(req, db, body, false).await {
        Ok(query) => Ok(ui::see_other(&query_path(req, &query))),
        Err(err) => Ok(crate::http::edge::error_page::render(err)),
    }
}

async fn store_query(
    req: &SpaceRequest,
    db: &str,
    body: Body,
    json: bool,
) -> AppResult<StoredQuery> {
    let database = require_database(req, db).await?;
    may_store(req, &database).await?;
    let data = if json {
        stored_fields::json_object(body).await?
    } else {
        let form = stored_fields::form_object(req, body).await?;
        Json::Object(form)
    };
    let fields = match if json { data.get("query") } else { Some(&data) } {
        Some(Json::Object(fields)) => fields.clone(),
        _ => {
            return Err(AppError::invalid_one(
                "JSON must contain a query dictionary",
            ));
        }
    };
    let query = stored_fields::new_query(req, &database, &fields).await?;
    let database_id = database.id;
    let row = query.clone();
    let inserted = req
        .app
        .catalog
        .call(move |conn| queries::insert(conn, database_id, &row))
        .await?;
    if !inserted {
        return Err(AppError::invalid_one("Query already exists"));
    }
    req.app.queries_changed();
    let detail = json!({"query": query.name, "sql": query.sql});
    record(req, "store-query", &database.name, None, None, detail).await;
    Ok(found(req, &database, &query.name).await?.unwrap_or(query))
}

/// `execute-sql` then `store-query` on the database, as Datasette asks them.
async fn may_store(req: &SpaceRequest, database: &DatabaseRow) -> AppResult<()> {
    let resource = Resource::Database(database.name.clone());
    let sql_allowed = req.space.settings.flag("default_allow_sql")
        && req
            .app
            .allowed(req.space_id(), &req.actor, "execute-sql", resource.clone())
            .await?;
    if !sql_allowed {
        return Err(AppError::Forbidden(
            "Permission denied: need execute-sql".into(),
        ));
    }
    req.require(
        "store-query",
        resource,
        "Permission denied: need store-query",
    )
    .await
}

/// The stored query `name` of `database`, as the catalog holds it now.
async fn found(
    req: &SpaceRequest,
    database: &DatabaseRow,
    name: &str,
) -> AppResult<Option<StoredQuery>> {
    Ok(req
        .app
        .stored_query(req.space_id(), &database.name, name)
        .await?)
}

/// The database and its query `name`, or Datasette's 404s.
async fn existing(
    req: &SpaceRequest,
    db: &str,
    name: &str,
) -> AppResult<(DatabaseRow, StoredQuery)> {
    let database = require_database(req, db).await?;
    match found(req, &database, name).await? {
        Some(query) => Ok((database, query)),
        None => Err(AppError::Errors(
            StatusCode::NOT_FOUND,
            vec![format!("Query not found: {name}")],
        )),
    }
}

/// May the actor do `action` on the stored query?
pub async fn may(req: &SpaceRequest, action: &str, query: &StoredQuery) -> AppResult<bool> {
    let resource = Resource::Table(query.database.clone(), query.name.clone());
    Ok(req
        .app
        .allowed(req.space_id(), &req.actor, action, resource)
        .await?)
}

/// `/{db}/{query}/-/definition`
pub async fn definition(req: &SpaceRequest, db: &str, name: &str) -> AppResult<Response> {
    let (_, query) = existing(req, db, name).await?;
    if !may(req, "view-query", &query).await? {
        return Err(AppError::Forbidden("Permission denied".into()));
    }
    Ok(crate::http::json_response(
        json!({"ok": true, "unstable": UNSTABLE, "query": query.to_json()}),
    ))
}

/// `POST /{db}/{query}/-/update` and `/-/delete`.
pub async fn change(
    req: &SpaceRequest,
    db: &str,
    name: &str,
    action: QueryAction,
    body: Body,
) -> AppResult<Response> {
    match action {
        QueryAction::Update => update(req, db, name, body).await,
        QueryAction::Delete => delete(req, db, name, body).await,
        QueryAction::Definition => Err(AppError::MethodNotAllowed),
    }
}

async fn update(req: &SpaceRequest, db: &str, name: &str, body: Body) -> AppResult<Response> {
    let (database, existing) = existing(req, db, name).await?;
    if !may(req, "update-query", &existing).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need update-query".into(),
        ));
    }
    let data = match stored_fields::json_object(body).await? {
        Json::Object(data) => data,
        _ => return Err(AppError::invalid_one("JSON must be a dictionary")),
    };
    AppError::check_keys(&data, &["update", "return"])?;
    let Some(Json::Object(changes)) = data.get("update") else {
        return Err(AppError::invalid_one(
            "JSON must contain an update dictionary",
        ));
    };
    if changes.contains_key("sql")
        && !req
            .app
            .allowed(
                req.space_id(),
                &req.actor,
                "execute-sql",
                Resource::Database(database.name.clone()),
            )
            .await?
    {
        return Err(AppError::Forbidden(
            "Permission denied: need execute-sql".into(),
        ));
    }
    let updated = apply(req, &database, existing, changes).await?;
    let (id, row) = (database.id, updated.clone());
    req.app
        .catalog
        .call(move |conn| queries::update(conn, id, &row))
        .await?;
    req.app.queries_changed();
    let detail = json!({"query": updated.name, "changed": changes.keys().collect::<Vec<_>>()});
    record(req, "update-query", &database.name, None, None, detail).await;
    if !crate::http::write::truthy(data.get("return")) {
        return Ok(crate::http::json_response(json!({"ok": true})));
    }
    let query = found(req, &database, name).await?.unwrap_or(updated);
    Ok(crate::http::json_response(
        json!({"ok": true, "query": query.to_json()}),
    ))
}

/// The query with `changes` applied, checked as Datasette checks an update.
async fn apply(
    req: &SpaceRequest,
    database: &DatabaseRow,
    mut query: StoredQuery,
    changes: &Map<String, Json>,
) -> AppResult<StoredQuery> {
    let fields = Fields::update(changes)?;
    let analysed = match fields.sql() {
        Some(sql) => stored_fields::analyse(req, database, sql).await?,
        None => Analysed {
            is_write: query.is_write,
            parameters: query.parameters.clone(),
        },
    };
    if let Some(sql) = fields.sql() {
        query.sql = sql.to_owned();
        query.is_write = analysed.is_write;
        query.parameters = analysed.parameters.clone();
    }
    fields.check_write_fields(analysed.is_write)?;
    if let Some(parameters) = fields.parameters(&analysed.parameters)? {
        query.parameters = parameters;
    }
    fields.apply(&mut query);
    Ok(query)
}

async fn delete(req: &SpaceRequest, db: &str, name: &str, body: Body) -> AppResult<Response> {
    let (database, query) = existing(req, db, name).await?;
    if !may(req, "delete-query", &query).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need delete-query".into(),
        ));
    }
    let json = body.is_json();
    if !json {
        stored_fields::form_object(req, body).await?;
    }
    let (id, owned) = (database.id, query.name.clone());
    req.app
        .catalog
        .call(move |conn| queries::delete(conn, id, &owned))
        .await?;
    req.app.queries_changed();
    let detail = json!({"query": query.name});
    record(req, "delete-query", &database.name, None, None, detail).await;
    if json {
        Ok(crate::http::json_response(json!({"ok": true})))
    } else {
        Ok(ui::see_other(&format!("{}/{}", req.base, database.name)))
    }
}
