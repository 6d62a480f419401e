//! What `libsette serve` is told: its flags and their environment variables.
//! Here, below both, so the command line and the server share them without
//! importing each other.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LIBSETTE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// A Datasette setting for every space, e.g. --setting default_page_size 50.
    #[arg(long = "setting", num_args = 2, value_names = ["NAME", "VALUE"], env = "LIBSETTE_SETTING", value_delimiter = ',')]
    pub settings: Vec<String>,
    /// Send Datasette's CORS headers.
    #[arg(long, env = "LIBSETTE_CORS")]
    pub cors: bool,
    /// Route {space}.DOMAIN hosts to their space.
    #[arg(long, env = "LIBSETTE_SPACES_DOMAIN")]
    pub spaces_domain: Option<String>,
    /// Where clients reach this server (scheme://host[:port]): absolute URLs
    /// in answers start with it, never with a request's Host (default: the
    /// bound address).
    #[arg(long, env = "LIBSETTE_PUBLIC_URL", value_parser = crate::origin::Origin::parse)]
    pub public_url: Option<crate::origin::Origin>,
    /// Secret for signing sessions; generated once and kept in the data folder if absent.
    #[arg(long, env = "LIBSETTE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Read the session secret from this file (Compose and Kubernetes
    /// secrets); a trailing newline is dropped.
    #[arg(
        long,
        env = "LIBSETTE_SECRET_FILE",
        value_name = "PATH",
        conflicts_with = "secret"
    )]
    pub secret_file: Option<PathBuf>,
    /// Require this bearer token on /metrics (otherwise only loopback clients may read it).
    #[arg(long, env = "LIBSETTE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Read the metrics token from this file; a trailing newline is dropped.
    #[arg(
        long,
        env = "LIBSETTE_METRICS_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "metrics_token"
    )]
    pub metrics_token_file: Option<PathBuf>,
    /// Log lines as text or JSON.
    #[arg(long, env = "LIBSETTE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Memory for cached answers, in MB (0 turns the result cache off).
    #[arg(long, env = "LIBSETTE_RESULT_CACHE_MB", default_value_t = 64)]
    pub result_cache_mb: u64,
    #[command(flatten)]
    pub connections: ConnectionArgs,
}

impl ServeArgs {
    /// The session secret given, from its flag or its file.
    pub fn secret(&self) -> Result<Option<String>> {
        given(&self.secret, &self.secret_file, "the secret")
    }

    /// The metrics token given, from its flag or its file.
    pub fn metrics_token(&self) -> Result<Option<String>> {
        given(
            &self.metrics_token,
            &self.metrics_token_file,
            "the metrics token",
        )
    }
}

/// A value given as itself or as a file holding it (never both: clap refuses that).
fn given(value: &Option<String>, file: &Option<PathBuf>, what: &str) -> Result<Option<String>> {
    match (value, file) {
        (Some(value), _) => Ok(Some(value.clone())),
        (None, Some(path)) => read_secret_file(path, what).map(Some),
        (None, None) => Ok(None),
    }
}

/// A secret file's content without its trailing newline (what `echo` and
/// editors leave); an empty one is refused rather than taken as "no secret".
pub fn read_secret_file(path: &Path, what: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {what} from {}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        bail!("{} is empty: it must hold {what}", path.display());
    }
    Ok(value.to_owned())
}

/// How long a client may take and how many connections it may hold, so that
/// no client can starve the others (see `crate::conn`).
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Seconds a client has to send a request's headers (0: no limit).
    #[arg(long, env = "LIBSETTE_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request, or a
    /// client leave an answer unread (0: no limit).
    #[arg(long, env = "LIBSETTE_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Seconds a client has to send a request's body, after its headers (0: no limit).
    #[arg(long, env = "LIBSETTE_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Open connections at most (default: what the descriptor limit leaves
    /// after the databases, at most 10,000); more are closed at once.
    #[arg(long, env = "LIBSETTE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C
    /// (0: no limit); connections still busy then are cut.
    #[arg(long, env = "LIBSETTE_SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
    /// Open connections at most from one client address (0: no limit).
    #[arg(
        long,
        env = "LIBSETTE_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: usize,
    /// A reverse proxy's address or range (CIDR), repeatable: requests
    /// from it are counted against the client address its
    /// X-Forwarded-For names (rate limits, login lockouts).
    #[arg(
        long = "trusted-proxy",
        env = "LIBSETTE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
