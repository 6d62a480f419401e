//! Shaping rows into Datasette's JSON: `_shape`, `_nl`, `_json`,
//! `_json_infinity`, and the HTTP caching headers of data answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

use libsql::Value;
use serde_json::{Map, Value as Json, json};

use crate::error::{AppError, AppResult};
use crate::http::render::rows_json::{BodyJson, RowsJson};
use crate::read::args::Args;
use crate::read::cells::Rows;
use crate::read::labels::{Key, Labels};
use crate::read::values::{Infinity, answer_bytes, finish, finish_written, python_json, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Objects,
    Arrays,
    Array,
    ArrayFirst,
    Object,
}

/// How rows are written, from the query string.
#[derive(Clone, Debug)]
pub struct Output {
    pub shape: Shape,
    /// `_nl=on` with `_shape=array`: one JSON object per line.
    pub newline_delimited: bool,
    pub infinity: Infinity,
    /// `_json=COL`: text columns holding JSON are written as JSON.
    pub json_columns: Vec<String>,
    /// `_labels`/`_label`: foreign-key columns whose known values are written
    /// as `{"value": …, "label": …}`.
    pub labels: HashMap<String, Labels>,
}

fn truthy(value: Option<&str>) -> bool {
    matches!(value, Some("on" | "1" | "true" | "yes"))
}

impl Output {
    pub fn from_args(args: &Args) -> AppResult<Output> {
        let shape = match args.get("_shape") {
            None | Some("objects") => Shape::Objects,
            Some("arrays") => Shape::Arrays,
            Some("array") => Shape::Array,
            Some("arrayfirst") => Shape::ArrayFirst,
            Some("object") => Shape::Object,
            Some(other) => return Err(AppError::BadRequest(format!("Invalid _shape: {other}"))),
        };
        Ok(Output {
            shape,
            newline_delimited: shape == Shape::Array && truthy(args.get("_nl")),
            infinity: if truthy(args.get("_json_infinity")) {
                Infinity::Literal
            } else {
                Infinity::Null
            },
            json_columns: args
                .get_all("_json")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            labels: HashMap::new(),
        })
    }

    /// Whether cells of `column` are written other than as their plain value.
    pub fn rewrites(&self, column: &str) -> bool {
        self.labels.contains_key(column) || self.json_columns.iter().any(|c| c == column)
    }

    /// How one cell is written: a label object when the column is expanded
    /// and the value has a label, else the value itself.
    pub fn cell(&self, column: &str, value: &Value) -> Json {
        if let Some(label) = self
            .labels
            .get(column)
            .and_then(|labels| labels.get(&Key::of(value)?))
        {
            return json!({
                "value": self.value(column, value),
                "label": to_json(label, self.infinity),
            });
        }
        self.value(column, value)
    }

    fn value(&self, column: &str, value: &Value) -> Json {
        if let Value::Text(text) = value
            && self.json_columns.iter().any(|c| c == column)
            && let Ok(parsed) = serde_json::from_str::<Json>(text)
        {
            return parsed;
        }
        to_json(value, self.infinity)
    }

    /// A row as an object keyed by column.
    pub fn object(&self, columns: &[String], row: &[Value]) -> Json {
        let mut map = Map::with_capacity(columns.len());
        for (column, value) in columns.iter().zip(row) {
            map.insert(column.clone(), self.cell(column, value));
        }
        Json::Object(map)
    }
}

/// Writes a data answer: `body` is the default (objects/arrays) shape, whose
/// `rows` key is written from `columns`/`rows`, as are the bare-list shapes.
/// `keys` gives each row's `_shape=object` key, when the source has keys.
pub fn respond(
    output: &Output,
    mut body: Map<String, Json>,
    columns: &[String],
    rows: &Rows,
    keys: Option<Vec<String>>,
) -> AppResult<Response> {
    let rows_json = |arrays| RowsJson {
        output,
        columns,
        rows,
        arrays,
    };
    let json = match output.shape {
        Shape::Objects | Shape::Arrays => {
            body.insert("rows".into(), Json::Null);
            let body = BodyJson {
                body: &body,
                rows: rows_json(output.shape == Shape::Arrays),
            };
            let mut out = Vec::with_capacity(room(columns, rows));
            body.write(&mut out);
            return Ok(json_text(
                StatusCode::OK,
                finish_written(out, output.infinity),
            ));
        }
        Shape::Array if output.newline_delimited => {
            let lines: Vec<String> = rows
                .iter()
                .map(|r| python_json(&output.object(columns, &r.to_values())))
                .collect();
            return Ok((
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                lines.join("\n"),
            )
                .into_response());
        }
        Shape::Array => {
            let mut out = Vec::with_capacity(room(columns, rows));
            rows_json(false).write(&mut out);
            return Ok(json_text(
                StatusCode::OK,
                finish_written(out, output.infinity),
            ));
        }
        Shape::ArrayFirst => Json::Array(
            rows.iter()
                .map(|r| {
                    r.first()
                        .map(|v| output.cell(&columns[0], &v.to_value()))
                        .unwrap_or(Json::Null)
                })
                .collect(),
        ),
        Shape::Object => {
            let Some(keys) = keys else {
                return Err(AppError::BadRequest(
                    "_shape=object not available for tables with no primary keys".into(),
                ));
            };
            let mut map = Map::new();
            for (key, row) in keys.into_iter().zip(rows.iter()) {
                map.insert(key, output.object(columns, &row.to_values()));
            }
            Json::Object(map)
        }
    };
    Ok(json_text(StatusCode::OK, finish(&json)))
}

/// A JSON answer from already-serialised text.
pub fn json_text(status: StatusCode, text: impl Into<axum::body::Body>) -> Response {
    let text: axum::body::Body = text.into();
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Room to write an answer of `rows` in: a few KB, and the first row's
/// size for each row (at most 1 MB), so that a page's answer is not copied
/// as it grows (the copies were 2% of a 100-row page).
fn room(columns: &[String], rows: &Rows) -> usize {
    let first: u64 = rows.first().map_or(0, |row| {
        columns
            .iter()
            .zip(row.iter())
            .map(|(c, v)| answer_bytes(c, v))
            .sum()
    });
    (4096 + (first as usize).saturating_mul(rows.len())).min(1 << 20)
}

/// Datasette's `Cache-Control` for data answers: `max-age` from `_ttl` or
/// `default_cache_ttl`, `no-cache` for 0, and never cacheable by others when
/// the request carried credentials.
pub fn cache_control(response: &mut Response, args: &Args, default_ttl: u64, credentialed: bool) {
    if response.status() != StatusCode::OK {
        return;
    }
    let value = if credentialed {
        "no-store, private".to_owned()
    } else {
        let ttl = args
            .get("_ttl")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(default_ttl);
        if ttl == 0 {
            "no-cache".to_owned()
        } else {
            format!("max-age={ttl}")
        }
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
}

/// Answers that no other site may frame (as Datasette marks them).
pub(crate) fn block_framing(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        "content-security-policy",
        axum::http::HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(
        "x-frame-options",
        axum::http::HeaderValue::from_static("DENY"),
    );
}
