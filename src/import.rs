//! Bringing SQLite/libSQL files into a space: `db create`, `db import` and
//! `db import --replace`. A replacement is copied into the live file with
//! SQLite's backup API, so a running server (another process) sees the old
//! or the new database, never a mix, from its next statement on.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libsql::Connection;
use libsql::ffi;
use sha2::Digest;

use crate::catalog::{DataDir, databases, mirror, spaces};
use crate::names::DbName;
use crate::settings::Settings;
use crate::sqlite;
use crate::tenant;

/// Creates an empty database in the space.
pub fn create(catalog: &Connection, data: &DataDir, space: &str, db: &DbName) -> Result<()> {
    let space = spaces::require(catalog, space)?;
    if databases::find(catalog, space.id, db.as_str())?.is_some() {
        bail!("database '{db}' already exists in space '{}'", space.name);
    }
    check_room(catalog, &space)?;
    if let Some(replication) = data.replication() {
        // The catalog row first: its id names the namespace.
        let row = databases::register(catalog, space.id, db.as_str())?;
        let ns = crate::replica::Namespace::database(row.id)?;
        let made = sqlite::now(replication.admin.create(&ns));
        if let Err(err) = made {
            let _ = databases::delete(catalog, row.id);
            return Err(err);
        }
        return Ok(());
    }
    tenant::create_file(data, &space.name, db.as_str())?;
    register(catalog, data, &space, db)
}

/// Refuses what a replicated node cannot do yet: files are laid down only
/// on a local data folder.
pub fn local_only(data: &DataDir, what: &str) -> Result<()> {
    if data.replication().is_some() {
        bail!(
            "{what} is not available on a replicated node yet (issue 14); create the database empty and write to it through the API"
        );
    }
    Ok(())
}

/// Deletes a database: the catalog row first (so no request finds it), then its files.
pub fn delete(catalog: &Connection, data: &DataDir, space: &str, db: &str) -> Result<()> {
    let space = spaces::require(catalog, space)?;
    let Some(row) = databases::find(catalog, space.id, db)? else {
        bail!("no database '{db}' in space '{}'", space.name);
    };
    databases::delete(catalog, row.id)?;
    if let Some(replication) = data.replication() {
        sqlite::now(
            replication
                .admin
                .delete(&crate::replica::Namespace::database(row.id)?),
        )?;
    }
    let file = data.database_file(&space.name, &row.name);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.clone().into_os_string();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err).with_context(|| format!("removing the files of {db}"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Registers the file in place as database `db` of `space` (if it is not
/// already) and records its schema; its WAL files stay for the server.
pub fn register(
    catalog: &Connection,
    data: &DataDir,
    space: &spaces::Space,
    db: &DbName,
) -> Result<()> {
    let row = match databases::find(catalog, space.id, db.as_str())? {
        Some(row) => row,
        None => databases::register(catalog, space.id, db.as_str())?,
    };
    let file = data.database_file(&space.name, db.as_str());
    mirror::refresh(catalog, row.id, &*tenant::connect_keeping_wal_files(&file)?)?;
    Ok(())
}

/// The space's own settings over the defaults. (Commands run apart from the
/// server, so `serve --setting` does not reach them.)
fn space_settings(catalog: &Connection, space: &spaces::Space) -> Result<Settings> {
    let pairs = spaces::settings(catalog, space.id)?;
    Settings::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(anyhow::Error::msg)
}

/// Refuses a new database past the space's `max_databases` (0: no limit).
fn check_room(catalog: &Connection, space: &spaces::Space) -> Result<()> {
    let max = space_settings(catalog, space)?.int("max_databases");
    let count = databases::list(catalog, space.id)?.len() as u64;
    if max > 0 && count >= max {
        bail!(
            "space '{}' has {count} databases, its limit (setting max_databases is {max})",
            space.name
        );
    }
    Ok(())
}

/// Refuses a file larger than the space's `max_database_mb` (0: no limit).
fn check_size(catalog: &Connection, space: &spaces::Space, source: &Path) -> Result<()> {
    let max_mb = space_settings(catalog, space)?.int("max_database_mb");
    let size = std::fs::metadata(source)?.len();
    if max_mb > 0 && size > max_mb.saturating_mul(1 << 20) {
        bail!(
            "{} is {size} bytes, over the limit of space '{}': {max_mb} MB (setting max_database_mb)",
            source.display(),
            space.name
        );
    }
    Ok(())
}

/// Checks that `path` is a sound SQLite file.
fn check_integrity(path: &Path) -> Result<()> {
    let db = sqlite::open_file_read_only(path)?;
    let conn = sqlite::connect(&db).context("not an SQLite database")?;
    let verdict = sqlite::query_one(&conn, "pragma integrity_check", ())
        .context("not an SQLite database")?
        .map(|r| sqlite::text(&r, 0))
        .transpose()?
        .flatten();
    if verdict.as_deref() != Some("ok") {
        bail!(
            "{} failed its integrity check: {}",
            path.display(),
            verdict.unwrap_or_default()
        );
    }
    Ok(())
}

/// A temporary copy of `source` beside `dir`, removed on drop.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn temp_copy(source: &Path, dir: &Path) -> Result<TempCopy> {
    std::fs::create_dir_all(dir)?;
    let name = format!(
        ".import-{}-{}.db",
        std::process::id(),
        rand::random::<u32>()
    );
    let copy = TempCopy(dir.join(name));
    std::fs::copy(source, &copy.0).with_context(|| format!("copying {}", source.display()))?;
    Ok(copy)
}

/// Copies `source` into the space as database `db` (the file's stem by default).
pub fn import(
    catalog: &Connection,
    data: &DataDir,
    space: &str,
    source: &Path,
    name: Option<&str>,
    replace: bool,
) -> Result<DbName> {
    local_only(data, "db import")?;
    let space_row = spaces::require(catalog, space)?;
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let existing = databases::find(catalog, space_row.id, name.unwrap_or(stem))?;
    // An immutable file is never changed in place (readers that opened it
    // immutable would see torn pages): its replacement is a new file renamed
    // over it, and open handles keep reading the old one until they go.
    let was_immutable = existing
        .as_ref()
        .is_some_and(|d| d.immutable_hash.is_some());
    let db = import_file(catalog, data, space, source, name, replace, !was_immutable)?;
    if was_immutable {
        set_immutable(catalog, data, space, db.as_str(), true)?;
    }
    Ok(db)
}

/// Makes a database immutable (opened read-only, row counts taken once,
/// served under hashed URLs) or mutable again.
pub fn set_immutable(
    catalog: &Connection,
    data: &DataDir,
    space: &str,
    db: &str,
    immutable: bool,
) -> Result<Option<String>> {
    local_only(data, "immutable databases")?;
    let space = spaces::require(catalog, space)?;
    let Some(row) = databases::find(catalog, space.id, db)? else {
        bail!("no database named '{db}' in space '{}'", space.name);
    };
    let path = data.database_file(&space.name, db);
    if !immutable {
        databases::set_immutable(catalog, row.id, None)?;
        return Ok(None);
    }
    {
        // Everything into the main file, and no WAL left: immutable readers ignore it.
        let file = sqlite::open_plain(&path)?;
        let conn = sqlite::connect(&file)?;
        sqlite::query_one(&conn, "pragma wal_checkpoint(truncate)", ())?;
        sqlite::query_one(&conn, "pragma journal_mode = delete", ())?;
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let hash = hex::encode(&sha2::Sha256::digest(&bytes)[..4]);
    record_immutable(catalog, row.id, &path, &hash)?;
    Ok(Some(hash))
}

/// Records the immutable file at `path` as database `id`: its schema, its
/// row counts (counted once, now) and the `hash` its URLs carry.
pub fn record_immutable(catalog: &Connection, id: i64, path: &Path, hash: &str) -> Result<()> {
    let file = sqlite::open_immutable(path)?;
    let conn = sqlite::connect(&file)?;
    mirror::refresh(catalog, id, &conn)?;
    let mut counts = Vec::new();
    for table in mirror::load(catalog, id)?
        .iter()
        .filter(|t| t.kind != "view")
    {
        let sql = format!(
            "select count(*) from {}",
            crate::names::quote_ident(&table.name)
        );
        if let Some(r) = sqlite::query_one(&conn, &sql, ())? {
            counts.push((table.name.clone(), r.get::<i64>(0)?));
        }
    }
    databases::set_row_counts(catalog, id, &counts)?;
    databases::set_immutable(catalog, id, Some(hash))?;
    Ok(())
}

fn import_file(
    catalog: &Connection,
    data: &DataDir,
    space: &str,
    source: &Path,
    name: Option<&str>,
    replace: bool,
    in_place: bool,
) -> Result<DbName> {
    let space = spaces::require(catalog, space)?;
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let db = DbName::parse(name.unwrap_or(stem)).map_err(anyhow::Error::msg)?;
    if !source.is_file() {
        bail!("{} is not a file", source.display());
    }
    check_integrity(source)?;
    let target = data.database_file(&space.name, db.as_str());
    let exists = databases::find(catalog, space.id, db.as_str())?.is_some() && target.exists();
    check_size(catalog, &space, source)?;
    if !exists {
        check_room(catalog, &space)?;
    }
    let copy = temp_copy(source, &data.space_dir(&space.name))?;
    if exists && !replace {
        bail!(
            "database '{db}' already exists in space '{}'; use --replace to swap it",
            space.name
        );
    }
    if exists && in_place {
        backup_into(&copy.0, &target)?;
    } else {
        // A new file: make the copy a WAL database, then move it into place in one rename.
        {
            let db = sqlite::open_file(&copy.0)?;
            sqlite::query_one(
                &*sqlite::connect(&db)?,
                "pragma wal_checkpoint(truncate)",
                (),
            )?;
        }
        std::fs::rename(&copy.0, &target)?;
    }
    register(catalog, data, &space, &db)?;
    Ok(db)
}

/// Replaces the content of the live database `target` with `source`, in one
/// write transaction on `target` (SQLite's online backup).
fn backup_into(source: &Path, target: &Path) -> Result<()> {
    // In WAL mode the backup requires equal page sizes: rewrite the copy to match.
    let target_db = sqlite::open_file(target)?;
    let page_size: i64 = sqlite::query_one(&*sqlite::connect(&target_db)?, "pragma page_size", ())?
        .expect("pragma answers")
        .get(0)?;
    drop(target_db);
    {
        let copy = sqlite::open_plain(source)?;
        let conn = sqlite::connect(&copy)?;
        sqlite::query_one(&conn, "pragma journal_mode = delete", ())?;
        sqlite::execute_batch(&conn, &format!("pragma page_size = {page_size}; vacuum;"))?;
    }
    unsafe { raw_backup(source, target) }
}

/// # Safety
/// Uses SQLite's C API directly (the backup API has no libsql wrapper); every
/// handle opened here is closed before returning.
unsafe fn raw_backup(source: &Path, target: &Path) -> Result<()> {
    let source_c = CString::new(source.to_string_lossy().as_bytes())?;
    let target_c = CString::new(target.to_string_lossy().as_bytes())?;
    let main = CString::new("main")?;
    let mut src: *mut ffi::sqlite3 = std::ptr::null_mut();
    let mut dst: *mut ffi::sqlite3 = std::ptr::null_mut();
    let result = unsafe {
        (|| -> Result<()> {
            if ffi::sqlite3_open_v2(
                source_c.as_ptr(),
                &mut src,
                ffi::SQLITE_OPEN_READONLY,
                std::ptr::null(),
            ) != ffi::SQLITE_OK
            {
                bail!("opening {}", source.display());
            }
            if ffi::sqlite3_open_v2(
                target_c.as_ptr(),
                &mut dst,
                ffi::SQLITE_OPEN_READWRITE,
                std::ptr::null(),
            ) != ffi::SQLITE_OK
            {
                bail!("opening {}", target.display());
            }
            ffi::sqlite3_busy_timeout(dst, 10_000);
            let backup = ffi::sqlite3_backup_init(dst, main.as_ptr(), src, main.as_ptr());
            if backup.is_null() {
                bail!("starting the copy: {}", errmsg(dst));
            }
            let step = loop {
                let rc = ffi::sqlite3_backup_step(backup, -1);
                if rc == ffi::SQLITE_BUSY || rc == ffi::SQLITE_LOCKED {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                break rc;
            };
            let finish = ffi::sqlite3_backup_finish(backup);
            if step != ffi::SQLITE_DONE || finish != ffi::SQLITE_OK {
                bail!("copying into {}: {}", target.display(), errmsg(dst));
            }
            Ok(())
        })()
    };
    unsafe {
        ffi::sqlite3_close(src);
        ffi::sqlite3_close(dst);
    }
    result
}

unsafe fn errmsg(db: *mut ffi::sqlite3) -> String {
    unsafe { std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
        .to_string_lossy()
        .into_owned()
}
