//! The command line of a replicated node: where its primary is and the
//! credentials it uses (from files, as Compose secrets are).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::{Primary, Replication};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PrimaryArgs {
    /// A sqld primary's HTTP URL: serve and every command work on embedded
    /// replicas of its namespaces, writing through to it.
    #[arg(long = "primary", global = true, env = "LIBSETTE_PRIMARY_URL")]
    pub url: Option<String>,
    /// The primary's admin API URL (namespaces are created and deleted there).
    #[arg(
        long = "primary-admin-url",
        global = true,
        env = "LIBSETTE_PRIMARY_ADMIN_URL"
    )]
    pub admin_url: Option<String>,
    /// A file holding the JWT the primary accepts from nodes.
    #[arg(
        long = "primary-token-file",
        global = true,
        env = "LIBSETTE_PRIMARY_TOKEN_FILE"
    )]
    pub token_file: Option<PathBuf>,
    /// A file holding the primary's admin API key (`--admin-auth-key`).
    #[arg(
        long = "primary-admin-key-file",
        global = true,
        env = "LIBSETTE_PRIMARY_ADMIN_KEY_FILE"
    )]
    pub admin_key_file: Option<PathBuf>,
}

impl PrimaryArgs {
    /// The replication settings, or `None` for a local data folder.
    pub fn replication(&self) -> Result<Option<Replication>> {
        let Some(url) = &self.url else {
            if self.admin_url.is_some() {
                bail!("--primary-admin-url needs --primary");
            }
            return Ok(None);
        };
        let Some(admin_url) = &self.admin_url else {
            bail!("--primary needs --primary-admin-url (namespaces are made there)");
        };
        for (name, value) in [("--primary", url), ("--primary-admin-url", admin_url)] {
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                bail!("{name} must be an http:// or https:// URL");
            }
        }
        let token = read_secret(self.token_file.as_ref())?.unwrap_or_default();
        let admin_key = read_secret(self.admin_key_file.as_ref())?;
        Ok(Some(Replication::new(Primary {
            url: url.trim_end_matches('/').to_owned(),
            admin_url: admin_url.trim_end_matches('/').to_owned(),
            token,
            admin_key,
        })))
    }
}

fn read_secret(path: Option<&PathBuf>) -> Result<Option<String>> {
    let Some(path) = path else {
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
