//! What a table answer adds beside its rows: `_extra=` options, facets and
//! labels, each computed only when asked for.

use std::collections::{BTreeSet, HashMap};

use libsql::Value;
use serde_json::{Map, Value as Json, json};

use super::{facets as table_facets, labels as table_labels};
use crate::error::{AppError, AppResult};
use crate::http::table::TableContext;
use crate::http::table::extra_names::{self, Scope};
use crate::http::table::extra_values::{
    column_details, css_class, database_color, private, request_json,
};
use crate::read::exec::{self, ReadError, Statement};
use crate::read::facets;
use crate::read::labels::Labels;
use crate::read::values::{Infinity, to_json};

/// Datasette stops counting after this many rows (and says so with `count_truncated`).
const COUNT_LIMIT: i64 = 10_000;

/// The labels `_labels`/`_label` ask for, by column, for the page's rows.
pub async fn labels(ctx: &TableContext<'_>) -> AppResult<HashMap<String, Labels>> {
    table_labels::for_page(ctx).await
}

/// The extras a request asks for, explicitly or implied by other arguments.
fn wanted(ctx: &TableContext<'_>) -> AppResult<BTreeSet<String>> {
    let mut extras = extra_names::requested(ctx.args, Scope::Table)?;
    if facets::requested(ctx.args) {
        extras.insert("facet_results".into());
    }
    if ctx.args.get("_shape") == Some("object") {
        extras.insert("primary_keys".into());
    }
    if extras.contains("count") {
        extras.insert("count_truncated".into());
    }
    Ok(extras)
}

/// How facet values that are infinite floats are written (`_json_infinity`).
fn infinity(ctx: &TableContext<'_>) -> Infinity {
    match ctx.args.get("_json_infinity") {
        Some("on" | "1" | "true" | "yes") => Infinity::Literal,
        _ => Infinity::Null,
    }
}

/// A query argument that is present and not blank.
fn flag(ctx: &TableContext<'_>, name: &str) -> bool {
    ctx.args.get(name).is_some_and(|v| !v.is_empty())
}

/// Which work the request switched off (`_nocount`, `_nofacet`,
/// `_nosuggest`; a bare `_shape` skips counting and facets too).
#[derive(Clone, Copy)]
struct Skips {
    bare_shape: bool,
    nocount: bool,
    nofacet: bool,
    nosuggest: bool,
}

impl Skips {
    fn of(ctx: &TableContext<'_>) -> Self {
        let bare_shape = matches!(ctx.args.get("_shape"), Some("array" | "object"));
        Skips {
            bare_shape,
            nocount: flag(ctx, "_nocount") || bare_shape,
            nofacet: flag(ctx, "_nofacet") || bare_shape,
            nosuggest: flag(ctx, "_nosuggest"),
        }
    }
}

/// Adds every requested extra to `body`, in Datasette's key order.
pub async fn add(ctx: &TableContext<'_>, body: &mut Map<String, Json>) -> AppResult<()> {
    let extras = wanted(ctx)?;
    refuse_facets_unless_allowed(ctx)?;
    let skips = Skips::of(ctx);
    let count = add_counts(ctx, &extras, skips, body).await?;
    add_facet_results(ctx, &extras, skips, body).await?;
    add_suggested_facets(ctx, &extras, skips, count, body).await?;
    add_columns(ctx, &extras, body).await?;
    add_request_details(ctx, &extras, skips, body);
    add_page_details(ctx, &extras, body);
    let expandable = if extras.contains("expandable_columns") || extras.contains("renderers") {
        table_labels::expandable_columns(ctx).await?
    } else {
        Vec::new()
    };
    add_templates(ctx, &extras, !expandable.is_empty(), body);
    add_definitions(ctx, &extras, body).await?;
    if extras.contains("expandable_columns") {
        body.insert("expandable_columns".into(), json!(expandable));
    }
    if extras.contains("form_hidden_args") {
        body.insert("form_hidden_args".into(), form_hidden_args(ctx));
    }
    Ok(())
}

/// Any `_facet` argument is refused when the space turned facets off.
fn refuse_facets_unless_allowed(ctx: &TableContext<'_>) -> AppResult<()> {
    let asks = ctx
        .args
        .pairs()
        .iter()
        .any(|(k, _)| k.starts_with("_facet"));
    if !ctx.req.space.settings.flag("allow_facet") && asks {
        return Err(AppError::BadRequest("_facet= is not allowed".into()));
    }
    Ok(())
}

/// `count`, `count_truncated` and `count_sql`; returns the count, which
/// facet suggestions reuse.
async fn add_counts(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    skips: Skips,
    body: &mut Map<String, Json>,
) -> AppResult<Option<i64>> {
    let has = |name: &str| extras.contains(name);
    let count = if has("count") || has("count_truncated") || has("suggested_facets") {
        if skips.nocount {
            None
        } else {
            count(ctx).await?
        }
    } else {
        None
    };
    if has("count") {
        body.insert("count".into(), json!(count));
    }
    if has("count_truncated") {
        body.insert(
            "count_truncated".into(),
            json!(count == Some(COUNT_LIMIT + 1)),
        );
    }
    if has("count_sql") {
        body.insert("count_sql".into(), json!(ctx.plan.count_sql()));
    }
    Ok(count)
}

/// `facet_results`, `facets_timed_out` and `sorted_facet_results`, from one
/// run of the facets.
async fn add_facet_results(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    skips: Skips,
    body: &mut Map<String, Json>,
) -> AppResult<()> {
    let has = |name: &str| extras.contains(name);
    if !(has("facet_results") || has("facets_timed_out") || has("sorted_facet_results")) {
        return Ok(());
    }
    let (results, timed_out) = if skips.nofacet {
        (Vec::new(), Vec::new())
    } else {
        table_facets::results(ctx).await?
    };
    if has("facet_results") {
        let json = table_facets::results_json(&results, &timed_out, infinity(ctx));
        body.insert("facet_results".into(), json);
    }
    if has("facets_timed_out") {
        body.insert("facets_timed_out".into(), json!(timed_out));
    }
    if has("sorted_facet_results") {
        let json = table_facets::sorted_json(&results, infinity(ctx));
        body.insert("sorted_facet_results".into(), json);
    }
    Ok(())
}

/// `suggested_facets`: empty unless the settings and the request allow them.
async fn add_suggested_facets(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    skips: Skips,
    count: Option<i64>,
    body: &mut Map<String, Json>,
) -> AppResult<()> {
    if !extras.contains("suggested_facets") {
        return Ok(());
    }
    let settings = &ctx.req.space.settings;
    let allowed = settings.flag("suggest_facets")
        && settings.flag("allow_facet")
        && !flag(ctx, "_next")
        && !skips.nofacet
        && !skips.nosuggest;
    let suggested = if allowed {
        table_facets::suggested(ctx, count).await?
    } else {
        json!([])
    };
    body.insert("suggested_facets".into(), suggested);
    Ok(())
}

/// The description of the query and the extras about its columns, up to
/// `render_cell`.
async fn add_columns(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    body: &mut Map<String, Json>,
) -> AppResult<()> {
    let has = |name: &str| extras.contains(name);
    if has("human_description_en") {
        body.insert("human_description_en".into(), json!(human_description(ctx)));
    }
    if has("columns") {
        body.insert("columns".into(), json!(ctx.plan.columns));
    }
    if has("all_columns") {
        body.insert("all_columns".into(), json!(ctx.info.columns));
    }
    if has("primary_keys") {
        body.insert("primary_keys".into(), json!(ctx.info.pks));
    }
    if has("column_details") {
        let limit = ctx.req.time_limit(ctx.args);
        let details = column_details(ctx.handle.clone(), &ctx.info.name, limit).await?;
        body.insert("column_details".into(), details);
    }
    if has("display_columns") {
        body.insert("display_columns".into(), display_columns(ctx));
    }
    if has("render_cell") {
        body.insert("render_cell".into(), json!(vec![json!({}); ctx.rows.len()]));
    }
    Ok(())
}

/// `debug`, `request` and `query`: how the request was understood.
fn add_request_details(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    skips: Skips,
    body: &mut Map<String, Json>,
) {
    if extras.contains("debug") {
        body.insert("debug".into(), debug_json(ctx, skips));
    }
    if extras.contains("request") {
        let path = format!("{}.json", ctx.table_path());
        body.insert("request".into(), request_json(ctx.req, &path, ctx.args));
    }
    if extras.contains("query") {
        body.insert("query".into(), query_json(ctx));
    }
}

/// The `debug` extra: URL variables, the resolved table and the skip flags.
fn debug_json(ctx: &TableContext<'_>, skips: Skips) -> Json {
    json!({
        "url_vars": {"database": ctx.database.name, "table": ctx.info.name, "format": "json"},
        "resolved": format!(
            "ResolvedTable(db=<Database: {}>, table={:?}, is_view={})",
            ctx.database.name,
            ctx.info.name,
            if ctx.info.is_view { "True" } else { "False" }
        ),
        "nofacet": if skips.bare_shape { json!(true) } else { json!(ctx.args.get("_nofacet")) },
        "nosuggest": ctx.args.get("_nosuggest"),
    })
}

/// The `query` extra: the page's SQL and its parameters without their `:`.
fn query_json(ctx: &TableContext<'_>) -> Json {
    let params: Map<String, Json> = ctx
        .plan
        .params
        .0
        .iter()
        .map(|(k, v)| {
            (
                k.trim_start_matches(':').to_owned(),
                to_json(v, Infinity::Null),
            )
        })
        .collect();
    json!({"sql": ctx.plan.sql, "params": params})
}

/// Extras with fixed or name-derived values, from `column_types` to
/// `database_color`.
fn add_page_details(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    body: &mut Map<String, Json>,
) {
    let has = |name: &str| extras.contains(name);
    if has("column_types") {
        body.insert("column_types".into(), json!({}));
    }
    if has("set_column_type_ui") {
        body.insert("set_column_type_ui".into(), Json::Null);
    }
    if has("metadata") {
        body.insert("metadata".into(), json!({"columns": {}}));
    }
    if has("extras") {
        let path = format!("{}.json", ctx.table_path());
        let listing = extra_names::listing(Scope::Table, extras, &path, ctx.args, &ctx.req.origin);
        body.insert("extras".into(), listing);
    }
    if has("database") {
        body.insert("database".into(), json!(ctx.database.name));
    }
    if has("table") {
        body.insert("table".into(), json!(ctx.info.name));
    }
    if has("database_color") {
        body.insert(
            "database_color".into(),
            json!(database_color(&ctx.database.name)),
        );
    }
}

/// `renderers` (with `_labels=on` when some column can expand) and
/// `custom_table_templates`.
fn add_templates(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    expandable: bool,
    body: &mut Map<String, Json>,
) {
    if extras.contains("renderers") {
        let mut extra = "_format=json".to_owned();
        if expandable {
            extra.push_str("&_labels=on");
        }
        let query = match ctx.req.query() {
            Some(q) if !q.is_empty() => format!("{q}&{extra}"),
            _ => extra,
        };
        let json_url = format!("{}.json?{query}", ctx.table_path());
        body.insert("renderers".into(), json!({"json": json_url}));
    }
    if extras.contains("custom_table_templates") {
        let (db, table) = (css_class(&ctx.database.name), css_class(&ctx.info.name));
        body.insert(
            "custom_table_templates".into(),
            json!([
                format!("_table-{db}-{table}.html"),
                format!("_table-table-{db}-{table}.html"),
                "_table.html",
            ]),
        );
    }
}

/// `table_definition`, `view_definition`, `is_view` and `private`.
async fn add_definitions(
    ctx: &TableContext<'_>,
    extras: &BTreeSet<String>,
    body: &mut Map<String, Json>,
) -> AppResult<()> {
    if extras.contains("table_definition") {
        let sql = definition(ctx, "table").await?;
        body.insert("table_definition".into(), json!(sql));
    }
    if extras.contains("view_definition") {
        let sql = definition(ctx, "view").await?;
        body.insert("view_definition".into(), json!(sql));
    }
    if extras.contains("is_view") {
        body.insert("is_view".into(), json!(ctx.info.is_view));
    }
    if extras.contains("private") {
        let private = private(ctx.req, &ctx.database.name, &ctx.info.name).await?;
        body.insert("private".into(), json!(private));
    }
    Ok(())
}

/// The `form_hidden_args` extra: `_` arguments the table form carries along.
fn form_hidden_args(ctx: &TableContext<'_>) -> Json {
    let hidden: Vec<Json> = ctx
        .args
        .pairs()
        .iter()
        .filter(|(k, _)| {
            k.starts_with('_')
                && !["_sort", "_sort_desc", "_search", "_next"].contains(&k.as_str())
                && !k.contains("__")
        })
        .map(|(k, v)| json!([k, v]))
        .collect();
    json!(hidden)
}

/// Runs one internal statement under the request's time limit.
async fn run(
    ctx: &TableContext<'_>,
    sql: String,
    params: Vec<(String, Value)>,
) -> Result<Vec<Vec<Value>>, ReadError> {
    let statement = Statement::internal(sql, params, ctx.req.time_limit(ctx.args));
    Ok(exec::run(ctx.handle.clone(), statement)
        .await?
        .rows
        .to_values())
}

/// The filtered rows' count, up to one past Datasette's limit; `None` when
/// counting ran out of time.
async fn count(ctx: &TableContext<'_>) -> AppResult<Option<i64>> {
    let sql = format!(
        "select count(*) from ({} limit {})",
        ctx.plan.from_filtered_sql(&ctx.info),
        COUNT_LIMIT + 1
    );
    match run(ctx, sql, ctx.plan.filter_params.0.clone()).await {
        Ok(rows) => Ok(match rows.first().map(|r| &r[0]) {
            Some(Value::Integer(n)) => Some(*n),
            _ => None,
        }),
        Err(ReadError::TimedOut) => Ok(None),
        Err(other) => Err(crate::http::query::read_error(other)),
    }
}

/// `where a, b and c sorted by x descending`, from the filters' descriptions.
fn human_description(ctx: &TableContext<'_>) -> String {
    let bits = &ctx.conditions.descriptions;
    let mut text = match bits.split_last() {
        None => String::new(),
        Some((last, [])) => format!("where {last}"),
        Some((last, rest)) => format!("where {} and {last}", rest.join(", ")),
    };
    if let Some(sort) = ctx.plan.sort.as_ref().or(ctx.plan.sort_desc.as_ref()) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("sorted by {sort}"));
        if ctx.plan.sort_desc.is_some() {
            text.push_str(" descending");
        }
    }
    text
}

/// Column headings as Datasette's HTML table shows them, with its link column.
fn display_columns(ctx: &TableContext<'_>) -> Json {
    let table = ctx.table();
    let detail = |name: &str| table.columns.iter().find(|c| c.name == name);
    let is_key = |name: &str| ctx.info.key_columns().iter().any(|k| k == name);
    let sortable = |name: &str| {
        ctx.info.columns.iter().any(|c| c == name) || (ctx.info.use_rowid() && name == "rowid")
    };
    let heading = |name: &str| {
        let (decl, notnull) = match detail(name) {
            Some(c) => (c.decl_type.clone(), c.notnull as i64),
            None => ("integer".to_owned(), 0),
        };
        json!({
            "name": name,
            "sortable": sortable(name),
            "is_pk": is_key(name),
            "type": decl,
            "notnull": notnull,
            "description": null,
            "column_type": null,
            "column_type_config": null,
        })
    };
    let mut columns: Vec<Json> = Vec::new();
    if !ctx.info.is_view {
        if let [pk] = ctx.info.pks.as_slice() {
            let c = detail(pk);
            columns.push(json!({
                "name": pk,
                "sortable": sortable(pk),
                "is_pk": true,
                "type": c.map(|c| c.decl_type.clone()).unwrap_or_default(),
                "notnull": c.map(|c| c.notnull as i64).unwrap_or(0),
            }));
        } else {
            columns.push(json!({
                "name": "Link", "sortable": false, "is_pk": false, "type": "",
                "notnull": 0, "is_special_link_column": true,
            }));
        }
    }
    let single_pk = (!ctx.info.is_view && ctx.info.pks.len() == 1).then(|| &ctx.info.pks[0]);
    for name in &ctx.plan.columns {
        if Some(name) != single_pk {
            columns.push(heading(name));
        }
    }
    Json::Array(columns)
}

/// The SQL that created the table or view, with its indexes; `None` when
/// the name is not of that kind.
async fn definition(ctx: &TableContext<'_>, kind: &str) -> AppResult<Option<String>> {
    let name = Value::Text(ctx.info.name.clone());
    let rows = run(
        ctx,
        "select sql from sqlite_master where name = :n and type = :t".into(),
        vec![
            (":n".into(), name.clone()),
            (":t".into(), Value::Text(kind.into())),
        ],
    )
    .await
    .map_err(crate::http::query::read_error)?;
    let Some(Value::Text(sql)) = rows.first().map(|r| &r[0]) else {
        return Ok(None);
    };
    let mut bits = vec![format!("{sql};")];
    let indexes = run(
        ctx,
        "select sql from sqlite_master where tbl_name = :n and type = 'index' and sql is not null"
            .into(),
        vec![(":n".into(), name)],
    )
    .await
    .map_err(crate::http::query::read_error)?;
    for row in indexes {
        if let Value::Text(sql) = &row[0] {
            bits.push(format!("{sql};"));
        }
    }
    Ok(Some(bits.join("\n")))
}
