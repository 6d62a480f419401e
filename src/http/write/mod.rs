//! Row and table writes over HTTP: `/{pk}/-/update`, `/{pk}/-/delete` and
//! `/-/drop` here, `/-/insert` and `/-/upsert` in `insert`, with Datasette's
//! checks in Datasette's order, each write one transaction on the database's
//! writer, and an audit row for each. Request bodies are read under
//! `max_post_body_bytes` counted while they stream (`edge::body`).

pub(crate) mod alter;
mod alter_ops;
pub(crate) mod create;
pub(crate) mod execute;
mod insert;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};

use crate::catalog::audit;
use crate::catalog::databases::DatabaseRow;
use crate::error::{AppError, AppResult};
use crate::http::database::{open_synced, require_database};
pub use crate::http::edge::body::Body;
use crate::http::routes::{RowWrite, TableWrite};
use crate::http::tenant::SpaceRequest;
use crate::permissions::Resource;
use crate::read::values::{Infinity, to_json};
use crate::sqlite::Kept;
use crate::tenant::{Schema, TenantDb};
use crate::write::rows::{self, Returned};
use crate::write::{FULL_MESSAGE, WriteError, json as body_json};

impl From<WriteError> for AppError {
    fn from(err: WriteError) -> AppError {
        match err {
            WriteError::Invalid(errors) => AppError::invalid(errors),
            WriteError::NotFound(message) => AppError::Errors(StatusCode::NOT_FOUND, vec![message]),
            WriteError::Internal(err) if !crate::write::is_full(&err) => AppError::from(err),
            // SQLITE_FULL, typed or not (schema changes and commits are untyped).
            WriteError::Full | WriteError::Internal(_) => AppError::Quota(FULL_MESSAGE.into()),
        }
    }
}

/// Python's truthiness of a JSON value.
pub fn truthy(value: Option<&Json>) -> bool {
    match value {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64() != Some(0.0),
        Some(Json::String(s)) => !s.is_empty(),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
    }
}

/// A JSON answer with a status.
pub fn json_status(status: StatusCode, body: Json) -> Response {
    let mut response = crate::http::json_response(body);
    *response.status_mut() = status;
    response
}

/// Rows read back, as a list of objects.
pub fn returned_json(returned: &Returned) -> Json {
    rows_json(&returned.columns, &returned.rows)
}

/// Rows as a list of objects keyed by column.
pub fn rows_json(columns: &[String], rows: &[Vec<libsql::Value>]) -> Json {
    Json::Array(
        rows.iter()
            .map(|row| {
                let mut object = Map::new();
                for (column, value) in columns.iter().zip(row) {
                    object.insert(column.clone(), to_json(value, Infinity::Null));
                }
                Json::Object(object)
            })
            .collect(),
    )
}

/// The database, its handle and current schema.
pub async fn open(
    req: &SpaceRequest,
    db: &str,
) -> AppResult<(DatabaseRow, Arc<TenantDb>, Arc<Schema>)> {
    let database = require_database(req, db).await?;
    let (handle, schema) = open_synced(req, &database).await?;
    Ok((database, handle, schema))
}

/// May the actor do `action` on the table?
pub async fn may(req: &SpaceRequest, action: &str, db: &str, table: &str) -> AppResult<bool> {
    Ok(req
        .app
        .allowed(
            req.space_id(),
            &req.actor,
            action,
            Resource::Table(db.to_owned(), table.to_owned()),
        )
        .await?)
}

/// One audit row for a write; a failure to record it is logged, not
/// answered. The row's id, when it was recorded.
pub async fn record(
    req: &SpaceRequest,
    event: &'static str,
    db: &str,
    table: Option<&str>,
    rows: Option<i64>,
    detail: Json,
) -> Option<i64> {
    crate::metrics::metrics()
        .writes
        .with_label_values(&[event])
        .inc();
    let row = audit::WriteEvent {
        space_id: req.space_id(),
        actor: req.actor.name.clone(),
        token_id: req.actor.token.as_ref().map(|t| t.id),
        event,
        detail,
        database: db.to_owned(),
        table: table.map(str::to_owned),
        rows_affected: rows,
    };
    let result = req.app.audit.record(&req.app.catalog, row).await;
    result
        .inspect_err(|err| tracing::warn!(error = ?err, "auditing a write failed"))
        .ok()
}

/// Runs `f` on the database's writer with its audit row recorded alongside.
/// The row (`audit` gives its rows affected and detail from `f`'s result)
/// goes to the catalog as soon as `f` has run, while the write's COMMIT is
/// under way, instead of after it: the answer waits for two `fsync`s at
/// once rather than in turn. It still waits for both, so an acknowledged
/// write has its row (unless recording failed, which is logged as in
/// [`record`]); one that then fails to commit has its row taken back.
pub async fn write_recorded<T, E, F, A>(
    req: &SpaceRequest,
    handle: &TenantDb,
    (event, db, table): (&'static str, &str, Option<&str>),
    f: F,
    audit: A,
) -> Result<T, E>
where
    F: FnOnce(&Kept) -> Result<T, E> + Send + 'static,
    A: FnOnce(&T) -> (Option<i64>, Json) + Send + 'static,
    T: Send + 'static,
    E: From<anyhow::Error> + Send + 'static,
{
    let (ran, ran_rx) = tokio::sync::oneshot::channel();
    let write = handle.write(move |conn| {
        let value = f(conn)?;
        let _ = ran.send(audit(&value));
        Ok(value)
    });
    let recorded = async {
        let (rows, detail) = ran_rx.await.ok()?;
        record(req, event, db, table, rows, detail).await
    };
    let (written, recorded) = tokio::join!(write, recorded);
    if let (Err(_), Some(id)) = (&written, recorded)
        && let Err(err) = req.app.audit.forget(&req.app.catalog, id).await
    {
        tracing::warn!(error = ?err, "taking back the audit row of a failed write failed");
    }
    written
}

/// Brings the catalog's mirror up to date after a schema change.
pub async fn refresh_mirror(req: &SpaceRequest, database: &DatabaseRow) -> AppResult<()> {
    open_synced(req, database).await?;
    Ok(())
}

/// `/-/insert`, `/-/upsert`, `/-/alter`, `/-/drop`.
pub async fn table(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    action: TableWrite,
    body: Body,
) -> AppResult<Response> {
    match action {
        TableWrite::Insert => insert::insert(req, db, table, body, false).await,
        TableWrite::Upsert => insert::insert(req, db, table, body, true).await,
        TableWrite::Alter => crate::http::write::alter::alter(req, db, table, body).await,
        TableWrite::Drop => drop_table(req, db, table, body).await,
    }
}

/// The table `name` of the schema: Datasette's 404s for a missing table and for a view.
pub fn require_table<'a>(
    schema: &'a Schema,
    name: &str,
) -> AppResult<&'a crate::catalog::mirror::TableSchema> {
    let found = schema
        .table(name)
        .ok_or(AppError::NotFound("Table not found"))?;
    if found.kind != "table" {
        return Err(AppError::Errors(
            StatusCode::NOT_FOUND,
            vec![format!("Table not found: {name}")],
        ));
    }
    Ok(found)
}

/// `/{pk}/-/update` and `/{pk}/-/delete`.
pub async fn row(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    key: &[String],
    action: RowWrite,
    body: Body,
) -> AppResult<Response> {
    let database = require_database(req, db).await.map_err(|_| {
        AppError::Errors(
            StatusCode::NOT_FOUND,
            vec![format!("Database not found: {db}")],
        )
    })?;
    let permission = match action {
        RowWrite::Update => "update-row",
        RowWrite::Delete => "delete-row",
    };
    // The permission first, so a refused actor cannot tell which keys exist.
    if !may(req, permission, &database.name, table).await? {
        return Err(AppError::Forbidden("Permission denied".into()));
    }
    let (handle, schema) = open_synced(req, &database).await?;
    if schema.table(table).is_none_or(|t| t.kind != "table") {
        return Err(AppError::Errors(
            StatusCode::NOT_FOUND,
            vec![format!("Table not found: {table}")],
        ));
    }
    match action {
        RowWrite::Delete => delete_row(req, &database, &handle, table, key).await,
        RowWrite::Update => update_row(req, &database, &handle, table, key, body).await,
    }
}

async fn delete_row(
    req: &SpaceRequest,
    database: &DatabaseRow,
    handle: &TenantDb,
    table: &str,
    key: &[String],
) -> AppResult<Response> {
    let (name, key_owned) = (table.to_owned(), key.to_vec());
    let detail = json!({"pks": key});
    write_recorded(
        req,
        handle,
        ("delete-row", &database.name, Some(table)),
        move |conn| rows::delete(conn, &name, &key_owned),
        move |changed: &u64| (Some(*changed as i64), detail),
    )
    .await?;
    Ok(json_status(StatusCode::OK, json!({"ok": true})))
}

async fn update_row(
    req: &SpaceRequest,
    database: &DatabaseRow,
    handle: &TenantDb,
    table: &str,
    key: &[String],
    body: Body,
) -> AppResult<Response> {
    let db = database.name.as_str();
    // Datasette checks the row exists before reading the body.
    let (name, key_owned) = (table.to_owned(), key.to_vec());
    handle
        .write(move |conn| {
            let live = rows::require_table(conn, &name)?;
            rows::require_row(conn, &live, &key_owned).map(|_| ())
        })
        .await?;
    let update = read_update(req, db, table, body).await?;
    let alter = update.alter;
    let (name, key_owned) = (table.to_owned(), key.to_vec());
    let detail = json!({"pks": key});
    let (_, returned) = write_recorded(
        req,
        handle,
        ("update-row", db, Some(table)),
        move |conn| {
            rows::update(
                conn,
                &name,
                &key_owned,
                &update.changes,
                update.alter,
                update.return_row,
            )
        },
        move |(changed, _): &(u64, Option<Returned>)| (Some(*changed as i64), detail),
    )
    .await?;
    if alter {
        refresh_mirror(req, database).await?;
    }
    let mut body = json!({"ok": true});
    if let Some(returned) = &returned {
        body["rows"] = returned_json(returned);
    }
    Ok(json_status(StatusCode::OK, body))
}

/// An update body, checked.
struct RowUpdate {
    changes: Map<String, Json>,
    alter: bool,
    return_row: bool,
}

/// Reads and checks an update body, and the permissions its flags need.
async fn read_update(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    body: Body,
) -> AppResult<RowUpdate> {
    let data = body.json().await?;
    let Json::Object(mut data) = data else {
        return Err(AppError::invalid_one("JSON must be a dictionary"));
    };
    let Some(Json::Object(changes)) = data.remove("update") else {
        return Err(AppError::invalid_one(
            "JSON must contain an update dictionary",
        ));
    };
    AppError::check_keys(&data, &["return", "alter"])?;
    let alter = truthy(data.get("alter"));
    if alter && !may(req, "alter-table", db, table).await? {
        return Err(AppError::Forbidden(
            "Permission denied for alter-table".into(),
        ));
    }
    // Rows are shown back only to an actor who may view the table.
    let return_row = truthy(data.get("return")) && may(req, "view-table", db, table).await?;
    Ok(RowUpdate {
        changes,
        alter,
        return_row,
    })
}

async fn drop_table(req: &SpaceRequest, db: &str, table: &str, body: Body) -> AppResult<Response> {
    let (database, handle, schema) = open(req, db).await?;
    let found = require_table(&schema, table)?;
    let db = database.name.as_str();
    if !may(req, "drop-table", db, table).await? {
        return Err(AppError::Forbidden("Permission denied".into()));
    }
    let bytes = body.bytes().await?;
    let confirm = body_json::parse(&bytes)
        .ok()
        .and_then(|data| data.get("confirm").cloned());
    let name = table.to_owned();
    if !truthy(confirm.as_ref()) {
        let count = handle
            .write(move |conn| {
                let (_, rows) = crate::write::select(
                    conn,
                    &format!("select count(*) from {}", crate::names::quote_ident(&name)),
                    (),
                )?;
                Ok::<_, WriteError>(match rows.first().and_then(|r| r.first()) {
                    Some(libsql::Value::Integer(n)) => *n,
                    _ => 0,
                })
            })
            .await?;
        return Ok(json_status(
            StatusCode::OK,
            json!({
                "ok": true,
                "database": db,
                "table": table,
                "row_count": count,
                "message": "Pass \"confirm\": true to confirm",
            }),
        ));
    }
    // An FTS index built on the table goes with it (sqlite-utils' disable_fts).
    let fts = found.fts_table.clone().filter(|f| f != table);
    let rows = handle
        .write(move |conn| {
            rows::require_table(conn, &name)?;
            let (_, count) = crate::write::select(
                conn,
                &format!("select count(*) from {}", crate::names::quote_ident(&name)),
                (),
            )?;
            if let Some(fts) = fts {
                crate::write::exec(
                    conn,
                    &format!("drop table if exists {}", crate::names::quote_ident(&fts)),
                    vec![],
                )?;
            }
            crate::write::exec(
                conn,
                &format!("drop table {}", crate::names::quote_ident(&name)),
                vec![],
            )?;
            Ok::<_, WriteError>(match count.first().and_then(|r| r.first()) {
                Some(libsql::Value::Integer(n)) => *n,
                _ => 0,
            })
        })
        .await?;
    refresh_mirror(req, &database).await?;
    record(req, "drop-table", db, Some(table), Some(rows), Json::Null).await;
    Ok(json_status(StatusCode::OK, json!({"ok": true})).into_response())
}
