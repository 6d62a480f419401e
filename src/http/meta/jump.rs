//! `/{space}/-/jump.json?q=`: the jump menu's items, as Datasette's: the
//! databases, tables, views and stored queries the actor may view whose
//! names match every word of `q`, best matches first, at most 100.

use std::collections::HashSet;

use axum::response::Response;
use serde_json::json;

use crate::error::AppResult;
use crate::http::database::visible_database_names;
use crate::http::json_response;
use crate::http::tenant::SpaceRequest;
use crate::names::tilde_encode;
use crate::permissions::Resource;

const LIMIT: usize = 100;

struct Item {
    kind: &'static str,
    label: String,
    url: String,
    search: String,
}

pub async fn show(req: &SpaceRequest) -> AppResult<Response> {
    let args = req.args();
    let q = args.get("q").unwrap_or("").trim().to_owned();
    let pattern = format!("%{}%", q.split_whitespace().collect::<Vec<_>>().join("%"));
    let mut items = tables(req).await?;
    items.extend(queries(req).await?);
    items.retain(|item| q.is_empty() || like(&item.search, &pattern));
    let lower_q = q.to_lowercase();
    items.sort_by_cached_key(|item| {
        let label = item.label.to_lowercase();
        let relevance = if label == lower_q {
            0
        } else if label.starts_with(&lower_q) {
            1
        } else {
            2
        };
        let kind = match item.kind {
            "database" => 10,
            "table" => 20,
            "view" => 25,
            _ => 30,
        };
        (
            relevance,
            kind,
            item.label.chars().count(),
            item.label.clone(),
        )
    });
    let truncated = items.len() > LIMIT;
    let matches: Vec<_> = items
        .iter()
        .take(LIMIT)
        .map(|i| json!({"name": i.label, "url": i.url, "type": i.kind, "description": null}))
        .collect();
    Ok(json_response(
        json!({"ok": true, "matches": matches, "truncated": truncated}),
    ))
}

/// The databases, tables and views the actor may view.
async fn tables(req: &SpaceRequest) -> AppResult<Vec<Item>> {
    let tables: HashSet<Resource> = req
        .app
        .allowed_resources(req.space_id(), &req.actor, "view-table")
        .await?
        .into_iter()
        .collect();
    let space_id = req.space_id();
    let all = req
        .app
        .catalog
        .call(move |conn| crate::catalog::mirror::space_tables(conn, space_id))
        .await?;
    let mut items: Vec<Item> = visible_database_names(req)
        .await?
        .into_iter()
        .map(|db| Item {
            kind: "database",
            url: format!("{}/{}", req.base, tilde_encode(&db)),
            search: db.clone(),
            label: db,
        })
        .collect();
    for (db, table, kind) in all {
        if !tables.contains(&Resource::Table(db.clone(), table.clone())) {
            continue;
        }
        items.push(Item {
            kind: if kind == "view" { "view" } else { "table" },
            url: format!(
                "{}/{}/{}",
                req.base,
                tilde_encode(&db),
                tilde_encode(&table)
            ),
            search: format!("{db} {table}"),
            label: format!("{db}: {table}"),
        });
    }
    Ok(items)
}

/// The stored queries the actor may view.
async fn queries(req: &SpaceRequest) -> AppResult<Vec<Item>> {
    let mut items = Vec::new();
    for query in crate::http::query::stored_list::visible(req, &req.actor, None).await? {
        let title = query.title.clone().unwrap_or_else(|| query.name.clone());
        items.push(Item {
            kind: "query",
            url: format!(
                "{}/{}/{}",
                req.base,
                tilde_encode(&query.database),
                tilde_encode(&query.name)
            ),
            search: format!("{} {} {title}", query.database, query.name),
            label: format!("{}: {title}", query.database),
        });
    }
    Ok(items)
}

/// SQLite's `LIKE`: `%` any run, `_` any one character, ASCII letters alike in either case.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let pattern: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut t, mut p) = (0, 0);
    // Where the last `%` was, and the text position it is trying to cover up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_as_sqlite() {
        assert!(like("fixtures facetable", "%face%"));
        assert!(like("fixtures facetable", "%FIX%TABLE%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "%d%"));
        assert!(!like("ab", "a_c"));
        assert!(like("", "%"));
    }
}
