//! The URL table of a space: what `/{space}/…` paths mean, as Datasette's
//! URL grammar has them. Parsed here once, so handlers never see raw path
//! strings. (axum's router cannot capture a `.json` suffix, and Datasette's
//! grammar needs the split anyway.) Names are percent-decoded, then
//! tilde-decoded; database names are checked by their handler.

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::database::schema;
use super::meta::{api_tokens, audit, instance, space};
use super::tenant::{SpaceRequest, redirect};
use super::{cached, database, query, row, table, ui, write};
use crate::catalog::databases::DatabaseRow;
use crate::error::{AppError, AppResult};
use crate::names::tilde_decode;

mod about;
mod extra;
pub use extra::Extra;

/// How an answer is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    Csv,
}

/// One endpoint of a space, with its parsed parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpaceRoute {
    /// `/`, `/.json`: the space's databases and their tables.
    Index(Format),
    /// `/-/databases.json`
    Databases,
    /// `/-/actor.json`
    Actor,
    /// `/-/versions.json`
    Versions,
    /// `/-/settings.json`
    Settings,
    /// `/-/threads.json` (owners: the runtime's workers and tasks)
    Threads,
    /// `/{db}`, `/{db}.json` (with `?sql=`, the query itself).
    Database(String, Format),
    /// `/{db}/-/query`, `.json`, `.csv`
    Query(String, Format),
    /// `/{db}/-/schema.json`
    DatabaseSchema(String),
    /// `/{db}/{table}`, `.json`, `.csv`
    Table(String, String, Format),
    /// `/{db}/{table}/-/schema.json`
    TableSchema(String, String),
    /// `POST /{db}/{table}/-/count`
    TableCount(String, String),
    /// `/{db}/{table}/{pk,…}`, `.json`
    Row(String, String, Vec<String>, Format),
    /// A path Datasette answers with a redirect: (location under the space, status).
    Redirect(String, u16),
    /// `/-/audit.json`: the space's audit log (owners only).
    Audit,
    /// `POST /{db}/-/create`
    Create(String),
    /// `POST /{db}/-/execute-write` (a browser's GET and form POST: the page)
    ExecuteWrite(String),
    /// The row forms of the UI: `/{db}/{table}/-/insert-row` (no key),
    /// `/{db}/{table}/{pk}/-/edit`, `/{db}/{table}/{pk}/-/delete-row`.
    RowForm(String, String, Vec<String>, RowForm),
    /// The table forms of the UI: `/{db}/-/create-table` (no table),
    /// `/{db}/{table}/-/alter-table`, `/{db}/{table}/-/drop-table`.
    TableForm(String, Option<String>, TableForm),
    /// `POST /{db}/{table}/-/insert`, `/-/upsert`, `/-/alter`, `/-/drop`
    TableWrite(String, String, TableWrite),
    /// `POST /{db}/{table}/{pk,…}/-/update`, `/-/delete`
    RowWrite(String, String, Vec<String>, RowWrite),
    /// `/-/tokens`: the API tokens page (GET), creating a token (POST).
    Tokens,
    /// `POST /-/tokens/{id}/revoke`
    TokenRevoke(i64),
    /// `/-/members`: the members page (GET), changing members (POST).
    Members,
    /// `/-/api`: the API explorer page.
    ApiExplorer,
    /// `/-/api/tokens`: list (GET) and create (POST) tokens as JSON.
    ApiTokens,
    /// `POST /-/api/tokens/{id}/revoke`
    ApiTokenRevoke(i64),
    /// `/-/queries`, `.json` (db `None`: every database of the space) and
    /// `/{db}/-/queries`, `.json`: stored queries the actor may view.
    QueryList(Option<String>, Format),
    /// `POST /{db}/-/queries/store`
    QueryStore(String),
    /// `/{db}/{query}/-/definition`, `POST …/-/update`, `POST …/-/delete`.
    /// (A stored query runs at `/{db}/{query}`: see `Table`.)
    StoredQuery(String, String, QueryAction),
    /// Permission debugging, schemas as Markdown, config, jump, the download
    /// and the helpers Datasette's pages call (`routes/extra.rs`).
    Extra(Extra),
}

/// What a stored query's own endpoints do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryAction {
    Definition,
    Update,
    Delete,
}

/// A write to a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableWrite {
    Insert,
    Upsert,
    Alter,
    Drop,
}

/// What a row form of the UI does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowForm {
    Insert,
    Edit,
    Delete,
}

/// What a table form of the UI does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableForm {
    Create,
    Alter,
    Drop,
    /// `/{db}/-/upload`, `/{db}/{table}/-/upload`
    Upload,
}

/// A write to one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowWrite {
    Update,
    Delete,
}

/// Runs the handler of a route. Writes, forms and the tokens API take the
/// body; every read goes through [`cached::serve`], which calls [`read`] on
/// a miss. `database` is the database the route names, as the router found it.
/// Boxed for the reason [`read`] is.
pub fn run<'a>(
    req: &'a SpaceRequest,
    route: &'a SpaceRoute,
    post: bool,
    headers: &'a HeaderMap,
    body: Body,
    database: Option<&'a DatabaseRow>,
) -> futures::future::BoxFuture<'a, AppResult<Response>> {
    crate::conn::pin_in_place(|| run_unboxed(req, route, post, headers, body, database))
}

async fn run_unboxed(
    req: &SpaceRequest,
    route: &SpaceRoute,
    post: bool,
    headers: &HeaderMap,
    body: Body,
    database: Option<&DatabaseRow>,
) -> AppResult<Response> {
    let payload = |body| write::Body::new(body, headers, &req.space.settings);
    // `/{db}/{name}` names a stored query when no table or view has that name.
    if let SpaceRoute::Table(_, name, format) = route
        && let Some(found) = query::stored_run::find(req, database, name).await?
    {
        return query::stored_run::run(req, found, *format, post, headers, payload(body)).await;
    }
    match route {
        SpaceRoute::Create(db) => write::create::create(req, db, payload(body)).await,
        SpaceRoute::ExecuteWrite(db) if ui::execute::wants_page(post, headers) => {
            ui::execute::page(req, db, post, body).await
        }
        SpaceRoute::ExecuteWrite(db) => write::execute::execute(req, db, payload(body)).await,
        SpaceRoute::RowForm(db, table, key, form) => {
            ui::rows::form(req, db, table, key, *form, post, body).await
        }
        SpaceRoute::TableForm(db, table, TableForm::Upload) => {
            ui::upload::form(req, db, table.as_deref(), post, headers, body).await
        }
        SpaceRoute::TableForm(db, table, form) => {
            ui::tables::form(req, db, table.as_deref(), *form, post, body).await
        }
        SpaceRoute::TableWrite(db, table, action) => {
            write::table(req, db, table, *action, payload(body)).await
        }
        SpaceRoute::RowWrite(db, table, key, action) => {
            write::row(req, db, table, key, *action, payload(body)).await
        }
        SpaceRoute::ApiExplorer => ui::explorer::page(req).await,
        SpaceRoute::Tokens if post => ui::tokens::create(req, body).await,
        SpaceRoute::Tokens => ui::tokens::page(req).await,
        SpaceRoute::TokenRevoke(id) => ui::tokens::revoke(req, *id, body).await,
        SpaceRoute::Members if post => ui::members::change(req, body).await,
        SpaceRoute::Members => ui::members::page(req).await,
        SpaceRoute::ApiTokens if post => api_tokens::create(req, body).await,
        SpaceRoute::ApiTokens => api_tokens::list(req).await,
        SpaceRoute::ApiTokenRevoke(id) => api_tokens::revoke(req, *id).await,
        SpaceRoute::Table(..) if post => Err(AppError::MethodNotAllowed),
        SpaceRoute::QueryStore(db) => query::stored::store(req, db, payload(body)).await,
        SpaceRoute::StoredQuery(db, name, action) if post => {
            query::stored::change(req, db, name, *action, payload(body)).await
        }
        SpaceRoute::Extra(Extra::Download(db)) => database::download::show(req, db, headers).await,
        _ => cached::serve(req, route, database, headers).await,
    }
}

/// The handler of each read route, boxed: its state machine is the largest
/// of every handler's, and each caller and layer above would otherwise hold
/// (and move) a copy of it (issue 17's profile: a fifth of a cached hit).
pub fn read<'a>(
    req: &'a SpaceRequest,
    route: &'a SpaceRoute,
) -> futures::future::BoxFuture<'a, AppResult<Response>> {
    crate::conn::pin_in_place(|| read_unboxed(req, route))
}

async fn read_unboxed(req: &SpaceRequest, route: &SpaceRoute) -> AppResult<Response> {
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
        SpaceRoute::QueryList(db, format) => {
            query::stored_list::show(req, db.as_deref(), *format).await
        }
        SpaceRoute::StoredQuery(db, name, _) => query::stored::definition(req, db, name).await,
        SpaceRoute::Extra(extra) => extra::read(req, extra).await,
        SpaceRoute::Redirect(location, status) => {
            // The target comes from the path: it must stay a path of this server.
            let location = format!("{}{location}", req.base);
            let location = ui::redirect::same_origin_path(&location)
                .map_or_else(|| format!("{}/", req.base), str::to_owned);
            Ok(redirect(&location, *status))
        }
        // Routes with a body, and forms, never reach here (see `run`).
        SpaceRoute::Create(..)
        | SpaceRoute::ExecuteWrite(..)
        | SpaceRoute::TableWrite(..)
        | SpaceRoute::RowWrite(..)
        | SpaceRoute::RowForm(..)
        | SpaceRoute::TableForm(..)
        | SpaceRoute::Tokens
        | SpaceRoute::ApiExplorer
        | SpaceRoute::TokenRevoke(_)
        | SpaceRoute::Members
        | SpaceRoute::ApiTokens
        | SpaceRoute::ApiTokenRevoke(_)
        | SpaceRoute::QueryStore(_) => Err(AppError::MethodNotAllowed),
    }
}

/// `name.json` → (`name`, Json); `name.csv` → (`name`, Csv); else Html.
pub(super) fn split_format(segment: &str) -> (&str, Format) {
    if let Some(name) = segment.strip_suffix(".json") {
        (name, Format::Json)
    } else if let Some(name) = segment.strip_suffix(".csv") {
        (name, Format::Csv)
    } else {
        (segment, Format::Html)
    }
}

pub(super) fn decode_name(raw: &str) -> Option<String> {
    let text = percent_decode_str(raw).decode_utf8().ok()?;
    tilde_decode(&text)
}

/// Parses the part of the path after `/{space}`; `None` is a 404.
pub fn parse(rest: &str) -> Option<SpaceRoute> {
    if let Some(route) = fixed(rest) {
        return Some(route);
    }
    if let Some(extra) = extra::parse(rest) {
        return Some(SpaceRoute::Extra(extra));
    }
    let path = rest.strip_prefix('/')?;
    // `//host/…` must never become a redirect off-site: Datasette answers
    // `//example.com/` with a relative `/example.com`.
    if let Some(stripped) = path.strip_prefix('/') {
        let target = stripped.trim_start_matches('/').trim_end_matches('/');
        if !target.contains('/') && !target.is_empty() {
            return Some(SpaceRoute::Redirect(format!("/{target}"), 302));
        }
        return None;
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["-", "tokens", id, "revoke"] => Some(SpaceRoute::TokenRevoke(id.parse().ok()?)),
        ["-", "api", "tokens", id, "revoke"] => Some(SpaceRoute::ApiTokenRevoke(id.parse().ok()?)),
        [db, "-", "queries", "store"] if !db.starts_with('-') => {
            Some(SpaceRoute::QueryStore(decode_name(db)?))
        }
        [db] if !db.starts_with('-') && !db.is_empty() => {
            let (name, format) = split_format(db);
            Some(SpaceRoute::Database(decode_name(name)?, format))
        }
        [db, "-", endpoint] if !db.starts_with('-') => database_endpoint(db, endpoint),
        [db, table] if !db.starts_with('-') && !table.is_empty() => {
            let (name, format) = split_format(table);
            Some(SpaceRoute::Table(
                decode_name(db)?,
                decode_name(name)?,
                format,
            ))
        }
        [db, table, "-", endpoint] if !db.starts_with('-') => table_endpoint(db, table, endpoint),
        [db, table, pk, "-", endpoint] if !db.starts_with('-') && !pk.is_empty() => {
            row_endpoint(db, table, pk, endpoint)
        }
        [db, table, pk] if !db.starts_with('-') && !pk.is_empty() && *pk != "-" => {
            let (pk, format) = split_format(pk);
            Some(SpaceRoute::Row(
                decode_name(db)?,
                decode_name(table)?,
                row_key(pk)?,
                format,
            ))
        }
        _ => None,
    }
}

/// The space's own paths, which no database name can shadow.
fn fixed(rest: &str) -> Option<SpaceRoute> {
    Some(match rest {
        "" | "/" => SpaceRoute::Index(Format::Html),
        "/.json" => SpaceRoute::Index(Format::Json),
        "/-" => SpaceRoute::Redirect("/-/".into(), 301),
        "/-/databases.json" => SpaceRoute::Databases,
        "/-/actor.json" => SpaceRoute::Actor,
        "/-/versions.json" => SpaceRoute::Versions,
        "/-/settings.json" => SpaceRoute::Settings,
        "/-/threads.json" => SpaceRoute::Threads,
        "/-/audit.json" => SpaceRoute::Audit,
        "/-/tokens" => SpaceRoute::Tokens,
        "/-/api" => SpaceRoute::ApiExplorer,
        "/-/members" => SpaceRoute::Members,
        "/-/api/tokens" => SpaceRoute::ApiTokens,
        "/-/queries" => SpaceRoute::QueryList(None, Format::Html),
        "/-/queries.json" => SpaceRoute::QueryList(None, Format::Json),
        _ => return None,
    })
}

/// `/{db}/-/{endpoint}`
fn database_endpoint(db: &str, endpoint: &str) -> Option<SpaceRoute> {
    let db = decode_name(db)?;
    match split_format(endpoint) {
        ("query", format) => Some(SpaceRoute::Query(db, format)),
        ("schema", Format::Json) => Some(SpaceRoute::DatabaseSchema(db)),
        ("create", Format::Html) => Some(SpaceRoute::Create(db)),
        ("execute-write", Format::Html) => Some(SpaceRoute::ExecuteWrite(db)),
        ("create-table", Format::Html) => Some(SpaceRoute::TableForm(db, None, TableForm::Create)),
        ("upload", Format::Html) => Some(SpaceRoute::TableForm(db, None, TableForm::Upload)),
        ("queries", format @ (Format::Html | Format::Json)) => {
            Some(SpaceRoute::QueryList(Some(db), format))
        }
        _ => None,
    }
}

/// `/{db}/{table}/-/{endpoint}`
fn table_endpoint(db: &str, table: &str, endpoint: &str) -> Option<SpaceRoute> {
    let (db, table) = (decode_name(db)?, decode_name(table)?);
    let write = |action| Some(SpaceRoute::TableWrite(db.clone(), table.clone(), action));
    let stored = |action| Some(SpaceRoute::StoredQuery(db.clone(), table.clone(), action));
    let form = |form| Some(SpaceRoute::TableForm(db.clone(), Some(table.clone()), form));
    match endpoint {
        "schema.json" => Some(SpaceRoute::TableSchema(db, table)),
        "count" => Some(SpaceRoute::TableCount(db, table)),
        "insert" => write(TableWrite::Insert),
        "upsert" => write(TableWrite::Upsert),
        "alter" => write(TableWrite::Alter),
        "drop" => write(TableWrite::Drop),
        "insert-row" => Some(SpaceRoute::RowForm(db, table, vec![], RowForm::Insert)),
        "alter-table" => form(TableForm::Alter),
        "drop-table" => form(TableForm::Drop),
        "upload" => form(TableForm::Upload),
        "definition" => stored(QueryAction::Definition),
        "update" => stored(QueryAction::Update),
        "delete" => stored(QueryAction::Delete),
        _ => None,
    }
}

/// `/{db}/{table}/{pk}/-/{endpoint}`
fn row_endpoint(db: &str, table: &str, pk: &str, endpoint: &str) -> Option<SpaceRoute> {
    let (db, table, key) = (decode_name(db)?, decode_name(table)?, row_key(pk)?);
    let form = |form| {
        Some(SpaceRoute::RowForm(
            db.clone(),
            table.clone(),
            key.clone(),
            form,
        ))
    };
    let action = match endpoint {
        "update" => RowWrite::Update,
        "delete" => RowWrite::Delete,
        "edit" => return form(RowForm::Edit),
        "delete-row" => return form(RowForm::Delete),
        _ => return None,
    };
    Some(SpaceRoute::RowWrite(db, table, key, action))
}

/// A row's key from its URL segment: comma-separated, each value tilde-encoded.
fn row_key(segment: &str) -> Option<Vec<String>> {
    let pk = percent_decode_str(segment).decode_utf8().ok()?;
    pk.split(',').map(tilde_decode).collect()
}

/// Splits `/{space}{rest}` into the space name and the rest.
pub fn split_space(path: &str) -> Option<(&str, &str)> {
    let path = path.strip_prefix('/')?;
    match path.find('/') {
        Some(i) => Some((&path[..i], &path[i..])),
        None => Some((path, "")),
    }
}

#[cfg(test)]
mod tests;
