//! The tenant router: finds the space of a request (from the path, or from
//! the host under a spaces domain), resolves the actor, hides spaces the
//! actor may not see, and hands the parsed route to its handler.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::database;
use super::database::address::Address;
use super::edge::auth;
use super::render::shape;
use super::ui;
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
    /// The raw query string, and its arguments once parsed (private: the
    /// two change together, [`SpaceRequest::with_query`]).
    query: Option<String>,
    args: std::sync::OnceLock<crate::read::args::Args>,
    /// `scheme://host[:port]` for absolute URLs in answers, from configuration.
    pub origin: String,
    /// The request carried credentials (a bearer token or a cookie).
    pub credentialed: bool,
    /// The session, when the actor came from a session cookie.
    pub session: Option<crate::session::Session>,
    /// The message a form's redirect left for this page (`ui::flash`).
    pub flash: Option<&'static str>,
    /// The stamp of the database this request reads, once taken (by the
    /// result cache): the schema check reuses it rather than taking another.
    pub stamp: std::sync::OnceLock<(String, crate::stamp::Stamp)>,
    /// On a replicated node, the raw frame the request asked to read at
    /// least (header or `_min_frame`), checked when a replica is read.
    pub min_frame: Option<String>,
}

impl SpaceRequest {
    /// The raw query string.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The query's arguments, parsed on first use (several layers read them).
    pub fn args(&self) -> &crate::read::args::Args {
        self.args
            .get_or_init(|| crate::read::args::Args::parse(self.query.as_deref()))
    }

    /// This request with another query string.
    pub fn with_query(&self, query: String) -> SpaceRequest {
        SpaceRequest {
            query: Some(query),
            args: std::sync::OnceLock::new(),
            ..self.clone()
        }
    }

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

/// Under a spaces domain, `{space}.{domain}/x` becomes `/{space}/x` (before
/// routing); `None` when that is no path at all.
pub fn host_to_path(app: &App, mut request: Request) -> Option<Request> {
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
                return None;
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
    Some(request)
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
    let front_key = super::front::key(&app, &request);
    if let Some(key) = &front_key
        && let Some(response) = super::front::answer(&app, key, &request)
    {
        return response;
    }
    let mut seen = Seen {
        label: crate::http::edge::observe::RouteLabel("other"),
        csv: false,
    };
    // Parsed once here: errors are shaped by it, and `serve` runs it.
    let route = routes::split_space(request.uri().path()).and_then(|(_, rest)| routes::parse(rest));
    let page = wants_page(&request, route.as_ref());
    let replicated = app.data.replication().is_some();
    // Boxed (in place, see `pin_in_place`): the request's state machine is
    // several KB, and every layer above would otherwise copy it (profiled:
    // a tenth of an uncached read).
    let serving = crate::conn::pin_in_place(|| serve(app.clone(), request, route, &mut seen));
    let (served, read_at, basis) = match (replicated, front_key.is_some()) {
        (true, _) => {
            let (served, read_at) = crate::replica::framed(serving).await;
            (served, read_at, None)
        }
        (false, true) => {
            let (served, basis) =
                crate::catalog_cache::noting_basis(&app.catalog_watch, serving).await;
            (served, Default::default(), basis)
        }
        (false, false) => (serving.await, Default::default(), None),
    };
    let mut response = match served {
        Ok(response) => response,
        Err(err) if seen.csv => err.into_text_response(),
        Err(err) if page => crate::http::edge::error_page::render(err),
        Err(err) => err.into_response(),
    };
    response.extensions_mut().insert(seen.label);
    crate::replica::point::mark(&mut response, read_at);
    // Answers differ by credentials: shared caches must key on them.
    if !response.headers().contains_key(header::VARY) {
        response.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        );
    }
    if let Some(key) = front_key {
        super::front::remember(&app, key, basis, &response);
    }
    response
}

/// Whether errors of this request are answered as a page: its route is a
/// page, or (for paths that are no route) a browser asked for HTML.
fn wants_page(request: &Request, route: Option<&SpaceRoute>) -> bool {
    match route {
        Some(SpaceRoute::ExecuteWrite(_)) => {
            ui::execute::wants_page(request.method() == Method::POST, request.headers())
        }
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
    /// A CSV or Markdown route: errors are answered as plain text.
    csv: bool,
}

async fn serve(
    app: Arc<App>,
    request: Request,
    route: Option<SpaceRoute>,
    seen: &mut Seen,
) -> AppResult<Response> {
    let (request, body) = request.into_parts();
    let Some((space_name, rest)) = routes::split_space(request.uri.path()) else {
        return Err(AppError::NotFound("Not found"));
    };
    let (space, resolved) = visible_space(&app, &request.headers, space_name).await?;
    // After the visibility check: a 429 must not tell that a hidden space exists.
    super::edge::limits::check_rate(&app, &space, &resolved, &request.extensions)?;
    tracing::Span::current().record("space", space_name);
    let route = route.ok_or(AppError::NotFound("Not found"))?;
    seen.label = super::edge::observe::RouteLabel(route.template());
    seen.csv = matches!(
        route,
        SpaceRoute::Table(_, _, Format::Csv)
            | SpaceRoute::Query(_, Format::Csv)
            | SpaceRoute::Database(_, Format::Csv)
    ) || matches!(&route, SpaceRoute::Extra(extra) if extra.text_errors());
    let post = request.method == Method::POST;
    if !route.accepts(post) {
        return Err(AppError::MethodNotAllowed);
    }
    // A POST authenticated by a cookie must come from this site (CSRF).
    if post && resolved.session.is_some() {
        ui::check_origin(&request.headers)?;
    }
    let token_last_used = resolved.token_last_used;
    let req = space_request(app, space, resolved, &request, space_name);
    tracing::debug!(space = %req.space.space.name, route = route.template(), "space request");
    let (database, hashed) = match route.database() {
        Some(segment) => match database::address::address(&req, &route, segment, rest).await? {
            Address::Found(row, hashed) => (Some(row), hashed),
            Address::Redirect(response) => return Ok(response),
            Address::Missing => (None, false),
        },
        None => (None, false),
    };
    let mut response = routes::run(
        &req,
        &route,
        post,
        &request.headers,
        body,
        database.as_ref(),
    )
    .await?;
    ui::flash::shown(&req, &mut response);
    if route.reads_data() {
        let args = req.args();
        // A hashed URL's content can never change: cache it for a year.
        let ttl = if hashed {
            365 * 24 * 3600
        } else {
            req.space.settings.int("default_cache_ttl")
        };
        shape::cache_control(&mut response, args, ttl, req.credentialed);
    }
    super::front::note_caller(&mut response, &req, token_last_used);
    Ok(response)
}

/// The space named in the path with the request's actor, if the actor may
/// see it. The token is checked first: a bad token is a 401 whether or not
/// the space exists, so the answer reveals nothing about which spaces exist.
async fn visible_space(
    app: &App,
    headers: &HeaderMap,
    name: &str,
) -> AppResult<(Arc<SpaceInfo>, auth::Resolved)> {
    let resolved = auth::resolve(app, headers).await?;
    let space = app
        .space(name)
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
    Ok((space, resolved))
}

/// Everything the handlers need about the request.
fn space_request(
    app: Arc<App>,
    space: Arc<SpaceInfo>,
    resolved: auth::Resolved,
    request: &axum::http::request::Parts,
    space_name: &str,
) -> SpaceRequest {
    let base = request
        .extensions
        .get::<SpaceBase>()
        .map(|b| b.0.clone())
        .unwrap_or_else(|| format!("/{space_name}"));
    let origin = public_origin(&app, &space, base.is_empty());
    let credentialed = request.headers.contains_key(header::AUTHORIZATION)
        || request.headers.contains_key(header::COOKIE);
    SpaceRequest {
        app,
        space,
        actor: resolved.actor,
        query: request.uri.query().map(str::to_owned),
        args: std::sync::OnceLock::new(),
        origin,
        credentialed,
        base,
        session: resolved.session,
        flash: ui::flash::from_headers(&request.headers),
        stamp: std::sync::OnceLock::new(),
        min_frame: min_frame_asked(&request.headers, request.uri.query()),
    }
}

/// The frame a request asks to read at least, as sent (parsed when read).
fn min_frame_asked(headers: &axum::http::HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(value) = headers.get(crate::replica::point::MIN_FRAME_HEADER) {
        return Some(value.to_str().unwrap_or("-").to_owned());
    }
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "_min_frame")
        .map(|(_, value)| value.into_owned())
}

/// A redirect to a path of this server (never another host).
pub(crate) fn redirect(location: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
