//! What `libsette serve` is told: its flags and their environment variables.
//! Here, below both, so the command line and the server share them without
//! importing each other.

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
    /// Require this bearer token on /metrics (otherwise only loopback clients may read it).
    #[arg(long, env = "LIBSETTE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Log lines as text or JSON.
    #[arg(long, env = "LIBSETTE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Memory for cached answers, in MB (0 turns the result cache off).
    #[arg(long, env = "LIBSETTE_RESULT_CACHE_MB", default_value_t = 64)]
    pub result_cache_mb: u64,
    #[command(flatten)]
    pub connections: ConnectionArgs,
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
    /// Open connections at most from one client address (0: no limit).
    #[arg(
        long,
        env = "LIBSETTE_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
