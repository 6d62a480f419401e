//! sqld's admin API: creating, deleting and measuring namespaces. The
//! catalog decides which namespaces should exist (sqld cannot list them);
//! this only carries out what it decides.

use anyhow::{Context, Result, bail};
use hyper014::client::HttpConnector;
use hyper014::{Body, Client, Method, Request, StatusCode};

use super::{Namespace, SYNC_TIMEOUT};

/// A client of one sqld's admin listener.
#[derive(Clone)]
pub struct Admin {
    client: Client<HttpConnector>,
    base: String,
    /// `--admin-auth-key`, sent as sqld wants it: `Authorization: Basic KEY`.
    key: Option<String>,
}

impl Admin {
    pub fn new(base: &str, key: Option<String>) -> Admin {
        Admin {
            client: Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// Creates `ns`; one that already exists is fine (creating is how a
    /// node makes sure a namespace the catalog names is there).
    pub async fn create(&self, ns: &Namespace) -> Result<()> {
        let (status, body) = self
            .send(Method::POST, &format!("/v1/namespaces/{ns}/create"), "{}")
            .await?;
        if status.is_success() || body.contains("already exists") {
            return Ok(());
        }
        bail!("creating namespace {ns} on the primary: {status}: {body}")
    }

    /// Deletes `ns` with its data on the primary; a missing one is fine.
    pub async fn delete(&self, ns: &Namespace) -> Result<()> {
        let (status, body) = self
            .send(Method::DELETE, &format!("/v1/namespaces/{ns}"), "")
            .await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        bail!("deleting namespace {ns} on the primary: {status}: {body}")
    }

    /// The primary's current frame of `ns` (for the replication lag).
    pub async fn frame(&self, ns: &Namespace) -> Result<u64> {
        let (status, body) = self
            .send(Method::GET, &format!("/v1/namespaces/{ns}/stats"), "")
            .await?;
        if !status.is_success() {
            bail!("stats of namespace {ns}: {status}: {body}");
        }
        let stats: serde_json::Value =
            serde_json::from_str(&body).context("the primary's stats are not JSON")?;
        stats["replication_index"]
            .as_u64()
            .context("the primary's stats have no replication_index")
    }

    async fn send(&self, method: Method, path: &str, body: &str) -> Result<(StatusCode, String)> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(key) = &self.key {
            request = request.header("authorization", format!("Basic {key}"));
        }
        let request = request.body(Body::from(body.to_owned()))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let bytes = hyper014::body::to_bytes(response.into_body()).await?;
            anyhow::Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        tokio::time::timeout(SYNC_TIMEOUT, exchange)
            .await
            .context("the primary's admin API did not answer in time")?
            .context("the primary's admin API")
    }
}
