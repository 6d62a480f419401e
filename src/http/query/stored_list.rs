//! `/{db}/-/queries.json` and the space-wide `/-/queries.json` (Datasette's
//! instance-wide list): the stored queries the actor may view, with the
//! filters `q`, `is_write`, `is_private`, `source` and `owner_id`, keyset
//! pages (`_size`, `_next`) and the Mode and Visibility facets.

use std::collections::HashSet;

use axum::response::Response;
use serde_json::{Value as Json, json};

use crate::actor::Actor;
use crate::catalog::queries::StoredQuery;
use crate::error::{AppError, AppResult};
use crate::http::database::require_database;
use crate::http::routes::Format;
use crate::http::table::extra_values::database_color;
use crate::http::tenant::SpaceRequest;
use crate::names::{tilde_decode, tilde_encode};
use crate::permissions::Resource;
use crate::read::args::Args;

/// The filters a listing was asked for.
#[derive(Clone, Default)]
pub struct Filters {
    pub q: Option<String>,
    pub is_write: Option<bool>,
    pub is_private: Option<bool>,
    pub source: Option<String>,
    pub owner_id: Option<String>,
}

/// Datasette's reading of `is_write=` and `is_private=`.
fn optional_bool(args: &Args, name: &str) -> AppResult<Option<bool>> {
    match args.get(name).map(str::to_lowercase).as_deref() {
        None | Some("") => Ok(None),
        Some("1" | "true" | "t" | "yes" | "on") => Ok(Some(true)),
        Some("0" | "false" | "f" | "no" | "off") => Ok(Some(false)),
        Some(_) => Err(AppError::BadRequest(format!("{name} must be 0 or 1"))),
    }
}

/// `_size`: blank for the default, `max`, or 0 up to `maximum`.
fn size(args: &Args, default: u64, maximum: u64) -> AppResult<usize> {
    let size = match args.get("_size") {
        None | Some("") => default,
        Some("max") => maximum,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= maximum => n,
            Ok(_) => return Err(AppError::BadRequest(format!("_size must be <= {maximum}"))),
            Err(_) => {
                return Err(AppError::BadRequest(
                    "_size must be a positive integer".into(),
                ));
            }
        },
    };
    // Datasette's store clamps the page to 1..=1000.
    Ok(size.clamp(1, 1000) as usize)
}

/// SQLite's `LIKE` (ASCII case folded, `%` and `_` wildcards), as Datasette's `q` filter uses it.
fn like(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'%', rest)) => (0..=text.len()).any(|i| like(rest, &text[i..])),
        Some((p, rest)) => text
            .split_first()
            .is_some_and(|(t, tail)| (*p == b'_' || p.eq_ignore_ascii_case(t)) && like(rest, tail)),
    }
}

impl Filters {
    fn from_args(args: &Args) -> AppResult<Filters> {
        let text = |name| args.get(name).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(Filters {
            q: text("q"),
            is_write: optional_bool(args, "is_write")?,
            is_private: optional_bool(args, "is_private")?,
            source: text("source"),
            owner_id: text("owner_id"),
        })
    }

    pub fn matches(&self, query: &StoredQuery) -> bool {
        let searched = self.q.as_ref().is_none_or(|q| {
            let pattern = format!("%{q}%");
            let fields = [Some(&query.name), query.title.as_ref()];
            let more = [query.description.as_ref(), Some(&query.sql)];
            fields
                .iter()
                .chain(more.iter())
                .flatten()
                .any(|f| like(pattern.as_bytes(), f.as_bytes()))
        });
        searched
            && self.is_write.is_none_or(|w| w == query.is_write)
            && self.is_private.is_none_or(|p| p == query.is_private)
            && self.source.as_deref().is_none_or(|s| s == "user")
            && self
                .owner_id
                .as_ref()
                .is_none_or(|o| query.owner_id.as_ref() == Some(o))
    }
}

/// The stored queries `actor` may view, of one database or of every one, in
/// Datasette's order (database, then title or name case-folded, then name).
pub async fn visible(
    req: &SpaceRequest,
    actor: &Actor,
    db: Option<&str>,
) -> AppResult<Vec<StoredQuery>> {
    let allowed: HashSet<Resource> = req
        .app
        .allowed_resources(req.space_id(), actor, "view-query")
        .await?
        .into_iter()
        .collect();
    let all = req.app.stored_queries(req.space_id()).await?;
    let mut queries: Vec<StoredQuery> = all
        .iter()
        .filter(|q| db.is_none_or(|db| q.database == db))
        .filter(|q| allowed.contains(&Resource::Table(q.database.clone(), q.name.clone())))
        .cloned()
        .collect();
    queries.sort_by_key(|q| (q.database.clone(), q.sort_key(), q.name.clone()));
    Ok(queries)
}

/// The keyset position of a query in a listing (`_next` is these, tilde-encoded).
fn position(query: &StoredQuery, global: bool) -> Vec<String> {
    let mut parts = vec![query.sort_key(), query.name.clone()];
    if global {
        parts.insert(0, query.database.clone());
    }
    parts
}

/// A listing URL: the request's query string without `_next` and the
/// facet's own field, plus `set` (Python's `urlencode` of the pairs).
fn list_url(path: &str, args: &Args, field: &str, set: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = args
        .pairs()
        .iter()
        .filter(|(k, _)| k != "_next" && k != field)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(value) = set {
        pairs.push((field, value));
    }
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

/// One facet of `visible`: its items with counts under the other filters.
fn facet(
    title: &str,
    field: &str,
    labels: [&str; 2],
    current: Option<bool>,
    count: impl Fn(bool) -> usize,
    href: impl Fn(&str, Option<&str>) -> String,
) -> Json {
    let items: Vec<Json> = [false, true]
        .into_iter()
        .filter_map(|value| {
            let active = current == Some(value);
            let n = if current.is_some() && !active { 0 } else { count(value) };
            if !active && n == 0 {
                return None;
            }
            let link = if active { href(field, None) } else { href(field, Some(if value { "1" } else { "0" })) };
            Some(json!({"label": labels[value as usize], "count": n, "href": link, "active": active}))
        })
        .collect();
    json!({"title": title, "items": items})
}

/// One page of a listing: the queries on it and the `_next` token after it.
fn page<'a>(
    visible: &'a [StoredQuery],
    filters: &Filters,
    args: &Args,
    global: bool,
    limit: usize,
) -> (Vec<&'a StoredQuery>, Option<String>) {
    let cursor: Option<Vec<String>> = args
        .get("_next")
        .and_then(|next| next.split(',').map(tilde_decode).collect())
        .filter(|parts: &Vec<String>| parts.len() == if global { 3 } else { 2 });
    let mut page: Vec<&StoredQuery> = visible
        .iter()
        .filter(|q| filters.matches(q))
        .filter(|q| cursor.as_ref().is_none_or(|c| position(q, global) > *c))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = page.last().filter(|_| more).map(|last| {
        let parts: Vec<String> = position(last, global)
            .iter()
            .map(|p| tilde_encode(p))
            .collect();
        parts.join(",")
    });
    (page, next)
}

/// The Mode and Visibility facets of the visible queries under `filters`.
fn facets(visible: &[StoredQuery], filters: &Filters, args: &Args, list_path: &str) -> Json {
    let count = |field: &str, value: bool| {
        let mut f = filters.clone();
        match field {
            "is_write" => f.is_write = Some(value),
            _ => f.is_private = Some(value),
        }
        visible.iter().filter(|q| f.matches(q)).count()
    };
    let href = |field: &str, set: Option<&str>| list_url(list_path, args, field, set);
    json!([
        facet(
            "Mode",
            "is_write",
            ["Read-only", "Writable"],
            filters.is_write,
            |v| count("is_write", v),
            href
        ),
        facet(
            "Visibility",
            "is_private",
            ["Not private", "Private"],
            filters.is_private,
            |v| count("is_private", v),
            href
        ),
    ])
}

/// `/-/queries`, `/{db}/-/queries` and their `.json`.
pub async fn show(req: &SpaceRequest, db: Option<&str>, format: Format) -> AppResult<Response> {
    let database = match db {
        Some(db) => Some(require_database(req, db).await?.name),
        None => None,
    };
    let args = req.args();
    let html = format == Format::Html;
    let max = req.space.settings.int("max_returned_rows");
    let limit = size(args, if html { 20 } else { 50 }, max)?;
    let filters = Filters::from_args(args)?;
    let visible = visible(req, &req.actor, database.as_deref()).await?;
    let global = database.is_none();
    let (page, next) = page(&visible, &filters, args, global, limit);
    let list_path = match &database {
        Some(db) => format!("{}/{db}/-/queries", req.base),
        None => format!("{}/-/queries", req.base),
    };
    let next_url = next.as_ref().map(|next| {
        let path = if html {
            list_path.clone()
        } else {
            format!("{list_path}.json")
        };
        let mut pairs: Vec<(String, String)> = args
            .pairs()
            .iter()
            .filter(|(k, _)| k != "_next")
            .cloned()
            .collect();
        pairs.push(("_next".into(), next.clone()));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        req.absolute_url(&format!("{path}?{query}"))
    });
    let public = visible_to_anonymous(req, database.as_deref()).await?;
    let queries: Vec<Json> = page
        .iter()
        .map(|q| {
            let mut item = q.to_json();
            // Hidden from anonymous visitors by the space's rules (a private
            // query's own privacy is its `is_private`).
            let key = (q.database.clone(), q.name.clone());
            item["private"] = json!(!q.is_private && !public.contains(&key));
            item
        })
        .collect();
    let arg = |name| args.get(name).unwrap_or("").to_owned();
    let body = json!({
        "ok": true,
        "database": database,
        "database_color": database.as_deref().map(database_color),
        "queries": queries,
        "next": next,
        "next_url": next_url,
        "limit": limit,
        "show_private_note": page.iter().any(|q| q.is_private),
        "show_trusted_note": false,
        "query_list_path": list_path,
        "show_database": global,
        "facets": facets(&visible, &filters, args, &list_path),
        "filters": {
            "q": arg("q"), "is_write": arg("is_write"), "is_private": arg("is_private"),
            "source": arg("source"), "owner_id": arg("owner_id"),
        },
    });
    if html {
        return crate::http::ui::stored::list_page(req, body).await;
    }
    Ok(crate::http::json_response(body))
}

/// The queries anonymous visitors may view.
async fn visible_to_anonymous(
    req: &SpaceRequest,
    db: Option<&str>,
) -> AppResult<HashSet<(String, String)>> {
    Ok(visible(req, &Actor::anonymous(), db)
        .await?
        .into_iter()
        .map(|q| (q.database, q.name))
        .collect())
}
