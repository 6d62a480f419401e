//! `libsette backup` and `libsette restore`: consistent copies of the catalog
//! and the tenant databases, taken while a server runs on the same folder
//! and writes go on. Each database is copied with `VACUUM INTO`, one read
//! transaction, so the copy is that database at one moment; a full backup
//! copies the catalog first and then exactly the databases that copy lists.
//!
//! ```text
//! DEST/manifest.json                 versions, and each file's size and SHA-256
//! DEST/catalog.db, DEST/secret       a full backup
//! DEST/space.json                    a one-space backup: the space's catalog rows
//! DEST/spaces/{space}/{db}.db        the databases
//! ```

mod manifest;
mod restore;
mod space;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use libsql::Connection;

pub use manifest::{Entry, Kind, Manifest};
pub use restore::restore;

use crate::catalog::{DataDir, migrate};
use crate::names::{DbName, SpaceName};
use crate::sqlite;

#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    /// A folder to create (or an empty one) for the backup.
    pub dest: PathBuf,
    /// Only this space: its databases and its catalog rows, to restore on
    /// another server with `restore --space`.
    #[arg(long)]
    pub space: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// A folder written by `libsette backup`.
    pub src: PathBuf,
    /// Import a one-space backup as this space into the data folder (which
    /// has a catalog, and may have a server running on it).
    #[arg(long)]
    pub space: Option<String>,
}

/// Writes a backup of the data folder (or one space of it) into `args.dest`.
pub fn backup(data: &DataDir, args: BackupArgs) -> Result<()> {
    if !data.catalog().is_file() {
        bail!(
            "no catalog in {}: nothing to back up",
            data.root().display()
        );
    }
    let dest = Fresh::prepare(&args.dest)?;
    let manifest = match &args.space {
        None => full(data, &dest.path)?,
        Some(name) => one_space(data, &dest.path, name)?,
    };
    manifest.write(&dest.path)?;
    sync(&dest.path)?;
    dest.keep();
    let databases = manifest.of_kind(Kind::Database).count();
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    match &manifest.space {
        Some(space) => println!(
            "backed up space {space}: {databases} databases, {bytes} bytes, into {}",
            args.dest.display()
        ),
        None => println!(
            "backed up the catalog (version {}) and {databases} databases, {bytes} bytes, into {}",
            manifest.catalog_version,
            args.dest.display()
        ),
    }
    Ok(())
}

/// The catalog, then every database the copy of the catalog lists.
fn full(data: &DataDir, dest: &Path) -> Result<Manifest> {
    let (version, copy_path) = {
        let (_db, conn) = open_live(&data.catalog())?;
        let version = migrate::current(&conn)?;
        let copy_path = dest.join("catalog.db");
        vacuum_into(&conn, &copy_path)?;
        (version, copy_path)
    };
    let mut files = Vec::new();
    {
        let copy = sqlite::open_existing(&copy_path)?;
        let conn = sqlite::connect(&copy)?;
        let listed = sqlite::query_all(
            &conn,
            "select d.id, s.name, d.name from databases d join spaces s on s.id = d.space_id
             order by s.name, d.name",
            (),
        )?;
        for row in listed {
            let (id, space, db): (i64, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let source = data.database_file(&space, &db);
            match copy_database(&source, dest, &space, &db) {
                Ok(entry) => files.push(entry),
                // Deleted since the catalog was copied: out of the copy too.
                Err(_) if !source.exists() => {
                    eprintln!(
                        "database {db} of space {space} has no file (deleted during the backup?): left out"
                    );
                    sqlite::execute(&conn, "delete from databases where id = ?1", [id])?;
                }
                Err(err) => return Err(err),
            }
        }
    }
    sync(&copy_path)?;
    files.insert(0, Entry::of(dest, "catalog.db", Kind::Catalog, None, None)?);
    let secret = data.secret();
    if secret.is_file() {
        copy_private(&secret, &dest.join("secret"))?;
        files.push(Entry::of(dest, "secret", Kind::Secret, None, None)?);
    }
    Ok(Manifest::new(version, None, files))
}

/// One space's catalog rows (`space.json`) and databases.
fn one_space(data: &DataDir, dest: &Path, name: &str) -> Result<Manifest> {
    let (_db, conn) = open_live(&data.catalog())?;
    let version = migrate::current(&conn)?;
    if version != migrate::latest() {
        bail!(
            "the catalog is at version {version} and this libsette's is {}: back it up with the libsette that serves it, or run libsette migrate first",
            migrate::latest()
        );
    }
    let rows = space::export(&conn, name)?;
    let mut files = Vec::new();
    for db in &rows.databases {
        let source = data.database_file(&rows.name, &db.name);
        let entry = copy_database(&source, dest, &rows.name, &db.name).with_context(|| {
            format!(
                "copying database {} (deleted during the backup? run it again)",
                db.name
            )
        })?;
        files.push(entry);
    }
    let path = dest.join("space.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows)? + "\n")?;
    sync(&path)?;
    files.insert(
        0,
        Entry::of(dest, "space.json", Kind::SpaceRows, Some(&rows.name), None)?,
    );
    Ok(Manifest::new(version, Some(&rows.name), files))
}

/// An existing database opened as it is, with the usual connection settings.
fn open_live(path: &Path) -> Result<(libsql::Database, sqlite::Closing)> {
    let db = sqlite::open_existing(path)?;
    let conn = sqlite::connect(&db)?;
    Ok((db, conn))
}

/// Copies tenant database `space`/`db` into the backup at `dest`.
fn copy_database(source: &Path, dest: &Path, space: &str, db: &str) -> Result<Entry> {
    let relative = manifest::database_path(
        &SpaceName::parse(space).map_err(anyhow::Error::msg)?,
        &DbName::parse(db).map_err(anyhow::Error::msg)?,
    );
    let target = dest.join(&relative);
    let folder = target.parent().context("a database path has a folder")?;
    std::fs::create_dir_all(folder)?;
    {
        let (_db, conn) = open_live(source)?;
        vacuum_into(&conn, &target)?;
    }
    sync(&target)?;
    sync(folder)?;
    Entry::of(dest, &relative, Kind::Database, Some(space), Some(db))
}

/// `VACUUM INTO`: the database as of one read transaction, compacted, in a
/// new file; writers go on meanwhile (WAL).
fn vacuum_into(conn: &Connection, target: &Path) -> Result<()> {
    let target_text = target
        .to_str()
        .with_context(|| format!("{} is not UTF-8", target.display()))?;
    sqlite::execute(conn, "vacuum into ?1", [target_text])
        .with_context(|| format!("copying into {}", target.display()))?;
    Ok(())
}

/// Copies a small private file (the secret), readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    std::io::Write::write_all(&mut file, &bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Flushes a file or folder to disk.
fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", path.display()))
}

/// A folder that must not exist or be empty, created for the command, and
/// emptied again (or removed) unless the command succeeds.
struct Fresh {
    path: PathBuf,
    created: bool,
    kept: bool,
}

impl Fresh {
    fn prepare(path: &Path) -> Result<Fresh> {
        let created = if path.exists() {
            let mut entries = std::fs::read_dir(path)
                .with_context(|| format!("{} exists and is not a folder", path.display()))?;
            if entries.next().is_some() {
                bail!("{} exists and is not empty", path.display());
            }
            false
        } else {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            true
        };
        Ok(Fresh {
            path: path.to_path_buf(),
            created,
            kept: false,
        })
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if self.created {
            let _ = std::fs::remove_dir_all(&self.path);
        } else if let Ok(entries) = std::fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}
