//! `/{db}.db`: a database's file, as Datasette's download: the
//! `allow_download` setting and the `view-database-download` action decide.
//! An immutable database's file is sent as it is, under its hash. A mutable
//! one is sent as a consistent snapshot, which Datasette does not offer:
//! `VACUUM INTO` a temporary file in the space's folder (a read transaction,
//! so writers never wait for it), hashed for a strong ETag, unlinked at once
//! and streamed from its open descriptor, never whole in memory.

use std::io::{Read, Seek};
use std::path::Path;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::cache::not_modified;
use crate::error::{AppError, AppResult};
use crate::http::database::require_database;
use crate::http::tenant::SpaceRequest;
use crate::permissions::Resource;
use crate::sqlite;

/// Snapshots taken at once, over all spaces: each reads a whole database.
static SNAPSHOTS: Semaphore = Semaphore::const_new(2);

/// Bytes read from the file per chunk of the answer.
const CHUNK: usize = 256 * 1024;

pub async fn show(req: &SpaceRequest, db: &str, headers: &HeaderMap) -> AppResult<Response> {
    let database = require_database(req, db).await?;
    req.require(
        "view-database-download",
        Resource::Database(database.name.clone()),
        "view-database-download",
    )
    .await?;
    if !req.space.settings.flag("allow_download") {
        return Err(AppError::Forbidden("Database download is forbidden".into()));
    }
    let path = req
        .app
        .data
        .database_file(&req.space.space.name, &database.name);
    let (file, size, etag) = match &database.immutable_hash {
        Some(hash) => {
            let etag = format!("\"{hash}\"");
            if not_modified(headers, &etag, true) {
                return Ok(unchanged(&etag));
            }
            let file = std::fs::File::open(&path).context("opening a database to send")?;
            let size = file.metadata().context("sizing a database")?.len();
            (file, size, etag)
        }
        None => {
            let _turn = SNAPSHOTS.acquire().await.context("snapshot turns")?;
            let target = req.app.data.snapshot_file(&req.space.space.name);
            sqlite::blocking(move || snapshot(&path, &target)).await?
        }
    };
    if not_modified(headers, &etag, true) {
        return Ok(unchanged(&etag));
    }
    let disposition = format!("attachment; filename=\"{}.db\"", database.name);
    let mut response = (StatusCode::OK, Body::from_stream(chunks(file))).into_response();
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    // Names are `[A-Za-z0-9_-]` (checked when created): always a valid header.
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    Ok(response)
}

fn unchanged(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A consistent copy of the database at `source`, taken into the new file
/// `target`: its open descriptor (the file itself is already removed), its
/// size and an ETag of its SHA-256.
fn snapshot(source: &Path, target: &Path) -> anyhow::Result<(std::fs::File, u64, String)> {
    let taken = copy_and_open(source, target);
    // Removed whatever happened: an open descriptor keeps the bytes readable.
    let _ = std::fs::remove_file(target);
    let mut file = taken?;
    let size = file.metadata().context("sizing a snapshot")?.len();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = file.read(&mut buffer).context("hashing a snapshot")?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    file.seek(std::io::SeekFrom::Start(0))
        .context("rereading a snapshot")?;
    let etag = format!("\"{}\"", hex::encode(&hasher.finalize()[..16]));
    Ok((file, size, etag))
}

/// `VACUUM INTO` on a read-only connection of its own, then the copy opened.
fn copy_and_open(source: &Path, target: &Path) -> anyhow::Result<std::fs::File> {
    let db = sqlite::open_file_read_only(source)?;
    let conn = sqlite::connect(&db)?;
    let target_text = target.to_str().context("a snapshot path is UTF-8")?;
    sqlite::execute(&conn, "vacuum into ?1", [target_text]).context("taking a snapshot")?;
    std::fs::File::open(target).context("opening a snapshot")
}

/// The file's bytes from its current position, a chunk at a time, each read
/// on the blocking pool.
fn chunks(
    file: std::fs::File,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buffer = vec![0u8; CHUNK];
            let read = file.read(&mut buffer)?;
            buffer.truncate(read);
            Ok::<_, std::io::Error>((file, buffer))
        })
        .await;
        match read {
            Ok(Ok((_, buffer))) if buffer.is_empty() => None,
            Ok(Ok((file, buffer))) => Some((Ok(Bytes::from(buffer)), Some(file))),
            Ok(Err(err)) => Some((Err(err), None)),
            Err(err) => Some((Err(std::io::Error::other(err)), None)),
        }
    })
}
