//! A backup's `manifest.json`: what made it, when, and each file with its
//! size and SHA-256, so a restore can refuse a damaged or altered copy
//! before it lays anything down.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::names::{DbName, SpaceName};

pub const FILE: &str = "manifest.json";
const FORMAT: &str = "libsette-backup";
const FORMAT_VERSION: u32 = 1;

/// What a backup holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "libsette-backup".
    pub format: String,
    pub format_version: u32,
    /// The libsette that made it.
    pub libsette_version: String,
    /// The source catalog's schema version: its last migration's number.
    pub catalog_version: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Set when the backup holds one space (its catalog rows in `space.json`).
    pub space: Option<String>,
    pub files: Vec<Entry>,
}

/// What a file of the backup is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The whole catalog (a full backup).
    Catalog,
    /// The session-signing secret of the data folder (a full backup).
    Secret,
    /// One space's catalog rows (a one-space backup).
    SpaceRows,
    /// A tenant database.
    Database,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    pub space: Option<String>,
    pub database: Option<String>,
    /// Relative to the backup's folder, '/'-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl Entry {
    /// Describes `dir/path` as it is now.
    pub fn of(
        dir: &Path,
        path: &str,
        kind: Kind,
        space: Option<&str>,
        database: Option<&str>,
    ) -> Result<Entry> {
        let (size, sha256) = digest(&dir.join(path))?;
        Ok(Entry {
            kind,
            space: space.map(str::to_owned),
            database: database.map(str::to_owned),
            path: path.to_owned(),
            size,
            sha256,
        })
    }

    /// The only path an entry of its kind may have: a manifest written by
    /// anyone else cannot point a restore outside the backup's folder.
    fn expected_path(&self) -> Result<String> {
        Ok(match self.kind {
            Kind::Catalog => "catalog.db".into(),
            Kind::Secret => "secret".into(),
            Kind::SpaceRows => "space.json".into(),
            Kind::Database => {
                let (Some(space), Some(db)) = (&self.space, &self.database) else {
                    bail!("a database entry names no space or database");
                };
                database_path(
                    &SpaceName::parse(space).map_err(anyhow::Error::msg)?,
                    &DbName::parse(db).map_err(anyhow::Error::msg)?,
                )
            }
        })
    }
}

/// Where a tenant database sits, in a backup as in a data folder.
pub fn database_path(space: &SpaceName, db: &DbName) -> String {
    format!("spaces/{space}/{db}.db")
}

impl Manifest {
    pub fn new(catalog_version: i64, space: Option<&str>, files: Vec<Entry>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            libsette_version: env!("CARGO_PKG_VERSION").into(),
            catalog_version,
            created_at: crate::catalog::unix_now(),
            space: space.map(str::to_owned),
            files,
        }
    }

    /// Writes `manifest.json` into `dir`, durably.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        super::sync(&path)
    }

    /// Reads the manifest of the backup in `dir` and checks every file it
    /// lists against its size and SHA-256; refuses anything amiss.
    pub fn read_verified(dir: &Path) -> Result<Manifest> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a libsette backup: no readable {FILE}",
                dir.display()
            )
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).with_context(|| format!("reading {FILE}"))?;
        if manifest.format != FORMAT {
            bail!("{FILE} is not a libsette backup's");
        }
        if manifest.format_version > FORMAT_VERSION {
            bail!(
                "this backup has format {}; this libsette reads up to {FORMAT_VERSION}: restore it with a newer libsette",
                manifest.format_version
            );
        }
        let mut seen = std::collections::HashSet::new();
        for entry in &manifest.files {
            if entry.path != entry.expected_path()? || !seen.insert(entry.path.clone()) {
                bail!("{FILE} lists an unexpected file: {}", entry.path);
            }
            let (size, sha256) = digest(&dir.join(&entry.path))
                .with_context(|| format!("{} is missing from the backup", entry.path))?;
            if size != entry.size || sha256 != entry.sha256 {
                bail!(
                    "{} does not match the manifest (size {size}, expected {}; checksum {}): the backup is damaged or was altered",
                    entry.path,
                    entry.size,
                    if sha256 == entry.sha256 {
                        "matches"
                    } else {
                        "differs"
                    }
                );
            }
        }
        Ok(manifest)
    }

    /// The entries of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Entry> {
        self.files.iter().filter(move |e| e.kind == kind)
    }

    /// The file of `kind`, which a backup of this sort must have once.
    pub fn one(&self, dir: &Path, kind: Kind) -> Result<PathBuf> {
        let mut found = self.of_kind(kind);
        match (found.next(), found.next()) {
            (Some(entry), None) => Ok(dir.join(&entry.path)),
            _ => bail!("{FILE} must list exactly one {kind:?} file"),
        }
    }
}

/// A file's size and hex SHA-256, read in one pass.
pub fn digest(path: &Path) -> Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}
