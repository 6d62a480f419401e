//! The table page, `/{space}/{db}/{table}`: rows with pagination, sort by
//! column header, the filter form with every operator, facets with counts
//! and toggle links, a search box for FTS tables, foreign keys as labelled
//! links, and JSON/CSV links for exactly the current view. It reads the page
//! from the same [`TableContext`] the JSON answer uses, and facets from the
//! same `table_extras` (Datasette's `facet_results` shape).

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::response::Response;
use libsql::Value;
use serde_json::{Map, Value as Json};

use super::rows::RowControls;
use super::{Cell, Chrome, html};
use crate::catalog::mirror::TableSchema;
use crate::error::AppResult;
use crate::http::table::TableContext;
use crate::http::table::extras as table_extras;
use crate::names::{quote_ident, tilde_encode};
use crate::permissions::Resource;
use crate::read::args::Args;
use crate::read::exec::{self, Statement};
use crate::read::table_sql::{Params, row_path};
use crate::read::values::to_text;
use crate::sqlite::ValueRef;
use facets::{FacetView, facet_choices, facet_views, suggested};

mod facets;

/// Datasette's filter operators as the form offers them: (value, label).
/// Operators that take no value carry it in theirs (`isnull__1`).
pub const OPERATORS: &[(&str, &str)] = &[
    ("exact", "="),
    ("not", "!="),
    ("contains", "contains"),
    ("notcontains", "does not contain"),
    ("endswith", "ends with"),
    ("startswith", "starts with"),
    ("gt", ">"),
    ("gte", "\u{2265}"),
    ("lt", "<"),
    ("lte", "\u{2264}"),
    ("like", "like"),
    ("notlike", "not like"),
    ("glob", "glob"),
    ("in", "in"),
    ("notin", "not in"),
    ("arraycontains", "array contains"),
    ("arraynotcontains", "array does not contain"),
    ("date", "date"),
    ("isnull__1", "is null"),
    ("notnull__1", "is not null"),
    ("isblank__1", "is blank"),
    ("notblank__1", "is not blank"),
];

struct Header {
    name: String,
    href: String,
    sorted: &'static str,
    fk: bool,
}

struct RowView {
    link: Option<(String, String)>,
    cells: Vec<Cell>,
}

struct Filter {
    column: String,
    op: String,
    value: String,
}

#[derive(Template)]
#[template(path = "table.html")]
struct TablePage {
    chrome: Chrome,
    database: String,
    table: String,
    table_path: String,
    is_view: bool,
    count: Option<i64>,
    description: String,
    headers: Vec<Header>,
    has_links: bool,
    rows: Vec<RowView>,
    filters: Vec<Filter>,
    filter_columns: Vec<String>,
    operators: &'static [(&'static str, &'static str)],
    keep_for_filters: Vec<(String, String)>,
    search: Option<String>,
    keep_for_search: Vec<(String, String)>,
    facets: Vec<FacetView>,
    facet_choices: Vec<String>,
    keep_for_facets: Vec<(String, String)>,
    suggested: Vec<(String, String)>,
    next_href: Option<String>,
    first_href: Option<String>,
    json_url: String,
    csv_url: String,
    controls: RowControls,
    /// Every column, and whether it is shown (the column chooser).
    column_choices: Vec<(String, bool)>,
    keep_for_columns: Vec<(String, String)>,
}

/// The column filters of a request, as the form shows them.
fn current_filters(args: &Args, columns: &[String]) -> Vec<Filter> {
    args.pairs()
        .iter()
        .filter_map(|(key, value)| {
            let (column, op) = match key.rsplit_once("__") {
                Some((c, op))
                    if OPERATORS
                        .iter()
                        .any(|(o, _)| o.split("__").next() == Some(op)) =>
                {
                    (c, op)
                }
                _ => (key.as_str(), "exact"),
            };
            if !columns.iter().any(|c| c == column) {
                return None;
            }
            let op = OPERATORS
                .iter()
                .map(|(o, _)| *o)
                .find(|o| o.split("__").next() == Some(op))
                .unwrap_or("exact");
            Some(Filter {
                column: column.to_owned(),
                value: if op.contains("__") {
                    String::new()
                } else {
                    value.clone()
                },
                op: op.to_owned(),
            })
        })
        .collect()
}

/// Datasette's label column: a `name` or `title` column, or the other column
/// of a two-column table keyed by `id` or `pk`.
fn label_column(table: &TableSchema) -> Option<String> {
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    if let Some(n) = names
        .iter()
        .find(|n| n.eq_ignore_ascii_case("name") || n.eq_ignore_ascii_case("title"))
    {
        return Some((*n).to_owned());
    }
    if names.len() == 2 && (names.contains(&"id") || names.contains(&"pk")) {
        return names
            .iter()
            .find(|n| **n != "id" && **n != "pk")
            .map(|n| (*n).to_owned());
    }
    None
}

/// Labels of the values in `column` that point at `other.other_column`.
async fn labels(
    ctx: &TableContext<'_>,
    other: &TableSchema,
    other_column: &str,
    values: Vec<Value>,
) -> HashMap<String, String> {
    let Some(label) = label_column(other) else {
        return HashMap::new();
    };
    if values.is_empty() {
        return HashMap::new();
    }
    let mut params = Params::default();
    let holders: Vec<String> = values.into_iter().map(|v| params.add(v)).collect();
    let sql = format!(
        "select {}, {} from {} where {} in ({})",
        quote_ident(other_column),
        quote_ident(&label),
        quote_ident(&other.name),
        quote_ident(other_column),
        holders.join(", ")
    );
    let statement = Statement::internal(sql, params.0, ctx.req.time_limit(ctx.args));
    match exec::run(ctx.handle.clone(), statement).await {
        Ok(result) => result
            .rows
            .iter()
            .map(|r| (to_text(&r.value(0)), to_text(&r.value(1))))
            .collect(),
        Err(_) => HashMap::new(),
    }
}

/// `select count(*)` over the filtered rows; `None` if it fails or takes too long.
async fn count(ctx: &TableContext<'_>) -> Option<i64> {
    let statement = Statement::internal(
        ctx.plan.count_sql(),
        ctx.plan.filter_params.0.clone(),
        ctx.req.time_limit(ctx.args),
    );
    let result = exec::run(ctx.handle.clone(), statement).await.ok()?;
    match result.rows.first()?.first()? {
        ValueRef::Integer(n) => Some(n),
        _ => None,
    }
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Arguments to carry as hidden fields, all but those named.
fn keep(args: &Args, drop: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    args.pairs()
        .iter()
        .filter(|(k, _)| k != "_next" && !drop(k))
        .cloned()
        .collect()
}

/// Foreign keys the actor may follow: column → (other table, other column).
type Links = HashMap<String, (TableSchema, String)>;

/// Labels of the linked values shown, by column: raw value → label.
type LinkLabels = HashMap<String, HashMap<String, String>>;

/// The table page: rows, headings, filter form, facets and links, from the
/// same context and extras as the JSON answer.
pub async fn page(ctx: TableContext<'_>) -> AppResult<Response> {
    let req = ctx.req;
    let args = &ctx.args;
    let table = ctx.table().clone();
    let table_path = ctx.table_path();
    let mut filter_columns = ctx.info.columns.clone();
    if ctx.info.use_rowid() {
        filter_columns.insert(0, "rowid".into());
    }
    let links = followable_links(&ctx, &table).await?;
    let link_labels = link_labels(&ctx, &links).await;
    let (has_links, rows) = row_views(&ctx, &table_path, &links, &link_labels);
    let headers = headers(&ctx, &links, &table_path);

    // Facets and suggestions: the same extras the JSON answer carries.
    let mut body = Map::new();
    table_extras::add(&ctx, &mut body).await?;
    let facet_results = body.get("facet_results").cloned().unwrap_or(Json::Null);
    let facets = facet_views(&facet_results, args, &table_path);
    let facet_choices = facet_choices(&filter_columns, &facets);
    let suggested = suggested(&body, &table_path);

    let query = req.query().unwrap_or_default().to_owned();
    let next_href = ctx
        .next
        .as_ref()
        .map(|next| with_query(&table_path, &args.replaced(&["_next"], &[("_next", next)])));
    let first_href = args
        .has("_next")
        .then(|| with_query(&table_path, &args.replaced(&["_next"], &[])));
    let count = match body.get("count").and_then(Json::as_i64) {
        Some(n) => Some(n),
        None => count(&ctx).await,
    };
    let is_filter_key = |k: &str| !k.starts_with('_') || k.contains("__");
    let here = with_query(&table_path, &query);
    let (db, name) = (&ctx.database.name, &ctx.info.name);
    let controls = RowControls::of(req, db, name, ctx.info.is_view, &here).await?;
    html(TablePage {
        chrome: Chrome::for_space(req).await?,
        database: ctx.database.name.clone(),
        table: ctx.info.name.clone(),
        is_view: ctx.info.is_view,
        count,
        description: ctx.conditions.descriptions.join(" and "),
        headers,
        has_links,
        rows,
        filters: current_filters(args, &filter_columns),
        filter_columns: filter_columns.clone(),
        operators: OPERATORS,
        keep_for_filters: keep(args, |k| is_filter_key(k) || k.starts_with("_filter")),
        search: table
            .fts_table
            .is_some()
            .then(|| args.get("_search").unwrap_or("").to_owned()),
        keep_for_search: keep(args, |k| k == "_search"),
        facets,
        facet_choices,
        keep_for_facets: keep(args, |_| false),
        suggested,
        next_href,
        first_href,
        json_url: with_query(&format!("{table_path}.json"), &query),
        csv_url: with_query(&format!("{table_path}.csv"), &query),
        controls,
        column_choices: ctx
            .info
            .columns
            .iter()
            .map(|c| (c.clone(), ctx.plan.columns.contains(c)))
            .collect(),
        keep_for_columns: keep(args, |k| k == "_col" || k == "_nocol"),
        table_path,
    })
}

/// The table's foreign keys whose other table the actor may view.
async fn followable_links(ctx: &TableContext<'_>, table: &TableSchema) -> AppResult<Links> {
    let req = ctx.req;
    let mut links = Links::new();
    for fk in &table.foreign_keys {
        let Some(other) = ctx.schema.table(&fk.other_table) else {
            continue;
        };
        let visible = req
            .app
            .allowed(
                req.space_id(),
                &req.actor,
                "view-table",
                Resource::Table(ctx.database.name.clone(), other.name.clone()),
            )
            .await?;
        if visible {
            links.insert(fk.column.clone(), (other.clone(), fk.other_column.clone()));
        }
    }
    Ok(links)
}

/// Labels for the distinct non-null values of each linked column on the page.
async fn link_labels(ctx: &TableContext<'_>, links: &Links) -> LinkLabels {
    let columns = &ctx.plan.columns;
    let mut label_maps = LinkLabels::new();
    for (column, (other, other_column)) in links {
        let Some(i) = columns.iter().position(|c| c == column) else {
            continue;
        };
        let mut seen = HashSet::new();
        let values: Vec<Value> = ctx
            .rows
            .iter()
            .map(|r| r.value(i))
            .filter(|v| !matches!(v, Value::Null) && seen.insert(to_text(v)))
            .collect();
        label_maps.insert(
            column.clone(),
            labels(ctx, other, other_column, values).await,
        );
    }
    label_maps
}

/// The page's rows, each with its row link when the table has keys on the
/// page (the first value says whether it has).
fn row_views(
    ctx: &TableContext<'_>,
    table_path: &str,
    links: &Links,
    link_labels: &LinkLabels,
) -> (bool, Vec<RowView>) {
    let columns = &ctx.plan.columns;
    let key_index: Vec<usize> = if ctx.info.is_view {
        vec![]
    } else {
        ctx.info
            .key_columns()
            .iter()
            .filter_map(|k| columns.iter().position(|c| c == k))
            .collect()
    };
    let has_links = !key_index.is_empty();
    let cells = Cells {
        links,
        link_labels,
        db_path: format!("{}/{}", ctx.req.base, ctx.database.name),
        limit: ctx.req.space.settings.int("truncate_cells_html"),
    };
    let rows = ctx
        .rows
        .to_values()
        .iter()
        .map(|row| {
            let link = has_links.then(|| {
                let key = row_path(key_index.iter().map(|&i| &row[i]));
                let text = key_index
                    .iter()
                    .map(|&i| to_text(&row[i]))
                    .collect::<Vec<_>>()
                    .join(",");
                (format!("{table_path}/{key}"), text)
            });
            let cells = row
                .iter()
                .zip(columns)
                .map(|(value, column)| cells.cell(value, column))
                .collect();
            RowView { link, cells }
        })
        .collect();
    (has_links, rows)
}

/// What turning a value into a cell needs, worked out once per page.
struct Cells<'a> {
    links: &'a Links,
    link_labels: &'a LinkLabels,
    /// `{base}/{db}`, where linked rows live.
    db_path: String,
    limit: u64,
}

impl Cells<'_> {
    /// One cell; a linked value points at the other table's row and shows
    /// its label, with the raw value as a note.
    fn cell(&self, value: &Value, column: &str) -> Cell {
        let mut cell = Cell::value(value, self.limit);
        if let Some((other, _)) = self.links.get(column)
            && !matches!(value, Value::Null)
        {
            let raw = to_text(value);
            let label = self.link_labels.get(column).and_then(|m| m.get(&raw));
            cell.href = Some(format!(
                "{}/{}/{}",
                self.db_path,
                tilde_encode(&other.name),
                tilde_encode(&raw)
            ));
            if let Some(label) = label {
                cell.text = super::truncate(label.clone(), self.limit);
                cell.note = Some(raw);
                cell.class = "";
            }
        }
        cell
    }
}

/// Column headings, each linking to the page sorted by it (or reversed).
fn headers(ctx: &TableContext<'_>, links: &Links, table_path: &str) -> Vec<Header> {
    ctx.plan
        .columns
        .iter()
        .map(|c| {
            let (sorted, next_sort) = if ctx.plan.sort.as_deref() == Some(c) {
                ("asc", "_sort_desc")
            } else if ctx.plan.sort_desc.as_deref() == Some(c) {
                ("desc", "_sort")
            } else {
                ("", "_sort")
            };
            Header {
                href: with_query(
                    table_path,
                    &ctx.args
                        .replaced(&["_sort", "_sort_desc", "_next"], &[(next_sort, c)]),
                ),
                name: c.clone(),
                sorted,
                fk: links.contains_key(c),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
