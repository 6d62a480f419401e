//! `libsette restore`: checks a backup against its manifest first, then
//! either lays a full backup into an empty data folder, or imports a
//! one-space backup as a new space of an existing one (a server may be
//! running on it: the space appears whole, in one catalog transaction).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::manifest::{Kind, Manifest};
use super::space::{self, Imported, SpaceRows};
use super::{Fresh, RestoreArgs, sync};
use crate::catalog::{Catalog, DataDir, migrate, mirror, spaces};
use crate::names::{DbName, SpaceName};
use crate::sqlite;

/// Restores the backup `args.src` into the data folder.
pub fn restore(data: &DataDir, args: RestoreArgs) -> Result<()> {
    let manifest = Manifest::read_verified(&args.src)?;
    match (&manifest.space, &args.space) {
        (None, None) => full(data, &args.src, &manifest),
        (None, Some(_)) => bail!(
            "this is a full backup: it restores whole, into an empty data folder, without --space"
        ),
        (Some(name), None) => bail!(
            "this backup holds space '{name}' alone: import it into a data folder that has a catalog with --space NAME (e.g. --space {name})"
        ),
        (Some(_), Some(name)) => one_space(data, &args.src, &manifest, name),
    }
}

/// A full backup into an empty (or missing) data folder.
fn full(data: &DataDir, src: &Path, manifest: &Manifest) -> Result<()> {
    if manifest.catalog_version > migrate::latest() {
        bail!(
            "this backup's catalog has version {}, newer than this libsette's ({}): restore it with the libsette that made it",
            manifest.catalog_version,
            migrate::latest()
        );
    }
    let catalog_file = manifest.one(src, Kind::Catalog)?;
    let target = Fresh::prepare(data.root())?;
    lay(&catalog_file, &data.catalog())?;
    let mut files = BTreeSet::new();
    for entry in manifest.of_kind(Kind::Database) {
        lay(&src.join(&entry.path), &data.root().join(&entry.path))?;
        files.insert((entry.space.clone(), entry.database.clone()));
    }
    if let Some(secret) = manifest.of_kind(Kind::Secret).next() {
        lay(&src.join(&secret.path), &data.secret())?;
        #[cfg(unix)]
        std::fs::set_permissions(
            data.secret(),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
    }
    // Migrations of a backup made by an older libsette run now, not at serve.
    let catalog = Catalog::open(data)?;
    let conn = catalog.conn()?;
    let listed = sqlite::query_all(
        &conn,
        "select s.name, d.name, d.id, case when d.immutable = 1 then d.content_hash end
         from databases d join spaces s on s.id = d.space_id",
        (),
    )?;
    for row in &listed {
        let (space, db): (String, String) = (row.get(0)?, row.get(1)?);
        if !files.remove(&(Some(space.clone()), Some(db.clone()))) {
            bail!(
                "the backup's catalog lists database {db} of space {space}, but the backup has no file for it"
            );
        }
        let path = data.database_file(&space, &db);
        let hash: Option<String> = row.get(3)?;
        set_journal(&path, hash.is_some())?;
        adopt(&conn, row.get(2)?, &path, hash.as_deref())?;
    }
    if let Some((space, db)) = files.into_iter().next() {
        bail!(
            "the backup has a file for database {} of space {}, which its catalog does not list",
            db.unwrap_or_default(),
            space.unwrap_or_default()
        );
    }
    for space in spaces::list(&conn)? {
        std::fs::create_dir_all(data.space_dir(&space.name))?;
    }
    drop(conn);
    sync(data.root())?;
    target.keep();
    println!(
        "restored the catalog (version {}{}) and {} databases into {}",
        migrate::current(&*catalog.conn()?)?,
        match catalog.migrations_applied {
            0 => String::new(),
            n => format!(", {n} migrations applied"),
        },
        listed.len(),
        data.root().display()
    );
    Ok(())
}

/// A one-space backup as space `name` of the data folder.
fn one_space(data: &DataDir, src: &Path, manifest: &Manifest, name: &str) -> Result<()> {
    let name = SpaceName::parse(name).map_err(anyhow::Error::msg)?;
    if !data.catalog().is_file() {
        bail!(
            "no catalog in {}: a space is imported into a data folder in use (start libsette serve there once, or restore a full backup)",
            data.root().display()
        );
    }
    let rows_file = manifest.one(src, Kind::SpaceRows)?;
    let rows: SpaceRows =
        serde_json::from_slice(&std::fs::read(&rows_file)?).context("reading space.json")?;
    let catalog = Catalog::open(data)?;
    let conn = catalog.conn()?;
    if spaces::find(&conn, name.as_str())?.is_some() {
        bail!("space '{name}' already exists: import under another name with --space NAME");
    }
    let files = database_files(src, manifest, &rows)?;
    // The files first, where no catalog row points yet; removed on failure.
    let folder = Fresh::prepare(&data.space_dir(name.as_str()))?;
    for (db, from) in &files {
        let to = data.database_file(name.as_str(), &db.name);
        lay(from, &to)?;
        set_journal(&to, db.immutable_hash.is_some())?;
    }
    sync(&folder.path)?;
    // Then every row in one transaction: a running server sees all or nothing.
    let mut users = Imported::default();
    sqlite::write_transaction(&conn, |conn| {
        let space_id = space::import(conn, &name, &rows, &mut users)?;
        for (db, _) in &files {
            let id = space::register_database(conn, space_id, db)?;
            let path = data.database_file(name.as_str(), &db.name);
            adopt(conn, id, &path, db.immutable_hash.as_deref())?;
        }
        Ok(())
    })?;
    folder.keep();
    println!(
        "imported space {} as {name}: {} databases",
        rows.name,
        files.len()
    );
    if !users.existing.is_empty() {
        println!(
            "members and grants of users this server has: {}",
            users.existing.join(", ")
        );
    }
    if !users.invited.is_empty() {
        println!(
            "invited (no password, no login until `libsette user create NAME`): {}",
            users.invited.join(", ")
        );
    }
    println!(
        "API tokens are not carried over: mint new ones with libsette token create {name} USER"
    );
    Ok(())
}

/// Each database of `space.json` with its file in the backup; the two
/// lists must agree.
fn database_files<'a>(
    src: &Path,
    manifest: &Manifest,
    rows: &'a SpaceRows,
) -> Result<Vec<(&'a space::Database, PathBuf)>> {
    let entries: Vec<_> = manifest.of_kind(Kind::Database).collect();
    if entries.len() != rows.databases.len() {
        bail!("space.json and the manifest list different databases");
    }
    rows.databases
        .iter()
        .map(|db| {
            DbName::parse(&db.name).map_err(anyhow::Error::msg)?;
            let entry = entries
                .iter()
                .find(|e| e.database.as_deref() == Some(db.name.as_str()))
                .with_context(|| format!("the backup has no file for database {}", db.name))?;
            Ok((db, src.join(&entry.path)))
        })
        .collect()
}

/// Copies a verified backup file into the data folder, durably. (The
/// backup is at rest, so a plain copy is a consistent one.)
fn lay(from: &Path, to: &Path) -> Result<()> {
    let folder = to.parent().context("a data file has a folder")?;
    std::fs::create_dir_all(folder)?;
    if to.exists() {
        bail!("{} exists already", to.display());
    }
    std::fs::copy(from, to).with_context(|| format!("copying into {}", to.display()))?;
    sync(to)?;
    sync(folder)
}

/// Brings the catalog's rows of database `id` in step with its restored
/// file: a copy has a schema version of its own, and an immutable
/// database's row counts are taken once, here, under its old `hash` (its
/// URLs stay the same).
fn adopt(catalog: &libsql::Connection, id: i64, path: &Path, hash: Option<&str>) -> Result<()> {
    match hash {
        Some(hash) => crate::import::record_immutable(catalog, id, path, hash),
        None => {
            let file = sqlite::open_file(path)?;
            mirror::refresh(catalog, id, &*sqlite::connect(&file)?)?;
            Ok(())
        }
    }
}

/// A mutable database is served in WAL mode; an immutable one must have
/// no WAL (its readers would not see it).
fn set_journal(path: &Path, immutable: bool) -> Result<()> {
    let file = sqlite::open_existing(path)?;
    let conn = sqlite::connect(&file)?;
    let mode = if immutable { "delete" } else { "wal" };
    sqlite::query_one(&conn, &format!("pragma journal_mode = {mode}"), ())?;
    Ok(())
}
