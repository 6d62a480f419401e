//! The values of descriptive extras shared by tables and rows: column
//! details, the request, the database colour, CSS class names and privacy.

use std::sync::Arc;
use std::time::Duration;

use libsql::Value;
use serde_json::{Map, Value as Json, json};

use crate::actor::Actor;
use crate::error::AppResult;
use crate::http::tenant::SpaceRequest;
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::exec::{self, Statement};
use crate::read::md5;
use crate::read::values::{Infinity, to_json};
use crate::tenant::TenantDb;

/// The affinity Datasette reports as `sqlite_type`.
fn sqlite_type(declared: &str) -> &'static str {
    let t = declared.trim().to_ascii_uppercase();
    if t.is_empty() {
        "BLOB"
    } else if t.contains("INT") {
        "INTEGER"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|k| t.contains(k)) {
        "TEXT"
    } else if t.contains("BLOB") {
        "BLOB"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|k| t.contains(k)) {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// `column_details`: each column's declared type, affinity, default and key position.
pub(crate) async fn column_details(
    handle: Arc<TenantDb>,
    table: &str,
    time_limit: Duration,
) -> AppResult<Json> {
    let sql = "select name, type, \"notnull\", dflt_value, pk, hidden from pragma_table_xinfo(:t)";
    let params = vec![(":t".into(), Value::Text(table.to_owned()))];
    let rows = exec::run(handle, Statement::internal(sql, params, time_limit))
        .await
        .map_err(crate::http::query::read_error)?
        .rows
        .to_values();
    let mut details = Map::new();
    for row in rows {
        let declared = match &row[1] {
            Value::Text(t) => t.clone(),
            _ => String::new(),
        };
        let int = |v: &Value| match v {
            Value::Integer(n) => *n,
            _ => 0,
        };
        details.insert(
            crate::read::values::to_text(&row[0]),
            json!({
                "type": declared,
                "sqlite_type": sqlite_type(&declared),
                "notnull": int(&row[2]) != 0,
                "default": to_json(&row[3], Infinity::Null),
                "is_pk": int(&row[4]) != 0,
                "pk_position": int(&row[4]),
                "hidden": int(&row[5]),
            }),
        );
    }
    Ok(Json::Object(details))
}

/// `request`: the URL, path, host and arguments as Datasette reports them.
pub(crate) fn request_json(req: &SpaceRequest, path: &str, args: &Args) -> Json {
    let full_path = match req.query() {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    };
    let mut pairs: Map<String, Json> = Map::new();
    for (k, v) in args.pairs() {
        let entry = pairs.entry(k.clone()).or_insert_with(|| json!([]));
        if let Json::Array(values) = entry {
            values.push(json!(v));
        }
    }
    let host = req
        .origin
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or_default();
    json!({
        "url": req.absolute_url(&full_path),
        "path": path,
        "full_path": full_path,
        "host": host,
        "args": pairs,
    })
}

/// The first six hex digits of the MD5 of the database's name.
pub fn database_color(name: &str) -> String {
    md5::hex_digest(name.as_bytes())[..6].to_owned()
}

/// Datasette's `to_css_class`: the name itself when it is a plain CSS class,
/// else its valid characters plus an MD5 suffix.
pub fn css_class(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        return name.to_owned();
    }
    let suffix = &md5::hex_digest(name.as_bytes())[..6];
    let trimmed = name.trim_start_matches('_').trim_start_matches('-');
    let hyphenated = trimmed.split_whitespace().collect::<Vec<_>>().join("-");
    let kept: String = hyphenated
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if kept.is_empty() {
        suffix.to_owned()
    } else {
        format!("{kept}-{suffix}")
    }
}

/// Visible to this actor but not to anonymous visitors.
pub(crate) async fn private(req: &SpaceRequest, database: &str, table: &str) -> AppResult<bool> {
    let resource = Resource::Table(database.to_owned(), table.to_owned());
    let public = req
        .app
        .allowed(req.space_id(), &Actor::anonymous(), "view-table", resource)
        .await?;
    Ok(!public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_classes_and_colors() {
        assert_eq!(css_class("facetable"), "facetable");
        assert_eq!(database_color("xf"), "f6440d");
        let odd = css_class("_table with spaces");
        assert!(odd.starts_with("table-with-spaces-"), "{odd}");
        assert_eq!(odd.len(), "table-with-spaces-".len() + 6);
    }

    #[test]
    fn sqlite_types() {
        assert_eq!(sqlite_type("VARCHAR(20)"), "TEXT");
        assert_eq!(sqlite_type("BIGINT"), "INTEGER");
        assert_eq!(sqlite_type(""), "BLOB");
        assert_eq!(sqlite_type("DECIMAL"), "NUMERIC");
        assert_eq!(sqlite_type("DOUBLE"), "REAL");
    }
}
