//! `POST /{space}/{db}/-/execute-write`: one writable SQL statement with
//! `:named` parameters, allowed only when the actor holds every permission
//! the statement's operations need (per table, as Datasette 1.0a41 has it).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use crate::catalog::databases::DatabaseRow;
use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::{Body, json_status, open, record, refresh_mirror};
use crate::permissions::Resource;
use crate::sqlite::now;
use crate::tenant::TenantDb;
use crate::write::analysis::{self, Decision, Executed, Operation};
use crate::write::{WriteError, WriteResult, sql_error, values};

fn resource_text(resource: &Resource) -> String {
    match resource {
        Resource::Space => String::new(),
        Resource::Database(db) => db.clone(),
        Resource::Table(db, table) => format!("{db}/{table}"),
    }
}

/// The statement's named parameters, as the prepared statement reports them.
pub(crate) fn parameter_names(conn: &libsql::Connection, sql: &str) -> WriteResult<Vec<String>> {
    let prepared = now(conn.prepare(sql)).map_err(|e| match sql_error(e) {
        WriteError::Invalid(m) => {
            WriteError::invalid(format!("Could not analyze query: {}", m.join("; ")))
        }
        other => other,
    })?;
    let mut names = Vec::new();
    for i in 1..=prepared.parameter_count() as i32 {
        if let Some(name) = prepared.parameter_name(i) {
            let bare = name.trim_start_matches([':', '$', '@']).to_owned();
            if !names.contains(&bare) {
                names.push(bare);
            }
        }
    }
    Ok(names)
}

/// `sql` and `params` from a JSON body, or from form fields.
async fn payload(headers_json: bool, body: Body) -> AppResult<(Option<String>, Map<String, Json>)> {
    let bytes = body.bytes().await?;
    let data = if headers_json {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Json::Object(Map::new())
        } else {
            crate::write::json::parse(&bytes).map_err(AppError::invalid_one)?
        }
    } else {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(&bytes) {
            map.insert(k.into_owned(), Json::String(v.into_owned()));
        }
        map.into()
    };
    let Json::Object(data) = data else {
        return Err(AppError::invalid_one("JSON must be a dictionary"));
    };
    let params = if headers_json {
        AppError::check_keys(&data, &["sql", "params"])?;
        match data.get("params") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(p)) => p.clone(),
            Some(_) => return Err(AppError::invalid_one("params must be a dictionary")),
        }
    } else {
        data.iter()
            .filter(|(k, _)| !["sql", "csrftoken", "_json"].contains(&k.as_str()))
            .map(|(k, v)| (k.trim_start_matches("_param_").to_owned(), v.clone()))
            .collect()
    };
    let sql = data.get("sql").and_then(Json::as_str).map(str::to_owned);
    Ok((sql, params))
}

pub async fn execute(req: &SpaceRequest, db: &str, body: Body) -> AppResult<Response> {
    let (database, handle) = open_for_sql(req, db).await?;
    let (sql, params) = payload(body.is_json(), body).await?;
    let (sql, names, ops) = analysed(&handle, sql, &database.name).await?;
    let executed = run(req, &database, &handle, &sql, &names, &ops, &params).await?;
    let mut response = json_status(StatusCode::OK, executed_json(&executed, &ops));
    crate::http::render::shape::block_framing(&mut response);
    Ok(response)
}

/// The database, opened for an actor who holds `execute-write-sql` on it.
pub(crate) async fn open_for_sql(
    req: &SpaceRequest,
    db: &str,
) -> AppResult<(DatabaseRow, Arc<TenantDb>)> {
    let (database, handle, _) = open(req, db).await?;
    req.require(
        "execute-write-sql",
        Resource::Database(database.name.clone()),
        "Permission denied: need execute-write-sql",
    )
    .await?;
    Ok((database, handle))
}

/// The statement, its parameter names and what it would do (nothing run).
pub(crate) async fn analysed(
    handle: &Arc<TenantDb>,
    sql: Option<String>,
    db: &str,
) -> AppResult<(String, Vec<String>, Vec<Operation>)> {
    let sql = one_statement(sql)?;
    let (names, ops) = analyse(handle, &sql, db).await?;
    Ok((sql, names, ops))
}

/// Checks an analysed statement against its parameters and the actor's
/// rights, then runs it through the writer, audited.
pub(crate) async fn run(
    req: &SpaceRequest,
    database: &DatabaseRow,
    handle: &Arc<TenantDb>,
    sql: &str,
    names: &[String],
    ops: &[Operation],
    params: &Map<String, Json>,
) -> AppResult<Executed> {
    check_parameters(params, names)?;
    if !ops.iter().any(Operation::is_write) {
        return Err(AppError::invalid_one(
            "Use /-/query for read-only SQL; this endpoint only executes writes",
        ));
    }
    check_permissions(req, &database.name, ops).await?;
    let bound = bind(names, params)?;
    let event = Audited {
        event: "execute-write",
        detail: json!({"sql": sql}),
    };
    write(req, database, handle, sql, ops, bound, event).await
}

/// The SQL, present and a single statement.
fn one_statement(sql: Option<String>) -> AppResult<String> {
    let sql = sql
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| AppError::invalid_one("SQL is required"))?;
    if analysis::has_several_statements(&sql) {
        return Err(AppError::invalid_one(
            "You can only execute one statement at a time.",
        ));
    }
    Ok(sql)
}

/// The statement's parameter names and operations. Analysed on a read
/// connection: compiling needs no lock.
async fn analyse(
    handle: &Arc<TenantDb>,
    sql: &str,
    db: &str,
) -> AppResult<(Vec<String>, Vec<Operation>)> {
    let (conn_handle, sql_a, db_a) = (handle.clone(), sql.to_owned(), db.to_owned());
    let analysed = crate::sqlite::blocking(move || -> WriteResult<_> {
        let conn = conn_handle.conn()?;
        let names = parameter_names(&conn, &sql_a)?;
        let ops = analysis::analyze(&conn, &sql_a, &db_a)?;
        Ok((names, ops))
    })
    .await?;
    Ok(analysed)
}

/// Every given parameter must be one the statement names.
fn check_parameters(params: &Map<String, Json>, names: &[String]) -> AppResult<()> {
    let mut extra: Vec<&str> = params
        .keys()
        .filter(|k| !names.contains(k))
        .map(String::as_str)
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    extra.sort();
    Err(AppError::invalid_one(format!(
        "Unknown parameters: {}",
        extra.join(", ")
    )))
}

/// Each named parameter's value; one not given binds as empty text.
fn bind(names: &[String], params: &Map<String, Json>) -> AppResult<Vec<(String, libsql::Value)>> {
    let mut bound = Vec::new();
    for name in names {
        let value = match params.get(name) {
            Some(v) => values::to_sql(v).map_err(AppError::invalid_one)?,
            None => libsql::Value::Text(String::new()),
        };
        bound.push((format!(":{name}"), value));
    }
    Ok(bound)
}

/// The answer: a message, the rows the statement returned, and the
/// analysis of what it did.
pub(crate) fn executed_json(executed: &Executed, ops: &[Operation]) -> Json {
    let message = if executed.rowcount == -1 {
        "Query executed".to_owned()
    } else {
        format!(
            "Query executed, {} row{} affected",
            executed.rowcount,
            if executed.rowcount == 1 { "" } else { "s" }
        )
    };
    let rows = crate::http::write::rows_json(&executed.columns, &executed.rows);
    let analysis: Vec<Json> = ops
        .iter()
        .filter(|o| o.decision() != Decision::Ignore)
        .map(Operation::to_json)
        .collect();
    json!({
        "ok": true,
        "message": message,
        "rowcount": executed.rowcount,
        "rows": rows,
        "truncated": false,
        "analysis": analysis,
    })
}

/// What the audit row of a write says.
pub(crate) struct Audited {
    pub event: &'static str,
    pub detail: Json,
}

/// Runs an analysed statement through the database's writer (one
/// `BEGIN IMMEDIATE` transaction, analysed again there), refreshes the
/// schema mirror after a schema change and records the audit row.
pub(crate) async fn write(
    req: &SpaceRequest,
    database: &crate::catalog::databases::DatabaseRow,
    handle: &crate::tenant::TenantDb,
    sql: &str,
    ops: &[Operation],
    bound: Vec<(String, libsql::Value)>,
    audited: Audited,
) -> AppResult<analysis::Executed> {
    let db = database.name.clone();
    let schema_change = ops
        .iter()
        .any(|o| !o.internal && matches!(o.operation, "create" | "alter" | "drop"));
    let (sql_w, db_w, ops_w) = (sql.to_owned(), db.clone(), ops.to_vec());
    let executed = handle
        .write(move |conn| {
            // The schema may have changed since the analysis: decide again.
            if analysis::analyze(conn, &sql_w, &db_w)? != ops_w {
                return Err(WriteError::invalid(
                    "The database changed while the statement was checked; try again",
                ));
            }
            analysis::execute(conn, &sql_w, bound, &ops_w)
        })
        .await?;
    if schema_change {
        refresh_mirror(req, database).await?;
    }
    let table = ops
        .iter()
        .find(|o| !o.internal && o.is_write() && o.table.is_some())
        .and_then(|o| o.table.clone());
    record(
        req,
        audited.event,
        &db,
        table.as_deref(),
        (executed.rowcount >= 0).then_some(executed.rowcount),
        audited.detail,
    )
    .await;
    Ok(executed)
}

pub(crate) async fn check_permissions(
    req: &SpaceRequest,
    db: &str,
    ops: &[Operation],
) -> AppResult<()> {
    for op in ops {
        match op.decision() {
            Decision::Ignore => {}
            Decision::Reject(message) | Decision::Unsupported(message) => {
                return Err(AppError::Forbidden(message));
            }
            Decision::Require(permissions) => {
                if op.database.as_deref() != Some(db) {
                    return Err(AppError::Forbidden(
                        "Writable queries may not access attached databases".into(),
                    ));
                }
                for (action, resource) in permissions {
                    if !req
                        .app
                        .allowed(req.space_id(), &req.actor, action, resource.clone())
                        .await?
                    {
                        return Err(AppError::Forbidden(format!(
                            "Permission denied: need {action} on {}",
                            resource_text(&resource)
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}
