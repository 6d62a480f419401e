//! Foreign-key labels for a table page: which columns `_labels`/`_label`
//! expand, the labels of their values (only from tables the actor may
//! view), and `_extra=expandable_columns`.

use std::collections::HashMap;

use libsql::Value;
use serde_json::{Value as Json, json};

use crate::catalog::mirror::ForeignKey;
use crate::error::AppResult;
use crate::http::table::TableContext;
use crate::permissions::Resource;
use crate::read::labels::{self, Labels};

/// Datasette's `value_as_boolean`: `None` for anything else.
fn as_boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// The columns a request expands: `_label=COL` (repeatable) wins over
/// `_labels=on`, which expands every foreign key.
fn columns_to_expand(ctx: &TableContext<'_>) -> Vec<String> {
    if ctx.args.has("_label") {
        return ctx
            .args
            .get_all("_label")
            .into_iter()
            .map(str::to_owned)
            .collect();
    }
    let all = ctx
        .args
        .get("_labels")
        .and_then(as_boolean)
        .unwrap_or(false);
    if all {
        ctx.table()
            .foreign_keys
            .iter()
            .map(|fk| fk.column.clone())
            .collect()
    } else {
        Vec::new()
    }
}

/// May the actor view `table` of this page's database?
async fn viewable(ctx: &TableContext<'_>, table: &str) -> AppResult<bool> {
    Ok(ctx
        .req
        .app
        .allowed(
            ctx.req.space_id(),
            &ctx.req.actor,
            "view-table",
            Resource::Table(ctx.database.name.clone(), table.to_owned()),
        )
        .await?)
}

/// The labels of `values` of the foreign-key column `fk`, or `None` when the
/// key points nowhere or at a table the actor may not view.
pub async fn for_values(
    ctx: &TableContext<'_>,
    fk: &ForeignKey,
    values: &[Value],
) -> AppResult<Option<Labels>> {
    let Some(target) = labels::target(&ctx.schema, fk) else {
        return Ok(None);
    };
    if !viewable(ctx, &target.table.name).await? {
        return Ok(None);
    }
    let limit = ctx.req.time_limit(ctx.args);
    let label_column = labels::label_column(ctx.handle.clone(), target.table, limit)
        .await
        .map_err(crate::http::query::read_error)?;
    let found = labels::fetch(
        ctx.handle.clone(),
        &target,
        label_column.as_deref(),
        values,
        limit,
    )
    .await
    .map_err(crate::http::query::read_error)?;
    Ok(Some(found))
}

/// The labels to write into the page's rows, by column.
pub async fn for_page(ctx: &TableContext<'_>) -> AppResult<HashMap<String, Labels>> {
    let wanted = columns_to_expand(ctx);
    let mut expanded = HashMap::new();
    if wanted.is_empty() {
        return Ok(expanded);
    }
    for fk in &ctx.table().foreign_keys {
        if !wanted.contains(&fk.column) {
            continue;
        }
        let Some(index) = ctx.plan.columns.iter().position(|c| *c == fk.column) else {
            continue;
        };
        let values: Vec<Value> = ctx.rows.iter().map(|row| row.value(index)).collect();
        if let Some(found) = for_values(ctx, fk, &values).await?
            && !found.is_empty()
        {
            expanded.insert(fk.column.clone(), found);
        }
    }
    Ok(expanded)
}

/// `_extra=expandable_columns`: each foreign key with its target's label column.
pub async fn expandable_columns(ctx: &TableContext<'_>) -> AppResult<Vec<Json>> {
    let limit = ctx.req.time_limit(ctx.args);
    let mut out = Vec::new();
    for fk in &ctx.table().foreign_keys {
        let label_column = match ctx
            .schema
            .tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&fk.other_table))
        {
            // The label column of a table the actor may not view is not theirs to learn.
            Some(table) if viewable(ctx, &table.name).await? => {
                labels::label_column(ctx.handle.clone(), table, limit)
                    .await
                    .map_err(crate::http::query::read_error)?
            }
            _ => None,
        };
        out.push(json!([
            {"column": fk.column, "other_table": fk.other_table, "other_column": fk.other_column},
            label_column,
        ]));
    }
    Ok(out)
}
