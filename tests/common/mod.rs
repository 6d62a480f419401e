//! Test harness: the real `libsette` binary serving a fresh temp data folder
//! on an ephemeral loopback port, its CLI, and a real HTTP client.
#![allow(dead_code)]

pub mod browser;
pub mod shop;
pub mod sqld;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_libsette");

/// Runs a CLI command on `data`; panics with its stderr when it fails.
/// The value of one series (`name{labels}`) in Prometheus text, 0 if absent.
pub fn metric(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |n| n.parse().unwrap())
}

pub fn cli(data: &Path, args: &[&str]) -> String {
    let output = cli_output(data, args);
    assert!(
        output.status.success(),
        "libsette {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a CLI command on `data` and returns whatever happened.
pub fn cli_output(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("LIBSETTE_DATA_DIR")
        .output()
        .expect("running libsette")
}

/// A running server; killed when dropped.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub base: String,
    child: Child,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts `libsette serve` on a new data folder (which gets the demo space).
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server::start_in(dir, extra)
    }

    /// Starts a server on an existing data folder.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let log = "warn,libsql=error,libsql_replication=error,tower_http=off";
        Server::spawn(dir, extra, log, Stdio::inherit())
    }

    /// Starts a server logging at `filter` to a pipe (not a terminal); its
    /// log's lines arrive on the receiver as they are written.
    pub fn start_logging(
        extra: &[&str],
        filter: &str,
    ) -> (Server, std::sync::mpsc::Receiver<String>) {
        let mut server = Server::spawn(tempfile::tempdir().unwrap(), extra, filter, Stdio::piped());
        let stderr = server.child.stderr.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                if send.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        (server, lines)
    }

    fn spawn(dir: tempfile::TempDir, extra: &[&str], log: &str, stderr: Stdio) -> Server {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(extra)
            .env("LIBSETTE_LOG", log)
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting libsette serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("serve printed nothing")
            .expect("reading serve's output");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_owned();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            dir,
            base: url,
            child,
            client: reqwest::Client::new(),
        }
    }

    /// Stops the server and hands back its data folder.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// The server process's id (to read its /proc entries).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, asking for a graceful stop, without waiting for it.
    pub fn terminate(&self) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
    }

    /// The server's exit status, if it exits within `limit`.
    pub fn exited_within(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.dir.path(), args)
    }

    /// Mints a token with the CLI.
    pub fn token(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        self.cli(&all).trim().to_owned()
    }

    /// Waits until files written now have settled, so that reads of them
    /// may be answered from the result cache (see `libsette::stamp`).
    pub async fn settle(&self) {
        tokio::time::sleep(libsette::stamp::SETTLE + std::time::Duration::from_millis(100)).await;
    }

    /// GET with an optional bearer token: status, headers and body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.get_with(path, token.map(|t| format!("Bearer {t}")).as_deref(), None)
            .await
    }

    /// GET with a raw Authorization header and an optional Host header.
    pub async fn get_with(
        &self,
        path: &str,
        authorization: Option<&str>,
        host: Option<&str>,
    ) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        if let Some(host) = host {
            request = request.header("Host", host);
        }
        let response = request.send().await.expect("request");
        Reply::read(response).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// POST a JSON body with an optional bearer token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.post_raw(path, token, &body.to_string(), "application/json")
            .await
    }

    /// POST a raw body with the given Content-Type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: &str,
        content_type: &str,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", content_type)
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Reply::read(request.send().await.expect("request")).await
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Names of the tables in a database JSON answer.
    pub fn table_names(&self) -> Vec<String> {
        self.json()["tables"]
            .as_array()
            .unwrap_or_else(|| panic!("no tables in {}", self.text))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}
