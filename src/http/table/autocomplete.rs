//! `/{db}/{table}/-/autocomplete?q=`: up to ten rows of a table whose key or
//! label column contains `q` (or, with `_initial=1` and no `q`, the newest
//! ten), as Datasette's foreign-key pickers ask for them: exact key matches
//! first, then label matches, shortest first. Under half a second; past it
//! a prefix search of the first key, then nothing.

use std::time::Duration;

use axum::response::Response;
use libsql::Value;
use serde_json::{Map, json};

use crate::error::{AppError, AppResult};
use crate::http::database::open_viewable_table;
use crate::http::json_response;
use crate::http::query::read_error;
use crate::http::tenant::SpaceRequest;
use crate::names::quote_ident;
use crate::read::cells::Row;
use crate::read::exec::{self, ReadError, ResultSet, Statement};
use crate::read::labels::label_column;
use crate::read::values::{Infinity, to_json};

const TIME_LIMIT: Duration = Duration::from_millis(500);

pub async fn show(req: &SpaceRequest, db: &str, table: &str) -> AppResult<Response> {
    let opened = open_viewable_table(req, db, table).await?;
    let schema = opened.table();
    if schema.kind != "table" {
        return Err(AppError::BadRequest(
            "Autocomplete is only available for tables".into(),
        ));
    }
    let args = req.args();
    let q = args.get("q").unwrap_or("").to_owned();
    let initial = match args
        .get("_initial")
        .filter(|v| !v.is_empty() && q.is_empty())
    {
        None => false,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            _ => return Err(AppError::BadRequest("_initial must be on or off".into())),
        },
    };
    if q.is_empty() && !initial {
        return Ok(json_response(json!({"ok": true, "rows": []})));
    }
    let mut keyed: Vec<_> = schema.columns.iter().filter(|c| c.pk > 0).collect();
    keyed.sort_by_key(|c| c.pk);
    let mut pks: Vec<String> = keyed.iter().map(|c| c.name.clone()).collect();
    if pks.is_empty() {
        pks.push("rowid".into());
    }
    let label = label_column(opened.handle.clone(), schema, TIME_LIMIT)
        .await
        .map_err(read_error)?;
    let sql = Search {
        pks: &pks,
        label: label.as_deref(),
        table,
    };
    let escaped = escape_like(&q);
    let mut params = vec![
        (":q".to_owned(), Value::Text(q.clone())),
        (":like".to_owned(), Value::Text(format!("%{escaped}%"))),
        (":prefix".to_owned(), Value::Text(format!("{escaped}%"))),
    ];
    let first = if initial {
        sql.initial()
    } else {
        sql.matching()
    };
    let run = |sql: String, params: Vec<(String, Value)>| {
        exec::run(
            opened.handle.clone(),
            Statement::internal(sql, params, TIME_LIMIT),
        )
    };
    let result = match run(first, params.clone()).await {
        Err(ReadError::TimedOut) => {
            let fallback = match prefix_end(&q) {
                Some(end) => {
                    params.push((":prefix_end".to_owned(), Value::Text(end)));
                    sql.prefix(true)
                }
                None => sql.prefix(false),
            };
            match run(fallback, params).await {
                Err(ReadError::TimedOut) => ResultSet::default(),
                other => other.map_err(read_error)?,
            }
        }
        other => other.map_err(read_error)?,
    };
    Ok(json_response(
        json!({"ok": true, "rows": rows(&result, &pks, label.as_deref())}),
    ))
}

/// The answer's rows: each row's keys, and its label when the table has one.
fn rows(result: &ResultSet, pks: &[String], label: Option<&str>) -> Vec<serde_json::Value> {
    let value = |row: &Row, name: &str| {
        result
            .column_index(name)
            .map_or(serde_json::Value::Null, |i| {
                to_json(&row.value(i), Infinity::Null)
            })
    };
    result
        .rows
        .iter()
        .map(|row| {
            let keys: Map<String, serde_json::Value> =
                pks.iter().map(|pk| (pk.clone(), value(&row, pk))).collect();
            let mut item = json!({"pks": keys});
            if let Some(label) = label {
                item["label"] = value(&row, label);
            }
            item
        })
        .collect()
}

/// The SQL of the three searches.
struct Search<'a> {
    pks: &'a [String],
    label: Option<&'a str>,
    table: &'a str,
}

impl Search<'_> {
    fn select(&self, condition: &str, order: &str) -> String {
        let mut columns: Vec<&str> = self.pks.iter().map(String::as_str).collect();
        if let Some(label) = self.label.filter(|l| !columns.contains(l)) {
            columns.push(label);
        }
        let columns: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        format!(
            "select {} from {} where {condition} order by {order} limit 10",
            columns.join(", "),
            quote_ident(self.table)
        )
    }

    fn matching(&self) -> String {
        let mut searched: Vec<&str> = self.pks.iter().map(String::as_str).collect();
        if let Some(label) = self.label.filter(|l| !searched.contains(l)) {
            searched.push(label);
        }
        let condition: Vec<String> = searched.iter().map(|c| like(c, ":like")).collect();
        let mut order = Vec::new();
        if let [only] = self.pks {
            order.push(format!(
                "case when cast({} as text) = :q then 0 else 1 end",
                quote_ident(only)
            ));
        }
        match self.label {
            Some(label) => {
                order.push(format!(
                    "case when {} then 0 else 1 end",
                    like(label, ":like")
                ));
                order.push(format!(
                    "case when {} then length(cast({} as text)) end",
                    like(label, ":like"),
                    quote_ident(label)
                ));
            }
            None => order.push(format!(
                "length(cast({} as text))",
                quote_ident(&self.pks[0])
            )),
        }
        order.extend(self.pks.iter().map(|pk| quote_ident(pk)));
        self.select(&condition.join(" or "), &order.join(", "))
    }

    /// With `_initial`: the rows with the highest first key.
    fn initial(&self) -> String {
        let mut order = vec![format!("{} desc", quote_ident(&self.pks[0]))];
        order.extend(self.pks[1..].iter().map(|pk| quote_ident(pk)));
        self.select("1 = 1", &order.join(", "))
    }

    /// The fallback: the first key starts with `q` (as a range when possible, for an index).
    fn prefix(&self, ranged: bool) -> String {
        let first = quote_ident(&self.pks[0]);
        let mut condition = like(&self.pks[0], ":prefix");
        if ranged {
            condition = format!("{first} >= :q and {first} < :prefix_end and {condition}");
        }
        let order: Vec<String> = self.pks.iter().map(|pk| quote_ident(pk)).collect();
        self.select(&condition, &order.join(", "))
    }
}

fn like(column: &str, pattern: &str) -> String {
    format!("{} like {pattern} escape char(92)", quote_ident(column))
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The smallest text greater than every text starting with `text`: its last
/// character that can grow, grown, and what follows it dropped.
fn prefix_end(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len()).rev().find_map(|i| {
        let next = char::from_u32(chars[i] as u32 + 1)?;
        Some(chars[..i].iter().chain(std::iter::once(&next)).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(escape_like("50%_a\\"), "50\\%\\_a\\\\");
    }
}
