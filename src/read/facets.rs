//! Facets of a table's filtered rows: `_facet=COL` (distinct values),
//! `_facet_date=COL` (distinct dates) and `_facet_array=COL` (items of JSON
//! arrays), each counted under the facet time limit with links that toggle
//! the matching filter; and the facets worth suggesting for a table.

use std::sync::Arc;
use std::time::Duration;

use libsql::Value;
use serde_json::{Value as Json, json};

use super::args::Args;
use super::exec::{self, ReadError, ResultSet, Statement};
use super::links::{with_added, with_removed};
use super::table_sql::BadArg;
use super::values::{Infinity, to_json, to_text};
use crate::names::quote_ident;
use crate::sqlite::ValueRef;
use crate::tenant::TenantDb;

/// How many rows the suggestion queries look at.
const SUGGEST_CONSIDER: usize = 1000;
/// How many rows the date suggestion looks at.
const SUGGEST_DATES_CONSIDER: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FacetKind {
    Column,
    Date,
    Array,
}

impl FacetKind {
    /// In the order Datasette registers its facet classes.
    const ALL: [FacetKind; 3] = [FacetKind::Column, FacetKind::Date, FacetKind::Array];

    pub fn name(self) -> &'static str {
        match self {
            FacetKind::Column => "column",
            FacetKind::Date => "date",
            FacetKind::Array => "array",
        }
    }

    /// The query argument that asks for this kind of facet.
    pub fn arg(self) -> &'static str {
        match self {
            FacetKind::Column => "_facet",
            FacetKind::Date => "_facet_date",
            FacetKind::Array => "_facet_array",
        }
    }
}

/// One requested facet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacetConfig {
    pub kind: FacetKind,
    pub column: String,
}

/// The facets a request asks for, grouped by kind in Datasette's order. A
/// value starting with `{` is a JSON config naming its `column`.
pub fn configs(args: &Args) -> Result<Vec<FacetConfig>, BadArg> {
    let mut configs = Vec::new();
    for kind in FacetKind::ALL {
        for value in args.get_all(kind.arg()) {
            let column = if value.starts_with('{') {
                let config: Json = serde_json::from_str(value)
                    .map_err(|_| BadArg(format!("Invalid facet config: {value}")))?;
                config
                    .get("column")
                    .or_else(|| config.get("simple"))
                    .and_then(Json::as_str)
                    .ok_or_else(|| BadArg(format!("Invalid facet config: {value}")))?
                    .to_owned()
            } else {
                value.to_owned()
            };
            if !column.is_empty() {
                configs.push(FacetConfig { kind, column });
            }
        }
    }
    Ok(configs)
}

/// Does the request mention facets at all (`_facet`, `_facet_size`, `_facet_date`…)?
pub fn requested(args: &Args) -> bool {
    args.pairs()
        .iter()
        .any(|(k, _)| k == "_facet" || k.starts_with("_facet_"))
}

/// `_facet_size`: a number, or `max`; anything else is ignored. Never more
/// than `max_returned_rows`.
pub fn facet_size(args: &Args, default: usize, max_returned_rows: usize) -> usize {
    let size = match args.get("_facet_size") {
        Some("max") => max_returned_rows,
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            n.parse().unwrap_or(max_returned_rows)
        }
        _ => default,
    };
    size.min(max_returned_rows)
}

/// The counting SQL of one facet over the rows of `inner`.
pub fn facet_sql(kind: FacetKind, column: &str, inner: &str, limit: usize) -> String {
    let col = quote_ident(column);
    match kind {
        FacetKind::Column => format!(
            "select {col} as value, count(*) as count from ({inner}) \
             where {col} is not null group by {col} order by count desc, value limit {limit}"
        ),
        FacetKind::Date => format!(
            "select date({col}) as value, count(*) as count from ({inner}) \
             where date({col}) is not null group by date({col}) order by count desc, value limit {limit}"
        ),
        // Each distinct item counts once per row, however often the row repeats it.
        FacetKind::Array => format!(
            "with filtered as ({inner}), \
             items as (select distinct j.value as facet_item, filtered.* \
                       from filtered, json_each(filtered.{col}) as j) \
             select facet_item as value, count(*) as count from items \
             group by facet_item order by count desc, facet_item limit {limit}"
        ),
    }
}

/// The rows being faceted and the limits of the queries over them.
pub struct FacetQuery<'a> {
    pub handle: Arc<TenantDb>,
    /// Every column of the filtered rows, unordered (`PagePlan::from_filtered_sql`).
    pub sql: String,
    pub params: &'a [(String, Value)],
    pub size: usize,
    pub time_limit: Duration,
}

impl FacetQuery<'_> {
    async fn run(&self, sql: String) -> Result<ResultSet, ReadError> {
        exec::run(
            self.handle.clone(),
            Statement::internal(sql, self.params.to_vec(), self.time_limit),
        )
        .await
    }
}

/// The page the facets are shown on: its path (`/space/db/table.json`),
/// arguments and `scheme://host`, for toggle links.
pub struct Page<'a> {
    pub path: &'a str,
    pub args: &'a Args,
    pub origin: &'a str,
}

#[derive(Clone, Debug)]
pub struct FacetValue {
    pub value: Value,
    pub label: Value,
    pub count: i64,
    pub selected: bool,
    pub toggle_url: String,
}

#[derive(Clone, Debug)]
pub struct FacetResult {
    pub name: String,
    pub kind: FacetKind,
    /// The page without this facet.
    pub toggle_url: String,
    pub results: Vec<FacetValue>,
    pub truncated: bool,
}

impl FacetResult {
    /// The facet as Datasette writes it; `infinity` as `_json_infinity` asks.
    pub fn to_json(&self, infinity: Infinity) -> Json {
        let results: Vec<Json> = self
            .results
            .iter()
            .map(|v| {
                json!({
                    "value": to_json(&v.value, infinity),
                    "label": to_json(&v.label, infinity),
                    "count": v.count,
                    "toggle_url": v.toggle_url,
                    "selected": v.selected,
                })
            })
            .collect();
        json!({
            "name": self.name,
            "type": self.kind.name(),
            "hideable": true,
            "toggle_url": self.toggle_url,
            "results": results,
            "truncated": self.truncated,
        })
    }
}

/// Which filter a facet value toggles, and whether it is on now: returns
/// (selected, link to the page with the filter toggled).
fn toggle(kind: FacetKind, column: &str, text: &str, page: &Page) -> (bool, String) {
    let args = page.args;
    let has = |key: &str| args.pairs().iter().any(|(k, v)| k == key && v == text);
    match kind {
        FacetKind::Column => {
            let exact = format!("{column}__exact");
            let key = if column.starts_with('_') {
                exact.clone()
            } else {
                column.to_owned()
            };
            let mut on: Vec<(&str, &str)> = Vec::new();
            for k in [key.as_str(), exact.as_str()] {
                if has(k) && !on.iter().any(|(x, _)| *x == k) {
                    on.push((k, text));
                }
            }
            if on.is_empty() {
                (false, with_added(page.path, args, &[(&key, text)]))
            } else {
                (true, with_removed(page.path, args, &on))
            }
        }
        FacetKind::Array => {
            let key = format!("{column}__arraycontains");
            if has(&key) {
                (true, with_removed(page.path, args, &[(&key, text)]))
            } else {
                (false, with_added(page.path, args, &[(&key, text)]))
            }
        }
        FacetKind::Date => {
            let key = format!("{column}__date");
            let current = args
                .pairs()
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_str());
            if current == Some(text) {
                (true, with_removed(page.path, args, &[(&key, text)]))
            } else {
                (false, with_added(page.path, args, &[(&key, text)]))
            }
        }
    }
}

/// Counts every requested facet; returns the results and the names of the
/// facets that ran out of time.
pub async fn run(
    query: &FacetQuery<'_>,
    page: &Page<'_>,
    configs: &[FacetConfig],
) -> Result<(Vec<FacetResult>, Vec<String>), ReadError> {
    let mut results = Vec::new();
    let mut timed_out = Vec::new();
    for config in configs {
        let sql = facet_sql(config.kind, &config.column, &query.sql, query.size + 1);
        let rows = match query.run(sql).await {
            Ok(rows) => rows.rows.to_values(),
            Err(ReadError::TimedOut) => {
                timed_out.push(config.column.clone());
                continue;
            }
            Err(other) => return Err(other),
        };
        let truncated = rows.len() > query.size;
        let values = rows
            .into_iter()
            .take(query.size)
            .map(|mut row| {
                let count = match row.pop() {
                    Some(Value::Integer(n)) => n,
                    _ => 0,
                };
                let raw = row.pop().unwrap_or(Value::Null);
                let text = to_text(&raw);
                // Array items are reported as text, whatever their JSON type.
                let value = if config.kind == FacetKind::Array {
                    Value::Text(text.clone())
                } else {
                    raw
                };
                let (selected, link) = toggle(config.kind, &config.column, &text, page);
                FacetValue {
                    label: value.clone(),
                    value,
                    count,
                    selected,
                    toggle_url: format!("{}{link}", page.origin),
                }
            })
            .collect();
        results.push(FacetResult {
            name: config.column.clone(),
            kind: config.kind,
            toggle_url: with_removed(page.path, page.args, &[(config.kind.arg(), &config.column)]),
            results: values,
            truncated,
        });
    }
    Ok((results, timed_out))
}

/// A facet worth offering.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub name: String,
    pub kind: FacetKind,
    pub toggle_url: String,
}

impl Suggestion {
    pub fn to_json(&self) -> Json {
        let mut object = json!({"name": self.name, "toggle_url": self.toggle_url});
        if self.kind != FacetKind::Column {
            object["type"] = json!(self.kind.name());
        }
        object
    }
}

fn is_array_of_strings(text: &str) -> bool {
    matches!(
        serde_json::from_str::<Json>(text),
        Ok(Json::Array(items)) if items.iter().all(Json::is_string)
    )
}

/// Suggests facets over `columns` (those of the filtered rows) not already
/// requested: columns with few repeated values, columns holding dates, and
/// columns holding JSON arrays of strings. `row_count` is the filtered rows'
/// count when known. Suggestion queries that fail or time out suggest nothing.
pub async fn suggest(
    query: &FacetQuery<'_>,
    page: &Page<'_>,
    configs: &[FacetConfig],
    columns: &[String],
    row_count: Option<i64>,
) -> Vec<Suggestion> {
    let enabled =
        |kind: FacetKind, c: &str| configs.iter().any(|f| f.kind == kind && f.column == c);
    let link = |kind: FacetKind, column: &str| {
        format!(
            "{}{}",
            page.origin,
            with_added(page.path, page.args, &[(kind.arg(), column)])
        )
    };
    let inner = query.sql.as_str();
    let mut suggestions = Vec::new();

    let row_count = match row_count {
        Some(n) => Some(n),
        None => query
            .run(format!(
                "select count(*) from (select * from ({inner}) limit {SUGGEST_CONSIDER})"
            ))
            .await
            .ok()
            .and_then(|r| match r.rows.first().map(|row| row.get(0)) {
                Some(ValueRef::Integer(n)) => Some(n),
                _ => None,
            }),
    };
    if let Some(row_count) = row_count {
        for column in columns.iter().filter(|c| !enabled(FacetKind::Column, c)) {
            let col = quote_ident(column);
            let sql = format!(
                "with limited as (select * from ({inner}) limit {SUGGEST_CONSIDER}) \
                 select {col} as value, count(*) as n from limited \
                 where value is not null group by value limit {}",
                query.size + 1
            );
            let Ok(result) = query.run(sql).await else {
                continue;
            };
            let distinct = result.rows.len();
            let repeated = result
                .rows
                .iter()
                .any(|r| matches!(r.get(1), ValueRef::Integer(n) if n > 1));
            if 1 < distinct && (distinct as i64) < row_count && distinct <= query.size && repeated {
                suggestions.push(Suggestion {
                    name: column.clone(),
                    kind: FacetKind::Column,
                    toggle_url: link(FacetKind::Column, column),
                });
            }
        }
    }

    for column in columns.iter().filter(|c| !enabled(FacetKind::Date, c)) {
        let col = quote_ident(column);
        let sql = format!(
            "select date({col}) from (select * from ({inner}) limit {SUGGEST_DATES_CONSIDER}) \
             where {col} glob '????-??-*'"
        );
        let Ok(result) = query.run(sql).await else {
            continue;
        };
        let any_date = result
            .rows
            .iter()
            .any(|r| matches!(r.get(0), ValueRef::Text(t) if !t.is_empty()));
        if any_date {
            suggestions.push(Suggestion {
                name: column.clone(),
                kind: FacetKind::Date,
                toggle_url: link(FacetKind::Date, column),
            });
        }
    }

    for column in columns.iter().filter(|c| !enabled(FacetKind::Array, c)) {
        let col = quote_ident(column);
        let types = format!(
            "with limited as (select * from ({inner}) limit {SUGGEST_CONSIDER}) \
             select distinct json_type({col}) from limited \
             where {col} is not null and {col} != ''"
        );
        let Ok(result) = query.run(types).await else {
            continue;
        };
        let types: Vec<Option<String>> = result
            .rows
            .iter()
            .map(|r| match r.get(0) {
                ValueRef::Text(t) => Some(t.to_owned()),
                _ => None,
            })
            .collect();
        let arrays = Some("array".to_owned());
        if types != [arrays.clone()] && types != [arrays, None] {
            continue;
        }
        let first = format!(
            "select {col} from ({inner}) where {col} is not null and {col} != '' \
             and json_array_length({col}) > 0 limit 100"
        );
        let Ok(result) = query.run(first).await else {
            continue;
        };
        let all_strings = result
            .rows
            .iter()
            .all(|r| matches!(r.get(0), ValueRef::Text(t) if is_array_of_strings(t)));
        if !result.rows.is_empty() && all_strings {
            suggestions.push(Suggestion {
                name: column.clone(),
                kind: FacetKind::Array,
                toggle_url: link(FacetKind::Array, column),
            });
        }
    }
    suggestions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_in_datasette_order() {
        let args = Args::parse(Some(
            "_facet_array=tags&_facet=state&_facet_size=3&_facet={\"column\":\"n\"}&_facet_date=created&_facet=",
        ));
        let got: Vec<(&str, String)> = configs(&args)
            .unwrap()
            .into_iter()
            .map(|c| (c.kind.name(), c.column))
            .collect();
        let want = [
            ("column", "state"),
            ("column", "n"),
            ("date", "created"),
            ("array", "tags"),
        ];
        assert_eq!(got, want.map(|(k, c)| (k, c.to_owned())).to_vec());
        assert!(configs(&Args::parse(Some("_facet={oops"))).is_err());
        assert!(requested(&Args::parse(Some("_facet_size=3"))));
        assert!(!requested(&Args::parse(Some("_facetx=3"))));
    }

    #[test]
    fn sizes() {
        let size = |q: &str| facet_size(&Args::parse(Some(q)), 30, 1000);
        assert_eq!(size(""), 30);
        assert_eq!(size("_facet_size=3"), 3);
        assert_eq!(size("_facet_size=max"), 1000);
        assert_eq!(size("_facet_size=5000"), 1000);
        assert_eq!(size("_facet_size=-1"), 30);
        assert_eq!(size("_facet_size=0"), 0);
    }

    #[test]
    fn sql() {
        assert_eq!(
            facet_sql(FacetKind::Column, "st\"ate", "select * from t", 31),
            "select \"st\"\"ate\" as value, count(*) as count from (select * from t) \
             where \"st\"\"ate\" is not null group by \"st\"\"ate\" order by count desc, value limit 31"
        );
        assert!(
            facet_sql(FacetKind::Date, "created", "select * from t", 4)
                .contains("group by date(\"created\") order by count desc, value limit 4")
        );
        assert!(
            facet_sql(FacetKind::Array, "tags", "select * from t", 4)
                .contains("json_each(filtered.\"tags\")")
        );
    }

    #[test]
    fn toggles() {
        let args = Args::parse(Some("_facet=_city_id&_city_id__exact=1&_size=0"));
        let page = Page {
            path: "/s/db/t.json",
            args: &args,
            origin: "",
        };
        assert_eq!(
            toggle(FacetKind::Column, "_city_id", "1", &page),
            (true, "/s/db/t.json?_facet=_city_id&_size=0".into())
        );
        assert_eq!(
            toggle(FacetKind::Column, "_city_id", "2", &page),
            (
                false,
                "/s/db/t.json?_facet=_city_id&_city_id__exact=1&_size=0&_city_id__exact=2".into()
            )
        );
        assert_eq!(
            toggle(FacetKind::Array, "tags", "a b", &page).1,
            "/s/db/t.json?_facet=_city_id&_city_id__exact=1&_size=0&tags__arraycontains=a+b"
        );
    }
}
