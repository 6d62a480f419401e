//! A `multipart/form-data` body (a form with a file) written to a temporary
//! file under the data folder while it streams, counted against a limit
//! (413 as soon as it passes, before anything is written to a database),
//! then split into its parts by the boundary: each part is a byte range of
//! that file, so a large file part is read from disk, never held in memory.
//! The temporary file goes when the [`Spooled`] body is dropped, also when
//! the client goes away mid-upload.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{AppError, AppResult};

/// The most parts a form may have, and the largest small field read.
const MAX_PARTS: usize = 64;
const MAX_FIELD: u64 = 64 * 1024;

/// One part: its name, file name, and where its content lies in the file.
#[derive(Clone, Debug)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub start: u64,
    pub len: u64,
}

/// A body on disk and its parts.
pub struct Spooled {
    pub path: PathBuf,
    pub parts: Vec<Part>,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Spooled {
    /// The part called `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// A small field's text (the first 64 KB of it).
    pub fn text(&self, name: &str) -> Option<String> {
        let part = self.part(name)?;
        let mut file = File::open(&self.path).ok()?;
        file.seek(SeekFrom::Start(part.start)).ok()?;
        let mut bytes = Vec::new();
        file.take(part.len.min(MAX_FIELD))
            .read_to_end(&mut bytes)
            .ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A reader over a part's content.
    pub fn reader(&self, part: &Part) -> std::io::Result<std::io::Take<File>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(part.start))?;
        Ok(file.take(part.len))
    }
}

/// The boundary of a `multipart/form-data` body.
pub fn boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let (kind, params) = value.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty() && v.len() <= 70)
            .then(|| v.to_owned())
    })
}

/// What a body past the limit is told.
pub fn too_large(limit_mb: u64) -> AppError {
    AppError::Errors(
        StatusCode::PAYLOAD_TOO_LARGE,
        vec![format!(
            "The upload is larger than this space's limit of {limit_mb} MB (max_upload_mb): nothing was written"
        )],
    )
}

/// Writes `body` to a new file in `dir`, then finds its parts.
pub async fn spool(
    body: Body,
    headers: &HeaderMap,
    dir: &Path,
    limit_mb: u64,
) -> AppResult<Spooled> {
    let boundary = boundary(headers)
        .ok_or_else(|| AppError::BadRequest("Send the form as multipart/form-data".into()))?;
    let limit = limit_mb.saturating_mul(1024 * 1024);
    let declared: Option<u64> = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if limit > 0 && declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit_mb));
    }
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(anyhow::Error::from)?;
    let name = format!("upload-{:016x}.tmp", rand::random::<u64>());
    let mut spooled = Spooled {
        path: dir.join(name),
        parts: Vec::new(),
    };
    let mut file = tokio::fs::File::create(&spooled.path)
        .await
        .map_err(anyhow::Error::from)?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("Reading the upload: {e}")))?;
        size += chunk.len() as u64;
        if limit > 0 && size > limit {
            return Err(too_large(limit_mb));
        }
        file.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    file.flush().await.map_err(anyhow::Error::from)?;
    drop(file);
    let path = spooled.path.clone();
    let parts = crate::sqlite::blocking(move || find_parts(&path, &boundary))
        .await
        .map_err(|e| AppError::BadRequest(format!("Malformed multipart body: {e}")))?;
    spooled.parts = parts;
    Ok(spooled)
}

/// The parts of the multipart body in `path`.
fn find_parts(path: &Path, boundary: &str) -> anyhow::Result<Vec<Part>> {
    let malformed = || anyhow::anyhow!("no parts where expected");
    let mut file = File::open(path)?;
    let first = format!("--{boundary}");
    let mut head = vec![0; first.len()];
    file.read_exact(&mut head).map_err(|_| malformed())?;
    if head != first.as_bytes() {
        return Err(malformed());
    }
    let needle = format!("\r\n--{boundary}");
    let mut delimiters = vec![0u64];
    delimiters.extend(find_all(&mut file, needle.as_bytes(), first.len() as u64)?);
    let mut parts = Vec::new();
    for pair in delimiters.windows(2) {
        let (at, next) = (pair[0], pair[1]);
        let after = at + if at == 0 { first.len() } else { needle.len() } as u64;
        let (part, content_start) = headers_at(&mut file, after)?.ok_or_else(malformed)?;
        if content_start > next || parts.len() >= MAX_PARTS {
            return Err(malformed());
        }
        parts.push(Part {
            start: content_start,
            len: next - content_start,
            ..part
        });
    }
    Ok(parts)
}

/// Offsets of every `needle` in `file` from `from` on, read in chunks.
fn find_all(file: &mut File, needle: &[u8], from: u64) -> anyhow::Result<Vec<u64>> {
    file.seek(SeekFrom::Start(from))?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    // `kept` bytes at the front of `buf` are carried over from the last chunk.
    let (mut kept, mut offset) = (0usize, from);
    loop {
        let n = file.read(&mut buf[kept..])?;
        if n == 0 {
            return Ok(found);
        }
        let filled = kept + n;
        let hay = &buf[..filled];
        let mut i = 0;
        while let Some(p) = hay[i..].iter().position(|b| *b == needle[0]) {
            let at = i + p;
            if at + needle.len() > filled {
                break;
            }
            if &hay[at..at + needle.len()] == needle {
                found.push(offset + at as u64);
                if found.len() > MAX_PARTS {
                    anyhow::bail!("too many parts");
                }
                i = at + needle.len();
            } else {
                i = at + 1;
            }
        }
        // A match starting in the last bytes may end in the next chunk.
        let keep = (needle.len() - 1).min(filled);
        buf.copy_within(filled - keep..filled, 0);
        offset += (filled - keep) as u64;
        kept = keep;
    }
}

/// The part whose delimiter ends at `at`: its name and file name and where
/// its content starts; `None` after the closing delimiter.
fn headers_at(file: &mut File, at: u64) -> anyhow::Result<Option<(Part, u64)>> {
    file.seek(SeekFrom::Start(at))?;
    let mut head = Vec::new();
    file.by_ref().take(8 * 1024).read_to_end(&mut head)?;
    if head.starts_with(b"--") {
        return Ok(None);
    }
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&head[..end]);
    let mut part = Part {
        name: String::new(),
        filename: None,
        start: 0,
        len: 0,
    };
    for line in text.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        for param in value.split(';').skip(1) {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_owned();
            match k.trim() {
                "name" => part.name = v,
                "filename" => part.filename = Some(v),
                _ => {}
            }
        }
    }
    Ok(Some((part, at + end as u64 + 4)))
}
