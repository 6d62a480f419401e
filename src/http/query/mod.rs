//! Arbitrary read-only SQL: `/{space}/{db}/-/query.json?sql=…` with
//! `:named` parameters from the query string (and the legacy
//! `/{space}/{db}.json?sql=`, answered in place for older clients); stored
//! queries in [`stored`], [`stored_list`] and [`stored_run`].

pub mod stored;
pub mod stored_fields;
pub mod stored_list;
pub mod stored_run;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use crate::catalog::databases::DatabaseRow;
use crate::error::{AppError, AppResult};
use crate::http::database::{open_synced, require_database};
use crate::http::render::shape::{Output, Shape, json_text, respond};
use crate::http::routes::Format;
use crate::http::tenant::SpaceRequest;
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::exec::{self, ReadError, ResultSet, Statement};
use crate::read::sql_text::{Refusal, check_read_only};
use crate::read::values::finish;

pub const TIME_LIMIT_MESSAGE: &str =
    "SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting.";

/// The error of a read that failed while running.
pub fn read_error(err: ReadError) -> AppError {
    match err {
        ReadError::TimedOut => AppError::BadRequest(TIME_LIMIT_MESSAGE.into()),
        ReadError::Sql(message) | ReadError::Busy(message) => AppError::BadRequest(message),
        too_large @ ReadError::TooLarge(_) => AppError::BadRequest(too_large.to_string()),
        ReadError::Crowded => AppError::TooMany(ReadError::Crowded.to_string(), 1),
        ReadError::Internal(err) => AppError::Internal(err),
    }
}

/// Runs `?sql=` for the actor and returns its result, or a ready error answer.
pub async fn run_user_sql(
    req: &SpaceRequest,
    db: &str,
    args: &Args,
) -> AppResult<Result<ResultSet, Response>> {
    Ok(run_user_sql_text(req, db, args)
        .await?
        .map_err(|message| sql_refusal(&message)))
}

/// Runs `?sql=` for the actor: its result, or the message SQLite refused it with.
pub async fn run_user_sql_text(
    req: &SpaceRequest,
    db: &str,
    args: &Args,
) -> AppResult<Result<ResultSet, String>> {
    let database = require_database(req, db).await?;
    req.require(
        "execute-sql",
        Resource::Database(database.name.clone()),
        "execute-sql",
    )
    .await?;
    if !req.space.settings.flag("default_allow_sql") {
        return Err(AppError::Forbidden("execute-sql".into()));
    }
    let sql = args.get("sql").unwrap_or("").trim().to_owned();
    if sql.is_empty() {
        return Err(AppError::BadRequest("?sql= is required".into()));
    }
    match check_read_only(&sql) {
        Ok(()) => {}
        // Several statements are refused as SQLite would refuse them, with empty rows.
        Err(refusal @ Refusal::SeveralStatements) => return Ok(Err(refusal.message().to_owned())),
        Err(refusal) => return Err(AppError::BadRequest(refusal.message().into())),
    }
    run_sql(req, &database, sql, args).await
}

/// Runs read-only `sql` on `database` with `:named` parameters from the
/// query string (missing ones bound to `''`): its result, or the message
/// SQLite refused it with. The caller has checked the actor's permission.
pub async fn run_sql(
    req: &SpaceRequest,
    database: &DatabaseRow,
    sql: String,
    args: &Args,
) -> AppResult<Result<ResultSet, String>> {
    let (handle, _) = open_synced(req, database).await?;
    let params = args
        .pairs()
        .iter()
        .filter(|(k, _)| k != "sql" && !k.starts_with('_'))
        .map(|(k, v)| (format!(":{k}"), libsql::Value::Text(v.clone())))
        .collect();
    let statement = Statement {
        sql,
        params,
        fill_missing: true,
        max_rows: Some(req.space.settings.int("max_returned_rows") as usize),
        time_limit: req.time_limit(args),
        user_sql: true,
    };
    match exec::run(handle, statement).await {
        Ok(result) => Ok(Ok(result)),
        Err(ReadError::Sql(message) | ReadError::Busy(message)) => Ok(Err(message)),
        Err(other) => Err(read_error(other)),
    }
}

/// A statement SQLite refused: Datasette still answers with empty rows.
pub(crate) fn sql_refusal(message: &str) -> Response {
    let body = json!({
        "ok": false,
        "rows": [],
        "error": message,
        "errors": [message],
        "status": 400,
        "truncated": false,
    });
    json_text(StatusCode::BAD_REQUEST, finish(&body))
}

pub async fn show(req: &SpaceRequest, db: &str, format: Format) -> AppResult<Response> {
    match format {
        Format::Csv => return crate::http::render::csv::query(req, db).await,
        Format::Html => return crate::http::ui::pages::query(req, db).await,
        Format::Json => {}
    }
    let args = req.args();
    let output = Output::from_args(args)?;
    if output.shape == Shape::Object {
        return Err(AppError::BadRequest(
            "_shape=object is only available on tables".into(),
        ));
    }
    let result = match run_user_sql(req, db, args).await? {
        Ok(result) => result,
        Err(response) => return Ok(response),
    };
    answer(args, output, result).await
}

/// A query's result as Datasette's query JSON, shaped by `output`.
pub async fn answer(args: &Args, output: Output, result: ResultSet) -> AppResult<Response> {
    let mut body = Map::new();
    body.insert("ok".into(), json!(true));
    body.insert("rows".into(), Json::Null);
    if args.get_all("_extra").contains(&"columns") {
        body.insert("columns".into(), json!(result.columns));
    }
    body.insert("truncated".into(), json!(result.truncated));
    // Writing megabytes of JSON would hold this async worker for milliseconds.
    if result.bytes > WRITE_ON_POOL_BYTES {
        return crate::sqlite::blocking(move || {
            respond(&output, body, &result.columns, &result.rows, None)
        })
        .await;
    }
    respond(&output, body, &result.columns, &result.rows, None)
}

/// Answers larger than this are written on the blocking pool.
const WRITE_ON_POOL_BYTES: u64 = 1 << 20;

/// `/{db}/-/query/parameters?sql=`: the `:named` parameters of a query,
/// for those who may run SQL on the database.
pub async fn parameters(req: &SpaceRequest, db: &str) -> AppResult<Response> {
    let database = require_database(req, db).await?;
    let may_run = req
        .app
        .allowed(
            req.space_id(),
            &req.actor,
            "execute-sql",
            Resource::Database(database.name.clone()),
        )
        .await?;
    if !may_run || !req.space.settings.flag("default_allow_sql") {
        return Err(AppError::Forbidden(
            "Permission denied: need execute-sql".into(),
        ));
    }
    let args = req.args();
    let mut invalid: Vec<&str> = args
        .pairs()
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "sql")
        .collect();
    if !invalid.is_empty() {
        invalid.sort_unstable();
        invalid.dedup();
        return Err(AppError::invalid_one(format!(
            "Invalid keys: {}",
            invalid.join(", ")
        )));
    }
    let parameters = crate::read::sql_text::named_parameters(args.get("sql").unwrap_or(""));
    if parameters.iter().any(|p| p.starts_with('_')) {
        return Err(AppError::invalid_one("Magic parameters are not allowed"));
    }
    let mut response = crate::http::json_response(json!({
        "ok": true,
        "unstable": crate::http::UNSTABLE,
        "parameters": parameters,
    }));
    // As Datasette: the answer may not be framed by another site.
    crate::http::render::shape::block_framing(&mut response);
    Ok(response)
}
