//! `/-/insert` and `/-/upsert`: Datasette's checks of the body in its
//! order, then the rows written in one transaction on the database's writer.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::{
    Body, json_status, may, open, refresh_mirror, require_table, returned_json, truthy,
    write_recorded,
};
use crate::write::rows::{self, InsertOptions};

/// A validated insert request.
struct InsertRequest {
    rows: Vec<Map<String, Json>>,
    options: InsertOptions,
}

/// Datasette's checks of an insert body, in its order.
fn validate_insert(
    data: Json,
    columns: &[String],
    pks: &[String],
    upsert: bool,
    max_rows: u64,
) -> AppResult<InsertRequest> {
    let Json::Object(mut data) = data else {
        return Err(AppError::invalid_one("JSON must be a dictionary"));
    };
    let objects = take_rows(&mut data)?;
    if objects.len() as u64 > max_rows {
        return Err(AppError::invalid_one(format!(
            "Too many rows, maximum allowed is {max_rows}"
        )));
    }
    check_parameters(&data)?;
    let options = InsertOptions {
        ignore: truthy(data.get("ignore")),
        replace: truthy(data.get("replace")),
        alter: truthy(data.get("alter")),
        upsert,
        return_rows: truthy(data.get("return")),
    };
    if options.ignore && options.replace {
        return Err(AppError::invalid_one(
            "Cannot use \"ignore\" and \"replace\" at the same time",
        ));
    }
    let keys: Vec<String> = if pks.is_empty() {
        vec!["rowid".into()]
    } else {
        pks.to_vec()
    };
    let mut errors = Vec::new();
    for (i, row) in objects.iter().enumerate() {
        if upsert {
            errors.extend(key_errors(i, row, &keys));
        }
        if !options.alter {
            errors.extend(unknown_columns(i, row, columns, &keys));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    Ok(InsertRequest {
        rows: objects,
        options,
    })
}

/// Takes `row` (which asks for the row back) or `rows` out of the body, as
/// objects.
fn take_rows(data: &mut Map<String, Json>) -> AppResult<Vec<Map<String, Json>>> {
    let one = |m: &str| AppError::invalid_one(m);
    if !data.contains_key("row") && !data.contains_key("rows") {
        return Err(one("JSON must have one or other of \"row\" or \"rows\""));
    }
    let rows = if let Some(row) = data.remove("row") {
        if data.contains_key("rows") {
            return Err(one("Cannot use \"row\" and \"rows\" at the same time"));
        }
        let Json::Object(row) = row else {
            return Err(one("\"row\" must be a dictionary"));
        };
        data.insert("return".into(), Json::Bool(true));
        vec![Json::Object(row)]
    } else {
        match data.remove("rows") {
            Some(Json::Array(rows)) => rows,
            _ => return Err(one("\"rows\" must be a list")),
        }
    };
    rows.into_iter()
        .map(|row| match row {
            Json::Object(row) => Ok(row),
            _ => Err(one("\"rows\" must be a list of dictionaries")),
        })
        .collect()
}

/// What is left of the body beside the rows: only the four flags.
fn check_parameters(data: &Map<String, Json>) -> AppResult<()> {
    let mut invalid: Vec<&str> = data
        .keys()
        .map(String::as_str)
        .filter(|k| !["return", "ignore", "replace", "alter"].contains(k))
        .collect();
    if invalid.is_empty() {
        return Ok(());
    }
    invalid.sort();
    Err(AppError::invalid_one(format!(
        "Invalid parameter: \"{}\"",
        invalid.join("\", \"")
    )))
}

/// An upsert row needs every primary key column, none of them null.
fn key_errors(i: usize, row: &Map<String, Json>, keys: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    let missing: Vec<&str> = keys
        .iter()
        .filter(|k| !row.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        errors.push(format!(
            "Row {i} is missing primary key column(s): \"{}\"",
            missing.join("\", \"")
        ));
    }
    let nulls: Vec<&str> = keys
        .iter()
        .filter(|k| row.get(*k) == Some(&Json::Null))
        .map(String::as_str)
        .collect();
    if !nulls.is_empty() {
        errors.push(format!(
            "Row {i} has null primary key column(s): \"{}\"",
            nulls.join("\", \"")
        ));
    }
    errors
}

/// Columns the table does not have (allowed only with `alter`).
fn unknown_columns(
    i: usize,
    row: &Map<String, Json>,
    columns: &[String],
    keys: &[String],
) -> Option<String> {
    let mut unknown: Vec<&str> = row
        .keys()
        .filter(|k| !columns.contains(k) && !keys.contains(k))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort();
    Some(format!(
        "Row {i} has invalid columns: {}",
        unknown.join(", ")
    ))
}

pub(super) async fn insert(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    body: Body,
    upsert: bool,
) -> AppResult<Response> {
    let (database, handle, schema) = open(req, db).await?;
    let found = require_table(&schema, table)?;
    let db = database.name.as_str();
    if upsert {
        if !(may(req, "insert-row", db, table).await? && may(req, "update-row", db, table).await?) {
            return Err(AppError::Forbidden(
                "Permission denied: need both insert-row and update-row".into(),
            ));
        }
    } else if !may(req, "insert-row", db, table).await? {
        return Err(AppError::Forbidden("Permission denied".into()));
    }
    let columns: Vec<String> = found
        .columns
        .iter()
        .filter(|c| !c.hidden)
        .map(|c| c.name.clone())
        .collect();
    let mut pks: Vec<_> = found.columns.iter().filter(|c| c.pk > 0).collect();
    pks.sort_by_key(|c| c.pk);
    let pks: Vec<String> = pks.into_iter().map(|c| c.name.clone()).collect();
    let data = body.json().await?;
    let max_rows = req.space.settings.int("max_insert_rows");
    let mut request = validate_insert(data, &columns, &pks, upsert, max_rows)?;
    let options = request.options;
    if upsert && (options.ignore || options.replace) {
        return Err(AppError::invalid_one(
            "Upsert does not support ignore or replace",
        ));
    }
    if options.replace && !may(req, "update-row", db, table).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need update-row to use \"replace\"".into(),
        ));
    }
    if options.alter && !may(req, "alter-table", db, table).await? {
        return Err(AppError::Forbidden(
            "Permission denied for alter-table".into(),
        ));
    }
    // Rows are shown back only to an actor who may view the table.
    request.options.return_rows = options.return_rows && may(req, "view-table", db, table).await?;
    let num_rows = request.rows.len() as i64;
    let name = table.to_owned();
    let event = if upsert { "upsert-rows" } else { "insert-rows" };
    let inserted = write_recorded(
        req,
        &handle,
        (event, db, Some(table)),
        move |conn| rows::insert(conn, &name, &request.rows, request.options),
        move |inserted: &rows::Inserted| {
            let detail = json!({"num_rows": num_rows, "ignore": options.ignore, "replace": options.replace, "alter": options.alter});
            (Some(inserted.changed as i64), detail)
        },
    )
    .await?;
    if options.alter {
        refresh_mirror(req, &database).await?;
    }
    let mut body = json!({"ok": true});
    if let Some(returned) = &inserted.returned {
        body["rows"] = returned_json(returned);
    }
    let status = if upsert {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_status(status, body))
}
