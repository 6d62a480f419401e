//! The server's shared state: the catalog, the tenant store, configuration
//! and the short-lived caches in front of the catalog.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::actor::Actor;
use crate::catalog::queries::{self, StoredQuery};
use crate::catalog::sessions::{self, SessionRecord};
use crate::catalog::tokens::TokenRecord;
use crate::catalog::{Catalog, DataDir, spaces, tokens};
use crate::catalog_cache::{CatalogCache, CatalogWatch};
use crate::permissions::{self, Resource};
use crate::settings::Settings;
use crate::tenant::TenantStore;

/// A token's last use is written at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Options of `libsette serve` that shape behaviour.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Instance-wide settings from `--setting`.
    pub settings: Settings,
    /// Answer with Datasette's CORS headers.
    pub cors: bool,
    /// `{space}.{spaces_domain}` hosts are routed to that space.
    pub spaces_domain: Option<String>,
    /// Where clients reach the server: absolute URLs in answers are built on
    /// it (or, under a spaces domain, on its scheme and port), never on a
    /// request's `Host`. `serve` defaults it to the bound address.
    pub public_url: crate::origin::Origin,
    /// Signs session cookies.
    pub secret: String,
    /// When set, `/metrics` requires `Authorization: Bearer` with this token.
    pub metrics_token: Option<String>,
    /// How many tenant databases may be open at once (0: a default).
    pub max_open_databases: u64,
    /// The result cache's size in bytes (0 keeps nothing).
    pub result_cache_bytes: u64,
}

fn once_a_minute() -> crate::cache::Moka<i64, ()> {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(TOUCH_EVERY)
        .build_with_hasher(crate::cache::CacheHasher::new())
}

/// A space as a request sees it: catalog row plus effective settings.
#[derive(Clone, Debug)]
pub struct SpaceInfo {
    pub space: spaces::Space,
    pub settings: Settings,
    /// Origins allowed cross-origin (`space set --cors-origin`); empty: `--cors` applies.
    pub cors_origins: Vec<String>,
    /// The space has stored queries: without any, `/{db}/{name}` is a table
    /// and no request needs to load the list (a first visit stays cheap).
    pub has_queries: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DecisionKey {
    space_id: i64,
    user_id: Option<i64>,
    token_id: Option<i64>,
    action: String,
    resource: Resource,
}

pub struct App {
    /// Where catalog and tenant files live.
    pub data: DataDir,
    /// The internal database.
    pub catalog: Catalog,
    /// Open tenant databases.
    pub tenants: TenantStore,
    /// Whole answers of reads, keyed by each database's file stamp.
    pub results: crate::cache::ResultCache,
    /// What `serve` was told.
    pub config: Config,
    /// Spaces by name (`None` remembers an unknown name).
    spaces: CatalogCache<String, Option<Arc<SpaceInfo>>>,
    /// Each space's databases.
    databases: CatalogCache<i64, Arc<Vec<crate::catalog::databases::DatabaseRow>>>,
    /// Tokens by SHA-256 of their secret (`None` remembers an unknown token).
    tokens: CatalogCache<Vec<u8>, Option<TokenRecord>>,
    /// Recent permission answers.
    decisions: CatalogCache<DecisionKey, bool>,
    /// Each space's stored queries.
    queries: CatalogCache<i64, Arc<Vec<StoredQuery>>>,
    /// Tokens whose last use was written recently.
    touched: crate::cache::Moka<i64, ()>,
    /// Tokens whose refusal was audited recently.
    refusals: crate::cache::Moka<i64, ()>,
    /// Failed logins by user name and client address.
    pub logins: crate::session::LoginLimiter,
    /// Login sessions by SHA-256 of their id (`None` remembers an unknown one).
    sessions: CatalogCache<Vec<u8>, Option<SessionRecord>>,
    /// Requests per minute per token, user and anonymous address.
    pub rate: crate::rate_limit::RateLimiter,
    /// Writes' audit rows, committed together.
    pub audit: crate::catalog::audit::Recorder,
    /// Tells whether the catalog answers a decision rests on still hold.
    pub catalog_watch: CatalogWatch,
    /// Cached answers found from the raw request (`crate::http::front`).
    pub front: crate::http::front::FrontIndex,
    /// Database files stamped through their directories held open (the
    /// result cache's and the front index's stamps).
    pub stamps: crate::stamp::Held,
}

impl App {
    pub fn new(data: DataDir, catalog: Catalog, config: Config) -> Arc<App> {
        let watch = CatalogWatch::start(data.catalog());
        let front = crate::http::front::FrontIndex::new(config.result_cache_bytes / 8);
        Arc::new(App {
            tenants: TenantStore::new(
                data.clone(),
                if config.max_open_databases == 0 {
                    1024
                } else {
                    config.max_open_databases
                },
                Duration::from_secs(300),
                config.settings.int("cache_size_kb"),
            ),
            results: crate::cache::ResultCache::new(
                config.result_cache_bytes,
                Duration::from_secs(300),
            ),
            data,
            catalog,
            config,
            spaces: CatalogCache::new("spaces", 100_000, &watch),
            databases: CatalogCache::new("databases", 100_000, &watch),
            tokens: CatalogCache::new("tokens", 100_000, &watch),
            decisions: CatalogCache::new("decisions", 400_000, &watch),
            queries: CatalogCache::new("queries", 100_000, &watch),
            touched: once_a_minute(),
            refusals: once_a_minute(),
            logins: Default::default(),
            sessions: CatalogCache::new("sessions", 100_000, &watch),
            rate: Default::default(),
            audit: Default::default(),
            front,
            stamps: Default::default(),
            catalog_watch: watch,
        })
    }

    /// The space named `name`, if it exists.
    pub async fn space(&self, name: &str) -> Result<Option<Arc<SpaceInfo>>> {
        // Looked up by the borrowed name first: every request of a space
        // asks (CORS, then the router), and a known one needs no copies.
        if let Some(known) = self.spaces.fresh(name) {
            return Ok(known);
        }
        let catalog = self.catalog.clone();
        let instance = self.config.settings.clone();
        let owned = name.to_owned();
        self.spaces
            .get_or_load(owned.clone(), async move {
                catalog
                    .lookup(move |conn| {
                        let Some(space) = spaces::find(conn, &owned)? else {
                            return Ok(None);
                        };
                        let pairs = spaces::settings(conn, space.id)?;
                        // Stored values were validated when set; a bad one falls back to defaults.
                        let own = Settings::from_pairs(
                            pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                        )
                        .unwrap_or_default();
                        Ok(Some(Arc::new(SpaceInfo {
                            settings: instance.overlay(&own),
                            cors_origins: spaces::cors_origins(conn, space.id)?,
                            has_queries: queries::any(conn, space.id)?,
                            space,
                        })))
                    })
                    .await
            })
            .await
    }

    /// The databases of a space, by name.
    pub async fn databases(
        &self,
        space_id: i64,
    ) -> Result<Arc<Vec<crate::catalog::databases::DatabaseRow>>> {
        let catalog = self.catalog.clone();
        self.databases
            .get_or_load(space_id, async move {
                catalog
                    .lookup(move |conn| {
                        crate::catalog::databases::list(conn, space_id).map(Arc::new)
                    })
                    .await
            })
            .await
    }

    /// The stored queries of a space, by database and name.
    pub async fn stored_queries(&self, space_id: i64) -> Result<Arc<Vec<StoredQuery>>> {
        let catalog = self.catalog.clone();
        self.queries
            .get_or_load(space_id, async move {
                catalog
                    .lookup(move |conn| queries::list(conn, space_id).map(Arc::new))
                    .await
            })
            .await
    }

    /// The stored query `name` of the database `db`, if there is one.
    pub async fn stored_query(
        &self,
        space_id: i64,
        db: &str,
        name: &str,
    ) -> Result<Option<StoredQuery>> {
        let all = self.stored_queries(space_id).await?;
        Ok(all
            .iter()
            .find(|q| q.database == db && q.name == name)
            .cloned())
    }

    /// Drops remembered queries and decisions after this process changed a
    /// stored query, so its next request sees the change (a private query's
    /// decisions included); other processes follow within a second.
    pub fn queries_changed(&self) {
        self.queries.forget_all();
        self.decisions.forget_all();
        self.spaces.forget_all();
    }

    /// The token whose secret hashes to `hash`, if it was looked up within
    /// the catalog cache's time (`Some(None)`: looked up and not found).
    pub fn known_token(&self, hash: &[u8]) -> Option<Option<TokenRecord>> {
        self.tokens.fresh(hash)
    }

    /// The token whose secret is `secret` (hashing to `hash`), whatever its state.
    pub async fn token(&self, secret: &str, hash: Vec<u8>) -> Result<Option<TokenRecord>> {
        let catalog = self.catalog.clone();
        let owned = secret.to_owned();
        self.tokens
            .get_or_load(hash, async move {
                catalog
                    .lookup(move |conn| tokens::find_by_secret(conn, &owned))
                    .await
            })
            .await
    }

    /// Whether a verified session cookie's server-side session is still live
    /// (not logged out, revoked or expired): known within a second everywhere.
    pub async fn session_is_live(&self, session: &crate::session::Session) -> Result<bool> {
        let catalog = self.catalog.clone();
        let id_hash = sessions::hash(&session.id);
        let record = self
            .sessions
            .get_or_load(id_hash.clone(), async move {
                catalog
                    .lookup(move |conn| sessions::find_by_hash(conn, &id_hash))
                    .await
            })
            .await?;
        Ok(record.is_some_and(|r| r.is_live(session.user_id, crate::catalog::unix_now())))
    }

    /// Drops remembered sessions after this process revoked some, so the
    /// revocation applies here at once (other nodes follow within a second).
    pub fn sessions_changed(&self) {
        self.sessions.forget_all();
    }

    /// Records that token `id` (last used at `last_used_at`, as the catalog
    /// had it) was used, at most once a minute, off the request path.
    pub fn touch_token(&self, id: i64, last_used_at: Option<i64>) {
        let now = crate::catalog::unix_now();
        let recent = last_used_at.is_some_and(|at| now - at < TOUCH_EVERY.as_secs() as i64);
        if recent || self.touched.contains_key(&id) {
            return;
        }
        self.touched.insert(id, ());
        let catalog = self.catalog.clone();
        tokio::spawn(async move {
            if let Err(err) = catalog.call(move |conn| tokens::touch(conn, id, now)).await {
                tracing::warn!(error = ?err, token = id, "recording token use failed");
            }
        });
    }

    /// True the first time a token is refused in a minute: later refusals go unaudited.
    pub fn first_refusal_in_a_while(&self, token_id: i64) -> bool {
        if self.refusals.contains_key(&token_id) {
            return false;
        }
        self.refusals.insert(token_id, ());
        true
    }

    /// May `actor` do `action` on `resource` in `space`? Answers are reused for up to a second.
    pub async fn allowed(
        &self,
        space_id: i64,
        actor: &Actor,
        action: &str,
        resource: Resource,
    ) -> Result<bool> {
        let key = DecisionKey {
            space_id,
            user_id: actor.user_id,
            token_id: actor.token.as_ref().map(|t| t.id),
            action: action.to_owned(),
            resource,
        };
        // Asked first: a hit, several a request, then copies nothing for the load.
        if let Some(allowed) = self.decisions.fresh(&key) {
            return Ok(allowed);
        }
        let catalog = self.catalog.clone();
        let actor = actor.clone();
        let (action, resource) = (key.action.clone(), key.resource.clone());
        self.decisions
            .get_or_load(key, async move {
                catalog
                    .lookup(move |conn| {
                        permissions::allowed(conn, space_id, &actor, &action, &resource)
                    })
                    .await
            })
            .await
    }

    /// Every resource of the action's level that `actor` may act on.
    pub async fn allowed_resources(
        &self,
        space_id: i64,
        actor: &Actor,
        action: &str,
    ) -> Result<Vec<Resource>> {
        let actor = actor.clone();
        let action = action.to_owned();
        self.catalog
            .call(move |conn| permissions::allowed_resources(conn, space_id, &actor, &action))
            .await
    }
}
