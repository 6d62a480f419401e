//! The table page's facets: Datasette's `facet_results` and
//! `suggested_facets` turned into boxes of toggle links.

use serde_json::{Map, Value as Json};

use super::with_query;
use crate::read::args::{Args, encode};

pub(super) struct FacetItem {
    pub(super) label: String,
    pub(super) count: i64,
    pub(super) href: String,
    pub(super) selected: bool,
}

pub(super) struct FacetView {
    pub(super) name: String,
    pub(super) remove_href: String,
    pub(super) items: Vec<FacetItem>,
    pub(super) truncated: bool,
}

/// Facet views from Datasette's `facet_results` (1.0 nests them under `results`).
pub(super) fn facet_views(facet_results: &Json, args: &Args, table_path: &str) -> Vec<FacetView> {
    let facets = facet_results
        .get("results")
        .and_then(Json::as_object)
        .or_else(|| facet_results.as_object())
        .cloned()
        .unwrap_or_default();
    facets
        .iter()
        .filter_map(|(key, facet)| facet_view(key, facet, args, table_path))
        .collect()
}

/// One facet's box; `None` when it carries no `results` list.
fn facet_view(key: &str, facet: &Json, args: &Args, table_path: &str) -> Option<FacetView> {
    let name = facet
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or(key)
        .to_owned();
    let kind = facet.get("type").and_then(Json::as_str).unwrap_or("column");
    let items = facet.get("results")?.as_array()?;
    let items = items
        .iter()
        .map(|item| facet_item(item, kind, &name, args, table_path))
        .collect();
    let rest: Vec<(&str, &str)> = args
        .pairs()
        .iter()
        .filter(|(k, v)| !(k.starts_with("_facet") && *v == name) && k != "_next")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Some(FacetView {
        remove_href: with_query(table_path, &encode(rest)),
        name,
        items,
        truncated: facet
            .get("truncated")
            .and_then(Json::as_bool)
            .unwrap_or(false),
    })
}

/// One value of a facet with its count and the link that toggles it.
fn facet_item(item: &Json, kind: &str, name: &str, args: &Args, table_path: &str) -> FacetItem {
    let value = match item.get("value") {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let label = match item.get("label") {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => value.clone(),
        Some(other) => other.to_string(),
    };
    let selected = item
        .get("selected")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let href = if kind == "column" {
        toggle(args, name, &value, selected, table_path)
    } else {
        page_url(item.get("toggle_url"), table_path)
    };
    FacetItem {
        label: if label.is_empty() {
            "(blank)".into()
        } else {
            label
        },
        count: item.get("count").and_then(Json::as_i64).unwrap_or(0),
        href,
        selected,
    }
}

/// Columns the "Facet by" list offers: those not faceted already.
pub(super) fn facet_choices(filter_columns: &[String], facets: &[FacetView]) -> Vec<String> {
    let faceted: Vec<&str> = facets.iter().map(|f| f.name.as_str()).collect();
    filter_columns
        .iter()
        .filter(|c| !faceted.contains(&c.as_str()))
        .cloned()
        .collect()
}

/// Suggested facets as (name, page link), from `suggested_facets`.
pub(super) fn suggested(body: &Map<String, Json>, table_path: &str) -> Vec<(String, String)> {
    body.get("suggested_facets")
        .and_then(Json::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    let name = s.get("name")?.as_str()?.to_owned();
                    Some((name, page_url(s.get("toggle_url"), table_path)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A facet toggle: adds `column=value`, or removes it when selected.
pub(super) fn toggle(
    args: &Args,
    column: &str,
    value: &str,
    selected: bool,
    table_path: &str,
) -> String {
    let mut pairs: Vec<(&str, &str)> = args
        .pairs()
        .iter()
        .filter(|(k, v)| k != "_next" && !(selected && k == column && v == value))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !selected {
        pairs.push((column, value));
    }
    with_query(table_path, &encode(pairs))
}

/// A URL of the JSON API turned into the page's: path only, `.json` dropped.
fn page_url(url: Option<&Json>, table_path: &str) -> String {
    let url = url.and_then(Json::as_str).unwrap_or("");
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    with_query(table_path, query)
}
