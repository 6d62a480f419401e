//! The row page, `/{space}/{db}/{table}/{pk}`: every column of one row
//! (foreign keys as links), and the rows of other tables that reference it.

use askama::Template;
use axum::response::Response;
use libsql::Value;

use super::{Cell, Chrome, html};
use crate::catalog::databases::DatabaseRow;
use crate::error::AppResult;
use crate::http::tenant::SpaceRequest;
use crate::names::{quote_ident, tilde_encode};
use crate::permissions::Resource;
use crate::read::args::{Args, encode};
use crate::read::exec::{self, Statement};
use crate::read::values::to_text;
use crate::sqlite::ValueRef;
use crate::tenant::{Schema, TenantDb};

struct Incoming {
    table: String,
    column: String,
    count: Option<i64>,
    href: String,
}

#[derive(Template)]
#[template(path = "row.html")]
struct RowPage {
    chrome: Chrome,
    database: String,
    table: String,
    table_path: String,
    key: String,
    fields: Vec<(String, Cell)>,
    incoming: Vec<Incoming>,
    json_url: String,
    row_path: String,
    controls: super::rows::RowControls,
}

/// The row page: the row's fields, then the tables that point at it.
#[allow(clippy::too_many_arguments)]
pub async fn page(
    req: &SpaceRequest,
    database: &DatabaseRow,
    handle: std::sync::Arc<TenantDb>,
    schema: &Schema,
    table: &str,
    key: &[String],
    columns: &[String],
    row: &[Value],
) -> AppResult<Response> {
    let db_path = format!("{}/{}", req.base, database.name);
    let table_path = format!("{db_path}/{}", tilde_encode(table));
    let fields = fields(req, database, schema, table, columns, row).await?;
    let incoming = incoming(req, database, handle, schema, table, columns, row).await?;
    let key_path = key
        .iter()
        .map(|k| tilde_encode(k))
        .collect::<Vec<_>>()
        .join(",");
    let row_path = format!("{table_path}/{key_path}");
    let is_view = schema.table(table).is_none_or(|t| t.kind != "table");
    let controls =
        super::rows::RowControls::of(req, &database.name, table, is_view, &row_path).await?;
    html(RowPage {
        chrome: Chrome::for_space(req).await?,
        database: database.name.clone(),
        table: table.to_owned(),
        json_url: format!("{table_path}/{key_path}.json"),
        row_path,
        controls,
        table_path,
        key: key.join(", "),
        fields,
        incoming,
    })
}

/// Whether the actor may view `other`, a table of the same database.
async fn viewable(req: &SpaceRequest, database: &DatabaseRow, other: String) -> AppResult<bool> {
    let allowed = req
        .app
        .allowed(
            req.space_id(),
            &req.actor,
            "view-table",
            Resource::Table(database.name.clone(), other),
        )
        .await?;
    Ok(allowed)
}

/// Each column with its cell; a foreign key the actor may follow links to
/// the row it names.
async fn fields(
    req: &SpaceRequest,
    database: &DatabaseRow,
    schema: &Schema,
    table: &str,
    columns: &[String],
    row: &[Value],
) -> AppResult<Vec<(String, Cell)>> {
    let limit = req.space.settings.int("truncate_cells_html");
    let db_path = format!("{}/{}", req.base, database.name);
    let this = schema.table(table);
    let mut fields = Vec::new();
    for (column, value) in columns.iter().zip(row) {
        let mut cell = Cell::value(value, limit);
        let fk = this.and_then(|t| t.foreign_keys.iter().find(|fk| &fk.column == column));
        if let Some(fk) = fk
            && !matches!(value, Value::Null)
            && viewable(req, database, fk.other_table.clone()).await?
        {
            cell.href = Some(format!(
                "{db_path}/{}/{}",
                tilde_encode(&fk.other_table),
                tilde_encode(&to_text(value))
            ));
        }
        fields.push((column.clone(), cell));
    }
    Ok(fields)
}

/// The viewable tables with a foreign key to this one, each with how many
/// of its rows point at this row and a link to them.
async fn incoming(
    req: &SpaceRequest,
    database: &DatabaseRow,
    handle: std::sync::Arc<TenantDb>,
    schema: &Schema,
    table: &str,
    columns: &[String],
    row: &[Value],
) -> AppResult<Vec<Incoming>> {
    let db_path = format!("{}/{}", req.base, database.name);
    let time_limit = req.time_limit(&Args::default());
    let mut incoming = Vec::new();
    for other in &schema.tables {
        for fk in other
            .foreign_keys
            .iter()
            .filter(|fk| fk.other_table == table)
        {
            if !viewable(req, database, other.name.clone()).await? {
                continue;
            }
            let Some(i) = columns.iter().position(|c| *c == fk.other_column) else {
                continue;
            };
            let value = row[i].clone();
            let count = count_pointing(&handle, &other.name, &fk.column, &value, time_limit).await;
            incoming.push(Incoming {
                href: format!(
                    "{db_path}/{}?{}",
                    tilde_encode(&other.name),
                    encode([(fk.column.as_str(), to_text(&value).as_str())])
                ),
                table: other.name.clone(),
                column: fk.column.clone(),
                count,
            });
        }
    }
    Ok(incoming)
}

/// Rows of `other` whose `column` equals `value`; `None` when counting
/// fails or runs out of time.
async fn count_pointing(
    handle: &std::sync::Arc<TenantDb>,
    other: &str,
    column: &str,
    value: &Value,
    time_limit: std::time::Duration,
) -> Option<i64> {
    let sql = format!(
        "select count(*) from {} where {} = :p0",
        quote_ident(other),
        quote_ident(column)
    );
    let statement = Statement::internal(sql, vec![(":p0".into(), value.clone())], time_limit);
    match exec::run(handle.clone(), statement).await {
        Ok(result) => match result.rows.first().and_then(|r| r.first()) {
            Some(ValueRef::Integer(n)) => Some(n),
            _ => None,
        },
        Err(_) => None,
    }
}
