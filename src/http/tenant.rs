//! The tenant router: finds the space of a request (from the path, or from
//! the host under a spaces domain), resolves the actor, hides spaces the
//! actor may not see, and hands the parsed route to its handler.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::routes::{self, SpaceRoute};
use super::{auth, database, instance, query, row, schema, shape, space, table, ui};
use crate::actor::Actor;
use crate::app::{App, SpaceInfo};
use crate::error::{AppError, AppResult};
use crate::permissions::Resource;

/// The path prefix under which a space's URLs are written: `/{space}` when
/// routed by path, empty when routed by host.
#[derive(Clone, Debug)]
pub struct SpaceBase(pub String);

/// Everything a space endpoint needs about its request.
pub struct SpaceRequest {
    pub app: Arc<App>,
    pub space: Arc<SpaceInfo>,
    pub actor: Actor,
    /// Prefix for URLs written into answers.
    pub base: String,
    /// The raw query string.
    pub query: Option<String>,
    /// `scheme://host` of the request, for absolute URLs in answers.
    pub origin: String,
    /// The request carried credentials (a bearer token or a cookie).
    pub credentialed: bool,
    /// The session, when the actor came from a session cookie.
    pub session: Option<crate::session::Session>,
}

impl SpaceRequest {
    pub fn space_id(&self) -> i64 {
        self.space.space.id
    }

    /// The time limit of a read: `sql_time_limit_ms`, or a smaller `?_timelimit=`.
    pub fn time_limit(&self, args: &crate::read::args::Args) -> std::time::Duration {
        let setting = self.space.settings.int("sql_time_limit_ms");
        let custom = args.get("_timelimit").and_then(|t| t.parse::<u64>().ok());
        let ms = match custom {
            Some(c) if c < setting => c,
            _ => setting,
        };
        std::time::Duration::from_millis(ms.max(1))
    }

    /// An absolute URL for a path of this server.
    pub fn absolute_url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Checks `action` on `resource`, answering 403 with `message` when refused.
    pub async fn require(&self, action: &str, resource: Resource, message: &str) -> AppResult<()> {
        if self
            .app
            .allowed(self.space_id(), &self.actor, action, resource)
            .await?
        {
            Ok(())
        } else {
            Err(AppError::Forbidden(message.to_owned()))
        }
    }
}

/// Outer layer: under a spaces domain, `{space}.{domain}/x` becomes `/{space}/x`.
pub async fn host_to_path(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let space = app
        .config
        .spaces_domain
        .as_deref()
        .and_then(|domain| space_from_host(request.headers(), domain));
    match space {
        Some(space) => {
            let path_and_query = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            let Ok(uri) = format!("/{space}{path_and_query}").parse::<Uri>() else {
                return super::not_found();
            };
            *request.uri_mut() = uri;
            request.extensions_mut().insert(SpaceBase(String::new()));
        }
        None => {
            let base = routes::split_space(request.uri().path())
                .map(|(space, _)| format!("/{space}"))
                .unwrap_or_default();
            request.extensions_mut().insert(SpaceBase(base));
        }
    }
    next.run(request).await
}

/// `demo` from `Host: demo.example.com[:port]` when the domain is `example.com`.
fn space_from_host(headers: &HeaderMap, domain: &str) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    let label = host.to_ascii_lowercase();
    let label = label
        .strip_suffix(&domain.to_ascii_lowercase())?
        .strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_owned())
}

/// Every `/{space}/…` request lands here.
pub async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let mut label = super::observe::RouteLabel("other");
    let page = wants_page(&request);
    let mut response = match serve(app, request, &mut label).await {
        Ok(response) => response,
        Err(err) if page => err.into_html_response(),
        Err(err) => err.into_response(),
    };
    response.extensions_mut().insert(label);
    response
}

/// Whether errors of this request are answered as a page: its route is a
/// page, or (for paths that are no route) a browser asked for HTML.
fn wants_page(request: &Request) -> bool {
    let route = routes::split_space(request.uri().path()).and_then(|(_, rest)| routes::parse(rest));
    match route {
        Some(route) => route.is_page(),
        None => request
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html")),
    }
}

async fn serve(
    app: Arc<App>,
    request: Request,
    label: &mut super::observe::RouteLabel,
) -> AppResult<Response> {
    let (request, body) = request.into_parts();
    let request = axum::http::Request::from_parts(request, ());
    let Some((space_name, rest)) = routes::split_space(request.uri().path()) else {
        return Err(AppError::NotFound("Not found"));
    };
    // The token first: a bad token is a 401 whether or not the space exists,
    // so the answer reveals nothing about which spaces exist.
    let resolved = auth::resolve(&app, request.headers()).await?;
    let space = app
        .space(space_name)
        .await?
        .ok_or_else(AppError::space_not_found)?;
    if resolved.token_space.is_some_and(|id| id != space.space.id) {
        return Err(AppError::space_not_found());
    }
    let visible = app
        .allowed(
            space.space.id,
            &resolved.actor.unrestricted(),
            "view-instance",
            Resource::Space,
        )
        .await?;
    if !visible {
        return Err(AppError::space_not_found());
    }
    let route = routes::parse(rest).ok_or(AppError::NotFound("Not found"))?;
    *label = super::observe::RouteLabel(route.template());
    let base = request
        .extensions()
        .get::<SpaceBase>()
        .map(|b| b.0.clone())
        .unwrap_or_else(|| format!("/{space_name}"));
    let scheme = if space.settings.flag("force_https_urls") {
        "https"
    } else {
        "http"
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let credentialed = request.headers().contains_key(header::AUTHORIZATION)
        || request.headers().contains_key(header::COOKIE);
    let method = request.method().clone();
    let is_post = method == Method::POST;
    if !route.accepts(is_post) {
        return Err(AppError::MethodNotAllowed);
    }
    // A POST authenticated by a cookie must come from this site (CSRF).
    if is_post && resolved.session.is_some() {
        ui::check_origin(request.headers())?;
    }
    let req = SpaceRequest {
        app,
        space,
        actor: resolved.actor,
        query: request.uri().query().map(str::to_owned),
        origin: format!("{scheme}://{host}"),
        credentialed,
        base,
        session: resolved.session,
    };
    tracing::debug!(space = %req.space.space.name, route = route.template(), "space request");
    let mut response = match &route {
        SpaceRoute::Index(format) => space::index(&req, *format).await,
        SpaceRoute::Databases => space::databases(&req).await,
        SpaceRoute::Actor => instance::actor(&req),
        SpaceRoute::Versions => instance::versions(&req).await,
        SpaceRoute::Settings => instance::settings(&req),
        SpaceRoute::Database(name, format) => database::show(&req, name, *format).await,
        SpaceRoute::Query(db, format) => query::show(&req, db, *format).await,
        SpaceRoute::DatabaseSchema(db) => schema::database(&req, db).await,
        SpaceRoute::Table(db, table, format) => table::show(&req, db, table, *format).await,
        SpaceRoute::TableSchema(db, table) => schema::table(&req, db, table).await,
        SpaceRoute::TableCount(db, table) => schema::count(&req, db, table).await,
        SpaceRoute::Row(db, table, key, format) => row::show(&req, db, table, key, *format).await,
        SpaceRoute::Redirect(location, status) => {
            Ok(redirect(&format!("{}{location}", req.base), *status))
        }
        SpaceRoute::Tokens if is_post => ui::tokens::create(&req, body).await,
        SpaceRoute::Tokens => ui::tokens::page(&req).await,
        SpaceRoute::TokenRevoke(id) => ui::tokens::revoke(&req, *id, body).await,
        SpaceRoute::Members if is_post => ui::members::change(&req, body).await,
        SpaceRoute::Members => ui::members::page(&req).await,
        SpaceRoute::ApiTokens if is_post => super::api_tokens::create(&req, body).await,
        SpaceRoute::ApiTokens => super::api_tokens::list(&req).await,
        SpaceRoute::ApiTokenRevoke(id) => super::api_tokens::revoke(&req, *id).await,
    }?;
    if matches!(
        route,
        SpaceRoute::Table(..)
            | SpaceRoute::Row(..)
            | SpaceRoute::Query(..)
            | SpaceRoute::Database(..)
    ) {
        let args = crate::read::args::Args::parse(req.query.as_deref());
        let ttl = req.space.settings.int("default_cache_ttl");
        shape::cache_control(&mut response, &args, ttl, req.credentialed);
    }
    Ok(response)
}

/// A redirect to a path of this server (never another host).
fn redirect(location: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
