//! The tenant router: finds the space of a request (from the path, or from
//! the host under a spaces domain), resolves the actor, hides spaces the
//! actor may not see, and hands the parsed route to its handler.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::database::{self, schema};
use super::edge::auth;
use super::meta::{audit, instance, space};
use super::render::shape;
use super::write::{self, create as write_schema, execute as execute_write};
use super::{cached, query, row, table, ui};
use crate::actor::Actor;
use crate::app::{App, SpaceInfo};
use crate::error::{AppError, AppResult};
use crate::http::routes::{self, Format, SpaceRoute};
use crate::permissions::Resource;

/// The path prefix under which a space's URLs are written: `/{space}` when
/// routed by path, empty when routed by host.
#[derive(Clone, Debug)]
pub struct SpaceBase(pub String);

/// Everything a space endpoint needs about its request.
#[derive(Clone)]
pub struct SpaceRequest {
    pub app: Arc<App>,
    pub space: Arc<SpaceInfo>,
    pub actor: Actor,
    /// Prefix for URLs written into answers.
    pub base: String,
    /// The raw query string.
    pub query: Option<String>,
    /// `scheme://host[:port]` for absolute URLs in answers, from configuration.
    pub origin: String,
    /// The request carried credentials (a bearer token or a cookie).
    pub credentialed: bool,
    /// The session, when the actor came from a session cookie.
    pub session: Option<crate::session::Session>,
    /// The stamp of the database this request reads, once taken (by the
    /// result cache): the schema check reuses it rather than taking another.
    pub stamp: std::sync::OnceLock<(String, crate::stamp::Stamp)>,
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
                return crate::http::not_found();
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

/// `scheme://host[:port]` for absolute URLs in answers: from configuration
/// only, so no `Host` or `X-Forwarded-*` header can change what a cached
/// answer tells the next reader. A space reached by its own host under the
/// spaces domain gets `{space}.{domain}` with the public URL's scheme and port.
fn public_origin(app: &App, space: &SpaceInfo, host_routed: bool) -> String {
    let force_https = space.settings.flag("force_https_urls");
    let public = &app.config.public_url;
    match app.config.spaces_domain.as_deref() {
        Some(domain) if host_routed => public
            .for_space(&space.space.name, domain)
            .with_scheme(force_https),
        _ => public.with_scheme(force_https),
    }
}

/// Every `/{space}/…` request lands here.
pub async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let mut seen = Seen {
        label: crate::http::edge::observe::RouteLabel("other"),
        csv: false,
    };
    let page = wants_page(&request);
    let mut response = match serve(app, request, &mut seen).await {
        Ok(response) => response,
        Err(err) if seen.csv => err.into_text_response(),
        Err(err) if page => err.into_html_response(),
        Err(err) => err.into_response(),
    };
    response.extensions_mut().insert(seen.label);
    // Answers differ by credentials: shared caches must key on them.
    if !response.headers().contains_key(header::VARY) {
        response.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        );
    }
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

/// What the router learned about a request, for shaping its answer.
struct Seen {
    label: crate::http::edge::observe::RouteLabel,
    /// A CSV route: errors are answered as plain text.
    csv: bool,
}

async fn serve(app: Arc<App>, request: Request, seen: &mut Seen) -> AppResult<Response> {
    let (request, body) = request.into_parts();
    let Some((space_name, rest)) = routes::split_space(request.uri.path()) else {
        return Err(AppError::NotFound("Not found"));
    };
    // The token first: a bad token is a 401 whether or not the space exists,
    // so the answer reveals nothing about which spaces exist.
    let resolved = auth::resolve(&app, &request.headers).await?;
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
    // After the visibility check: a 429 must not tell that a hidden space exists.
    crate::http::edge::limits::check_rate(&app, &space, &resolved, &request.extensions)?;
    tracing::Span::current().record("space", space_name);
    let route = routes::parse(rest).ok_or(AppError::NotFound("Not found"))?;
    seen.label = crate::http::edge::observe::RouteLabel(route.template());
    seen.csv = matches!(
        route,
        SpaceRoute::Table(_, _, Format::Csv)
            | SpaceRoute::Query(_, Format::Csv)
            | SpaceRoute::Database(_, Format::Csv)
    );
    let base = request
        .extensions
        .get::<SpaceBase>()
        .map(|b| b.0.clone())
        .unwrap_or_else(|| format!("/{space_name}"));
    let origin = public_origin(&app, &space, base.is_empty());
    let credentialed = request.headers.contains_key(header::AUTHORIZATION)
        || request.headers.contains_key(header::COOKIE);
    let method = request.method.clone();
    let is_post = method == Method::POST;
    if !route.accepts(is_post) {
        return Err(AppError::MethodNotAllowed);
    }
    // A POST authenticated by a cookie must come from this site (CSRF).
    if is_post && resolved.session.is_some() {
        ui::check_origin(&request.headers)?;
    }
    let req = SpaceRequest {
        app,
        space,
        actor: resolved.actor,
        query: request.uri.query().map(str::to_owned),
        origin,
        credentialed,
        base,
        session: resolved.session,
        stamp: std::sync::OnceLock::new(),
    };
    tracing::debug!(space = %req.space.space.name, route = route.template(), "space request");
    // Immutable databases live under `/{db}-{hash}`: other names redirect there.
    let mut hashed = false;
    let mut named = None;
    if let Some(segment) = route.database() {
        let found = database::find_database(&req, segment).await?;
        let writes = route.writes();
        if writes
            && let Some(database::Addressed::Plain(row) | database::Addressed::Hashed { row, .. }) =
                &found
            && row.immutable_hash.is_some()
        {
            return Err(AppError::Forbidden("Database is immutable".into()));
        }
        match found {
            Some(database::Addressed::Hashed { current: true, .. }) => hashed = true,
            Some(database::Addressed::Plain(row))
            | Some(database::Addressed::Hashed {
                row,
                current: false,
            }) if row.immutable_hash.is_some() => {
                let hash = row.immutable_hash.as_deref().unwrap_or_default();
                let after = rest
                    .strip_prefix('/')
                    .and_then(|r| r.find('/').map(|i| &r[i..]));
                let suffix = match (after, &route) {
                    (Some(after), _) => after.to_owned(),
                    (None, SpaceRoute::Database(_, Format::Json)) => ".json".to_owned(),
                    (None, SpaceRoute::Database(_, Format::Csv)) => ".csv".to_owned(),
                    (None, _) => String::new(),
                };
                let query = req
                    .query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                let location = format!("{}/{}-{hash}{suffix}{query}", req.base, row.name);
                return Ok(redirect(&location, 302));
            }
            _ => {}
        }
        named = found.map(|found| match found {
            database::Addressed::Plain(row) | database::Addressed::Hashed { row, .. } => row,
        });
    }
    let write_body = |body| write::Body::new(body, &request.headers, &req.space.settings);
    let mut response = match &route {
        SpaceRoute::Create(db) => write_schema::create(&req, db, write_body(body)).await?,
        SpaceRoute::ExecuteWrite(db) => execute_write::execute(&req, db, write_body(body)).await?,
        SpaceRoute::TableWrite(db, table, action) => {
            write::table(&req, db, table, *action, write_body(body)).await?
        }
        SpaceRoute::RowWrite(db, table, key, action) => {
            write::row(&req, db, table, key, *action, write_body(body)).await?
        }
        // The web UI's forms and the tokens API.
        SpaceRoute::Tokens if is_post => ui::tokens::create(&req, body).await?,
        SpaceRoute::Tokens => ui::tokens::page(&req).await?,
        SpaceRoute::TokenRevoke(id) => ui::tokens::revoke(&req, *id, body).await?,
        SpaceRoute::Members if is_post => ui::members::change(&req, body).await?,
        SpaceRoute::Members => ui::members::page(&req).await?,
        SpaceRoute::ApiTokens if is_post => {
            crate::http::meta::api_tokens::create(&req, body).await?
        }
        SpaceRoute::ApiTokens => crate::http::meta::api_tokens::list(&req).await?,
        SpaceRoute::ApiTokenRevoke(id) => crate::http::meta::api_tokens::revoke(&req, *id).await?,
        // Reads, possibly answered from the result cache.
        _ if tracing_sql(&req) => {
            let trace = crate::read::trace::Trace::default();
            let response = trace.collect(dispatch(&req, &route)).await?;
            with_trace(response, &trace).await
        }
        _ => cached::serve(&req, &route, named.as_ref(), &request.headers).await?,
    };
    if matches!(
        route,
        SpaceRoute::Table(..)
            | SpaceRoute::Row(..)
            | SpaceRoute::Query(..)
            | SpaceRoute::Database(..)
    ) {
        let args = crate::read::args::Args::parse(req.query.as_deref());
        // A hashed URL's content can never change: cache it for a year.
        let ttl = if hashed {
            365 * 24 * 3600
        } else {
            req.space.settings.int("default_cache_ttl")
        };
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

/// Runs the handler of a parsed route.
pub async fn dispatch(req: &SpaceRequest, route: &SpaceRoute) -> AppResult<Response> {
    match route {
        SpaceRoute::Index(format) => space::index(req, *format).await,
        SpaceRoute::Databases => space::databases(req).await,
        SpaceRoute::Actor => instance::actor(req),
        SpaceRoute::Versions => instance::versions(req).await,
        SpaceRoute::Settings => instance::settings(req),
        SpaceRoute::Threads => instance::threads(req).await,
        SpaceRoute::Database(name, format) => database::show(req, name, *format).await,
        SpaceRoute::Query(db, format) => query::show(req, db, *format).await,
        SpaceRoute::DatabaseSchema(db) => schema::database(req, db).await,
        SpaceRoute::Table(db, table, format) => table::show(req, db, table, *format).await,
        SpaceRoute::TableSchema(db, table) => schema::table(req, db, table).await,
        SpaceRoute::TableCount(db, table) => schema::count(req, db, table).await,
        SpaceRoute::Row(db, table, key, format) => row::show(req, db, table, key, *format).await,
        SpaceRoute::Audit => audit::show(req).await,
        SpaceRoute::Create(..)
        | SpaceRoute::ExecuteWrite(..)
        | SpaceRoute::TableWrite(..)
        | SpaceRoute::RowWrite(..)
        | SpaceRoute::Tokens
        | SpaceRoute::TokenRevoke(_)
        | SpaceRoute::Members
        | SpaceRoute::ApiTokens
        | SpaceRoute::ApiTokenRevoke(_) => Err(AppError::MethodNotAllowed),
        SpaceRoute::Redirect(location, status) => {
            // The target comes from the path: it must stay a path of this server.
            let location = format!("{}{location}", req.base);
            let location = crate::http::ui::redirect::same_origin_path(&location)
                .map_or_else(|| format!("{}/", req.base), str::to_owned);
            Ok(redirect(&location, *status))
        }
    }
}

/// `?_trace=1` with the `trace_debug` setting on.
fn tracing_sql(req: &SpaceRequest) -> bool {
    req.space.settings.flag("trace_debug")
        && crate::read::args::Args::parse(req.query.as_deref())
            .get("_trace")
            .is_some_and(|v| !v.is_empty() && v != "0")
}

/// Adds the statements run to a JSON object answer, as `_trace`.
async fn with_trace(response: Response, trace: &crate::read::trace::Trace) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("_trace".into(), trace.to_json());
            let mut response = Response::from_parts(
                parts,
                axum::body::Body::from(serde_json::Value::Object(map).to_string()),
            );
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        _ => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}
