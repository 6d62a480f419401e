//! Upload and paste, `/{db}/-/upload` and `/{db}/{table}/-/upload`: a CSV,
//! TSV or JSON file (or pasted text) into a new table (`create-table` and
//! `insert-row`) or an existing one, appended (`insert-row`) or upserted
//! (and `update-row`). The multipart body goes to a temporary file under
//! `max_upload_mb` (`multipart`), then its records are read from there and
//! written in batches in one transaction on the database's writer
//! (`write::upload`): nothing is written when the upload is refused, cut
//! off or fails; bad rows are skipped and reported by line. One audit row
//! per table created and per upload.

use askama::Template;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::multipart::{self, Spooled};
use super::tables::{in_place, may_create, paths};
use super::{Chrome, html_status};
use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::{may, open, record, refresh_mirror};
use crate::write::records::{self, Bad, Format};
use crate::write::upload::{self, Report, Target};

/// The most bytes of one record (a CSV line, a JSON object).
const MAX_RECORD: usize = 16 * 1024 * 1024;

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    chrome: Chrome,
    database: String,
    database_path: String,
    /// The table page this came from (its table is the target).
    table: Option<String>,
    /// Where the form posts.
    action: String,
    table_path: String,
    /// Tables the actor may append to.
    tables: Vec<String>,
    may_create: bool,
    limit_mb: u64,
    form: Fields,
    report: Option<ReportView>,
    error: Option<String>,
}

/// What the form said.
#[derive(Clone, Debug, Default)]
struct Fields {
    /// `new` or `existing`.
    target: String,
    new_table: String,
    pk: String,
    existing: String,
    /// `append` or `upsert`.
    mode: String,
    /// `auto`, `csv`, `tsv` or `json`.
    format: String,
}

struct ReportView {
    table: String,
    table_path: String,
    created: bool,
    columns: Vec<(String, &'static str)>,
    written: u64,
    bad_count: u64,
    bad: Vec<Bad>,
    listed_all: bool,
}

/// `GET` shows the form, `POST` takes the upload.
pub async fn form(
    req: &SpaceRequest,
    db: &str,
    table: Option<&str>,
    post: bool,
    headers: &HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let mut page = page(req, db, table).await?;
    if !post {
        return html_status(StatusCode::OK, page);
    }
    let limit_mb = page.limit_mb;
    let dir = req.app.data.uploads();
    let spooled = match multipart::spool(body, headers, &dir, limit_mb).await {
        Ok(spooled) => spooled,
        Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            // The rest of the body is not read: the connection cannot be reused.
            page.error = Some(err.public_message());
            let mut response = html_status(err.status(), page)?;
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(response);
        }
        Err(err) => return Err(err),
    };
    super::check_form_token(
        req,
        &[(
            "csrftoken".into(),
            spooled.text("csrftoken").unwrap_or_default(),
        )],
    )?;
    page.form = fields(&spooled, table);
    match run(req, &page, spooled).await {
        Ok(report) => {
            page.form.new_table.clear();
            let (_, table_path) = paths(req, &page.database, &report.table);
            page.report = Some(ReportView {
                created: report.schema.is_some(),
                listed_all: report.bad.len() as u64 == report.bad_count,
                table: report.table,
                table_path,
                columns: report.columns,
                written: report.written,
                bad_count: report.bad_count,
                bad: report.bad,
            });
            html_status(StatusCode::OK, page)
        }
        Err(err) => {
            let (status, message) = in_place(err)?;
            page.error = Some(message);
            html_status(status, page)
        }
    }
}

/// The page for `db` (and `table`), refused to an actor who could not use it.
async fn page(req: &SpaceRequest, db: &str, table: Option<&str>) -> AppResult<UploadPage> {
    let (database, _, schema) = open(req, db).await?;
    let db = database.name.clone();
    let mut tables = Vec::new();
    let candidates: Vec<&str> = match table {
        Some(table) => {
            let found = schema.table(table).filter(|t| t.kind == "table");
            let visible = may(req, "view-table", &db, table).await?;
            if found.is_none() || !visible {
                return Err(AppError::NotFound("Table not found"));
            }
            vec![table]
        }
        None => schema
            .tables
            .iter()
            .filter(|t| t.kind == "table" && !t.hidden)
            .map(|t| t.name.as_str())
            .collect(),
    };
    for name in candidates {
        if may(req, "insert-row", &db, name).await? && may(req, "view-table", &db, name).await? {
            tables.push(name.to_owned());
        }
    }
    let may_create = table.is_none() && may_create(req, &db).await?;
    if tables.is_empty() && !may_create {
        return Err(AppError::Forbidden(
            "Permission denied: need insert-row or create-table".into(),
        ));
    }
    let (database_path, table_path) = paths(req, &db, table.unwrap_or(""));
    Ok(UploadPage {
        chrome: Chrome::for_space(req).await?,
        action: format!(
            "{}/-/upload",
            if table.is_some() {
                &table_path
            } else {
                &database_path
            }
        ),
        database_path,
        table_path,
        database: db,
        table: table.map(str::to_owned),
        form: Fields {
            target: if may_create { "new" } else { "existing" }.into(),
            mode: "append".into(),
            format: "auto".into(),
            existing: tables.first().cloned().unwrap_or_default(),
            ..Fields::default()
        },
        tables,
        may_create,
        limit_mb: req.space.settings.int("max_upload_mb"),
        report: None,
        error: None,
    })
}

fn fields(spooled: &Spooled, table: Option<&str>) -> Fields {
    let text = |name: &str, default: &str| {
        spooled
            .text(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    Fields {
        target: if table.is_some() {
            "existing".into()
        } else {
            text("target", "new")
        },
        new_table: text("table", ""),
        pk: text("pk", ""),
        existing: table.map_or_else(|| text("existing", ""), str::to_owned),
        mode: text("mode", "append"),
        format: text("format", "auto"),
    }
}

/// Checks the actor's rights for the target, then writes the upload.
async fn run(req: &SpaceRequest, page: &UploadPage, spooled: Spooled) -> AppResult<Report> {
    let db = page.database.as_str();
    let form = &page.form;
    let target = if form.target == "new" {
        let table = form.new_table.clone();
        if table.is_empty() {
            return Err(AppError::invalid_one("Give the new table a name"));
        }
        if !(may_create(req, db).await? && may(req, "insert-row", db, &table).await?) {
            return Err(AppError::Forbidden(
                "Permission denied: need create-table and insert-row".into(),
            ));
        }
        let pk = Some(form.pk.clone()).filter(|p| !p.is_empty() && p != "rowid");
        Target::New { table, pk }
    } else {
        let table = form.existing.clone();
        if !page.tables.contains(&table) {
            return Err(AppError::Forbidden(
                "Permission denied: need insert-row".into(),
            ));
        }
        let upsert = form.mode == "upsert";
        if upsert && !may(req, "update-row", db, &table).await? {
            return Err(AppError::Forbidden(
                "Permission denied: upsert needs update-row".into(),
            ));
        }
        Target::Existing { table, upsert }
    };
    let report = write(req, db, &form.format, spooled, target.clone()).await?;
    audit(req, db, &target, &report).await;
    Ok(report)
}

/// The records of the upload's file (or pasted text) written to `target`.
async fn write(
    req: &SpaceRequest,
    db: &str,
    format: &str,
    spooled: Spooled,
    target: Target,
) -> AppResult<Report> {
    let file = spooled.part("file").filter(|p| p.len > 0);
    let part = file
        .or_else(|| spooled.part("text").filter(|p| p.len > 0))
        .cloned()
        .ok_or_else(|| AppError::invalid_one("Choose a file or paste some data"))?;
    let named = part.filename.as_deref().and_then(Format::named);
    let mut start = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(spooled.reader(&part).map_err(anyhow::Error::from)?, 4096),
        &mut start,
    )
    .map_err(anyhow::Error::from)?;
    let format = match format {
        "csv" => Format::Csv,
        "tsv" => Format::Tsv,
        "json" => Format::Json,
        _ => named.unwrap_or_else(|| Format::sniff(&start)),
    };
    let (database, handle, _) = open(req, db).await?;
    let report = handle
        .write(move |conn| {
            let input = std::io::BufReader::with_capacity(
                256 * 1024,
                spooled.reader(&part).map_err(anyhow::Error::from)?,
            );
            let records = records::reader(input, format, MAX_RECORD)
                .map_err(crate::write::WriteError::invalid)?;
            let report = upload::import(conn, records, &target);
            drop(spooled);
            report
        })
        .await?;
    if report.schema.is_some() {
        refresh_mirror(req, &database).await?;
    }
    Ok(report)
}

async fn audit(req: &SpaceRequest, db: &str, target: &Target, report: &Report) {
    if let Some(schema) = &report.schema {
        let detail = json!({"schema": schema, "upload": true});
        record(req, "create-table", db, Some(&report.table), None, detail).await;
    }
    let upsert = matches!(target, Target::Existing { upsert: true, .. });
    record(
        req,
        if upsert { "upsert-rows" } else { "insert-rows" },
        db,
        Some(&report.table),
        Some(report.written as i64),
        json!({"num_rows": report.written, "bad_rows": report.bad_count, "upload": true}),
    )
    .await;
}
