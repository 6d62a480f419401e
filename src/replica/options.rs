//! The command line of a replicated node: where its primary is and the
//! credentials it uses (from files, as Compose secrets are).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::{Primary, Replication};

#[derive(clap::Args, Debug, Clone, Default)]
/// (Field names are the arguments' ids, global to every command: they
/// must not repeat another command's, such as healthcheck's `url`.)
pub struct PrimaryArgs {
    /// A sqld primary's HTTP URL: serve and every command work on embedded
    /// replicas of its namespaces, writing through to it.
    #[arg(long = "primary", global = true, env = "LIBSETTE_PRIMARY_URL")]
    pub primary_url: Option<String>,
    /// The primary's admin API URL (namespaces are created and deleted there).
    #[arg(
        long = "primary-admin-url",
        global = true,
        env = "LIBSETTE_PRIMARY_ADMIN_URL"
    )]
    pub primary_admin_url: Option<String>,
    /// A file holding the JWT the primary accepts from nodes.
    #[arg(
        long = "primary-token-file",
        global = true,
        env = "LIBSETTE_PRIMARY_TOKEN_FILE"
    )]
    pub primary_token_file: Option<PathBuf>,
    /// A file holding the primary's admin API key (`--admin-auth-key`).
    #[arg(
        long = "primary-admin-key-file",
        global = true,
        env = "LIBSETTE_PRIMARY_ADMIN_KEY_FILE"
    )]
    pub primary_admin_key_file: Option<PathBuf>,
}

impl PrimaryArgs {
    /// The replication settings, or `None` for a local data folder.
    pub fn replication(&self) -> Result<Option<Replication>> {
        // Empty counts as unset: Compose passes `LIBSETTE_PRIMARY_URL=` to
        // a node on its own data folder. The other options then say nothing.
        let Some(url) = self.primary_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let Some(admin_url) = self
            .primary_admin_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            bail!("--primary needs --primary-admin-url (namespaces are made there)");
        };
        for (name, value) in [("--primary", url), ("--primary-admin-url", admin_url)] {
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                bail!("{name} must be an http:// or https:// URL");
            }
        }
        let token = read_secret(self.primary_token_file.as_ref())?.unwrap_or_default();
        let admin_key = read_secret(self.primary_admin_key_file.as_ref())?;
        Ok(Some(Replication::new(Primary {
            url: url.trim_end_matches('/').to_owned(),
            admin_url: admin_url.trim_end_matches('/').to_owned(),
            token,
            admin_key,
        })))
    }
}

fn read_secret(path: Option<&PathBuf>) -> Result<Option<String>> {
    // An empty path is no file (`LIBSETTE_PRIMARY_TOKEN_FILE=`).
    let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(Some(text.to_owned()))
}
