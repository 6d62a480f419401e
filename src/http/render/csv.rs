//! CSV answers: tables (`/{db}/{table}.csv`, every filter, sort and `_col`
//! applied), queries (`/{db}/-/query.csv?sql=`), `_dl=1` to download, and
//! `_stream=on` for a whole table, page after page, in constant memory.
//! Written as Python's `csv` module writes (Datasette's): CRLF line ends,
//! quotes only where needed, floats as Python prints them.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use libsql::Value;

use crate::error::{AppError, AppResult};
use crate::http::table::{TableContext, read_page};
use crate::http::tenant::SpaceRequest;
use crate::read::cells::Rows;
use crate::read::labels::{Key, Labels};
use crate::read::values::to_text;

/// One CSV field, quoted when it holds a comma, a quote or a line break.
fn field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

fn line(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, text) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, &text);
    }
    out.push_str("\r\n");
}

/// A cell as CSV text. Blobs have no text form; they are written base64-encoded.
fn cell(value: &Value) -> String {
    match value {
        Value::Blob(bytes) => {
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        }
        other => to_text(other),
    }
}

/// The header row: each labelled column is followed by `{column}_label`.
fn header_line(out: &mut String, columns: &[String], labels: &HashMap<String, Labels>) {
    let names = columns.iter().flat_map(|c| {
        let label = labels.contains_key(c).then(|| format!("{c}_label"));
        std::iter::once(c.clone()).chain(label)
    });
    line(out, names);
}

fn rows_lines(out: &mut String, columns: &[String], rows: &Rows, labels: &HashMap<String, Labels>) {
    for row in rows.iter() {
        let fields = columns.iter().zip(row.iter()).flat_map(|(column, value)| {
            let value = value.to_value();
            let label = labels.get(column).map(|known| {
                Key::of(&value)
                    .and_then(|k| known.get(&k))
                    .map(to_text)
                    .unwrap_or_default()
            });
            std::iter::once(cell(&value)).chain(label)
        });
        line(out, fields);
    }
}

/// Headers of a CSV answer: `text/plain` to view, `text/csv` with a
/// `Content-Disposition` when `_dl` asks to download.
fn csv_response(body: Body, download: Option<&str>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    match download {
        Some(name) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            let disposition = format!(
                "attachment; filename=\"{}\"",
                name.replace(['"', '\\', '\r', '\n'], "_")
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
        }
        None => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
    }
    response
}

/// `_header=off` leaves the header row out.
fn wants_header(args: &crate::read::args::Args) -> bool {
    !matches!(args.get("_header"), Some("off" | "0" | "false"))
}

fn wants_download(req: &SpaceRequest) -> bool {
    req.args()
        .get("_dl")
        .is_some_and(|v| !v.is_empty() && v != "0" && v != "off")
}

/// `/{db}/{table}.csv`: the page the JSON would show, or the whole table with `_stream`.
pub async fn table(req: &SpaceRequest, db: &str, table: &str) -> AppResult<Response> {
    let args = req.args();
    let download = wants_download(req).then(|| format!("{table}.csv"));
    if args
        .get("_stream")
        .is_some_and(|v| !v.is_empty() && v != "0" && v != "off")
    {
        if !req.space.settings.flag("allow_csv_stream") {
            return Err(AppError::BadRequest("CSV streaming is disabled".into()));
        }
        if args.has("_next") {
            return Err(AppError::BadRequest(
                "_next not allowed for CSV streaming".into(),
            ));
        }
        // Whole pages of max_returned_rows rows, from the first.
        let paged = req.with_query(args.replaced(&["_size", "_next"], &[("_size", "max")]));
        let first = read_page(&paged, db, table).await?;
        return Ok(csv_response(
            stream_table(first).await?,
            download.as_deref(),
        ));
    }
    let ctx = read_page(req, db, table).await?;
    let labels = crate::http::table::extras::labels(&ctx).await?;
    let mut out = String::new();
    if wants_header(args) {
        header_line(&mut out, &ctx.plan.columns, &labels);
    }
    rows_lines(&mut out, &ctx.plan.columns, &ctx.rows, &labels);
    Ok(csv_response(Body::from(out), download.as_deref()))
}

/// `/{db}/-/query.csv?sql=`
pub async fn query(req: &SpaceRequest, db: &str) -> AppResult<Response> {
    let args = req.args();
    // SQLite's refusal is answered as plain text, like every CSV error.
    let result = crate::http::query::run_user_sql_text(req, db, args)
        .await?
        .map_err(AppError::BadRequest)?;
    Ok(query_result(req, args, &result, db))
}

/// A query's result as CSV; `name.csv` when a download is asked for.
pub fn query_result(
    req: &SpaceRequest,
    args: &crate::read::args::Args,
    result: &crate::read::exec::ResultSet,
    name: &str,
) -> Response {
    let mut out = String::new();
    let none = HashMap::new();
    if wants_header(args) {
        header_line(&mut out, &result.columns, &none);
    }
    rows_lines(&mut out, &result.columns, &result.rows, &none);
    let download = wants_download(req).then(|| format!("{name}.csv"));
    csv_response(Body::from(out), download.as_deref())
}

/// One row as CSV (`/{db}/{table}/{pk}.csv`).
pub fn rows(req: &SpaceRequest, columns: &[String], rows: &Rows) -> Response {
    let args = req.args();
    let none = HashMap::new();
    let mut out = String::new();
    if wants_header(args) {
        header_line(&mut out, columns, &none);
    }
    rows_lines(&mut out, columns, rows, &none);
    csv_response(Body::from(out), wants_download(req).then_some("row.csv"))
}

/// Streams every page of the table after the first, each read when the
/// client is ready for it, until the end or `max_csv_mb`.
async fn stream_table(first: TableContext<'_>) -> AppResult<Body> {
    let limit_bytes = first.req.space.settings.int("max_csv_mb") * 1024 * 1024;
    let labels = crate::http::table::extras::labels(&first).await?;
    let mut head = String::new();
    if wants_header(first.args) {
        header_line(&mut head, &first.plan.columns, &labels);
    }
    rows_lines(&mut head, &first.plan.columns, &first.rows, &labels);
    // What the next page needs, owned so the stream can outlive this request's borrow.
    let state = StreamState {
        req: first.req.clone(),
        db: first.database.name.clone(),
        table: first.info.name.clone(),
        query: first.req.query().map(str::to_owned),
        next: first.next.clone(),
        sent: head.len() as u64,
        limit_bytes,
    };
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) });
    let rest = futures::stream::unfold(state, |mut state| async move {
        // A stream that stops early says so in its last line, as Datasette's does.
        if state.limit_bytes > 0 && state.sent >= state.limit_bytes && state.next.is_some() {
            state.next = None;
            let line = format!("CSV contains more than {} bytes\r\n", state.limit_bytes);
            return Some((Ok(Bytes::from(line)), state));
        }
        let token = state.next.take()?;
        let args = crate::read::args::Args::parse(state.query.as_deref());
        let req = state
            .req
            .with_query(args.replaced(&["_next"], &[("_next", &token)]));
        let page = match read_page(&req, &state.db, &state.table).await {
            Ok(page) => page,
            Err(err) => {
                tracing::warn!(error = %err, "CSV stream stopped");
                let line = format!("{}\r\n", err.public_message());
                return Some((Ok(Bytes::from(line)), state));
            }
        };
        let labels = crate::http::table::extras::labels(&page)
            .await
            .unwrap_or_default();
        let mut out = String::new();
        rows_lines(&mut out, &page.plan.columns, &page.rows, &labels);
        state.next = page.next.clone();
        state.sent += out.len() as u64;
        drop(page);
        Some((Ok(Bytes::from(out)), state))
    });
    Ok(Body::from_stream(futures::StreamExt::chain(head, rest)))
}

struct StreamState {
    req: SpaceRequest,
    db: String,
    table: String,
    query: Option<String>,
    next: Option<String>,
    sent: u64,
    limit_bytes: u64,
}
