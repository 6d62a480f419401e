//! Facets on a table page: runs the requested facets and the suggestions
//! over the filtered rows under their time limits, and labels the values
//! of foreign-key column facets.

use std::time::Duration;

use serde_json::{Map, Value as Json, json};

use crate::http::table::TableContext;

use crate::error::{AppError, AppResult};
use crate::read::facets::{self, FacetKind, FacetQuery, FacetResult, Page};
use crate::read::labels::Key;
use crate::read::values::Infinity;

/// A facet time limit: the setting, never more than the SQL time limit.
fn limit(ctx: &TableContext<'_>, setting: &str) -> Duration {
    let settings = &ctx.req.space.settings;
    let ms = settings
        .int(setting)
        .min(settings.int("sql_time_limit_ms"))
        .max(1);
    Duration::from_millis(ms)
}

fn query<'a>(ctx: &'a TableContext<'_>, time_limit: Duration) -> FacetQuery<'a> {
    let settings = &ctx.req.space.settings;
    FacetQuery {
        handle: ctx.handle.clone(),
        sql: ctx.plan.from_filtered_sql(&ctx.info),
        params: &ctx.plan.filter_params.0,
        size: facets::facet_size(
            ctx.args,
            settings.int("default_facet_size") as usize,
            settings.int("max_returned_rows") as usize,
        ),
        time_limit,
    }
}

/// Where the facets' toggle links point: this table's JSON, with the request's arguments.
fn page<'a>(ctx: &'a TableContext<'_>, path: &'a str) -> Page<'a> {
    Page {
        path,
        args: ctx.args,
        origin: &ctx.req.origin,
    }
}

/// The facets' results (in request order) and the names of those that timed out.
pub async fn results(ctx: &TableContext<'_>) -> AppResult<(Vec<FacetResult>, Vec<String>)> {
    let configs = facets::configs(ctx.args).map_err(|e| AppError::BadRequest(e.0))?;
    let path = format!("{}.json", ctx.table_path());
    let page = page(ctx, &path);
    let query = query(ctx, limit(ctx, "facet_time_limit_ms"));
    let (mut results, timed_out) = facets::run(&query, &page, &configs)
        .await
        .map_err(crate::http::query::read_error)?;
    for result in results.iter_mut().filter(|r| r.kind == FacetKind::Column) {
        let Some(fk) = ctx
            .table()
            .foreign_keys
            .iter()
            .find(|fk| fk.column == result.name)
        else {
            continue;
        };
        let values: Vec<_> = result.results.iter().map(|v| v.value.clone()).collect();
        if let Some(labels) = super::labels::for_values(ctx, fk, &values).await? {
            for item in &mut result.results {
                if let Some(label) = Key::of(&item.value).and_then(|k| labels.get(&k)) {
                    item.label = label.clone();
                }
            }
        }
    }
    Ok((results, timed_out))
}

/// `facet_results`: results keyed by facet name (`name_2`… for repeats).
pub fn results_json(results: &[FacetResult], timed_out: &[String], infinity: Infinity) -> Json {
    let mut keyed = Map::new();
    for result in results {
        let mut key = result.name.clone();
        let mut n = 1;
        while keyed.contains_key(&key) {
            n += 1;
            key = format!("{}_{n}", result.name);
        }
        keyed.insert(key, result.to_json(infinity));
    }
    json!({"results": keyed, "timed_out": timed_out})
}

/// `sorted_facet_results`: most values first, then by name, descending.
pub fn sorted_json(results: &[FacetResult], infinity: Infinity) -> Json {
    let mut sorted: Vec<&FacetResult> = results.iter().collect();
    sorted.sort_by(|a, b| (b.results.len(), &b.name).cmp(&(a.results.len(), &a.name)));
    Json::Array(sorted.into_iter().map(|r| r.to_json(infinity)).collect())
}

/// `suggested_facets`, given the filtered rows' count when it is known.
pub async fn suggested(ctx: &TableContext<'_>, count: Option<i64>) -> AppResult<Json> {
    let configs = facets::configs(ctx.args).map_err(|e| AppError::BadRequest(e.0))?;
    let path = format!("{}.json", ctx.table_path());
    let page = page(ctx, &path);
    let query = query(ctx, limit(ctx, "facet_suggest_time_limit_ms"));
    let mut columns = ctx.info.columns.clone();
    if ctx.info.use_rowid() {
        columns.insert(0, "rowid".into());
    }
    let suggestions = facets::suggest(&query, &page, &configs, &columns, count).await;
    Ok(Json::Array(
        suggestions.iter().map(|s| s.to_json()).collect(),
    ))
}
