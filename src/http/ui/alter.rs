//! The alter-table form, `/{db}/{table}/-/alter-table`: each column with its
//! name and type to change and a box to drop it, and a new column to add.
//! The form becomes `/-/alter` operations (`add_column`, `rename_column`,
//! `alter_column`, `drop_column`), run by the JSON API's own code in one
//! transaction, with its permission check and audit row.

use askama::Template;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value as Json, json};

use super::tables::{TYPES, in_place, paths};
use super::{Chrome, check_form_token, field, flash, html_status, read_form};
use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::http::routes::TableWrite;
use crate::http::tenant::SpaceRequest;
use crate::http::write::{self, Body as WriteBody};

/// One column of the form: as it is, and as the form would have it.
pub struct ColumnRow {
    pub name: String,
    pub decl_type: String,
    pub key: bool,
    pub new_name: String,
    /// The type chosen (one of [`TYPES`]).
    pub kind: String,
    pub drop: bool,
    /// Where the form puts it (1 is first); ties keep the table's order.
    pub position: usize,
}

#[derive(Template)]
#[template(path = "alter_table.html")]
struct AlterPage {
    chrome: Chrome,
    database: String,
    database_path: String,
    table: String,
    table_path: String,
    columns: Vec<ColumnRow>,
    add_name: String,
    add_type: String,
    types: [&'static str; 4],
    error: Option<String>,
}

/// The form's type for a declared type, by SQLite's affinity rules.
fn api_type(decl_type: &str) -> &'static str {
    let t = decl_type.trim().to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if t.is_empty() || t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text"
    } else if t.contains("BLOB") {
        "blob"
    } else {
        "float"
    }
}

/// The table's columns, with what a submitted form changes.
fn rows(table: &TableSchema, form: Option<&[(String, String)]>) -> Vec<ColumnRow> {
    let mut rows: Vec<ColumnRow> = table
        .columns
        .iter()
        .filter(|c| !c.hidden)
        .enumerate()
        .map(|(i, c)| ColumnRow {
            position: i + 1,
            name: c.name.clone(),
            decl_type: c.decl_type.clone(),
            key: c.pk > 0,
            new_name: c.name.clone(),
            kind: api_type(&c.decl_type).to_owned(),
            drop: false,
        })
        .collect();
    let Some(form) = form else {
        return rows;
    };
    for i in 0..1000 {
        let Some(name) = field(form, &format!("col.{i}")) else {
            break;
        };
        if let Some(row) = rows.iter_mut().find(|r| r.name == name) {
            let to = field(form, &format!("name.{i}")).unwrap_or(name).trim();
            row.new_name = to.to_owned();
            row.kind = field(form, &format!("type.{i}"))
                .unwrap_or(&row.kind)
                .to_owned();
            row.drop = field(form, &format!("drop.{i}")).is_some();
            if let Some(position) =
                field(form, &format!("pos.{i}")).and_then(|p| p.trim().parse().ok())
            {
                row.position = position;
            }
        }
    }
    rows
}

/// The `/-/alter` operations a form asks for, by the columns' current names.
fn operations(rows: &[ColumnRow], add_name: &str, add_type: &str) -> AppResult<Vec<Json>> {
    let mut ops = Vec::new();
    if !add_name.is_empty() {
        ops.push(json!({"op": "add_column", "args": {"name": add_name, "type": add_type}}));
    }
    for row in rows {
        if row.drop {
            ops.push(json!({"op": "drop_column", "args": {"name": row.name}}));
            continue;
        }
        if row.kind != api_type(&row.decl_type) {
            ops.push(json!({"op": "alter_column", "args": {"name": row.name, "type": row.kind}}));
        }
        if row.new_name.is_empty() {
            return Err(AppError::invalid_one(format!(
                "Give {} a name, or tick drop",
                row.name
            )));
        }
        if row.new_name != row.name {
            let args = json!({"name": row.name, "to": row.new_name});
            ops.push(json!({"op": "rename_column", "args": args}));
        }
    }
    // The kept columns by the positions asked for (ties: the table's order),
    // named as they are now, as `reorder_columns` wants.
    let kept: Vec<&ColumnRow> = rows.iter().filter(|r| !r.drop).collect();
    let mut ordered = kept.clone();
    ordered.sort_by_key(|r| r.position);
    if ordered.iter().zip(&kept).any(|(a, b)| a.name != b.name) {
        let columns: Vec<&str> = ordered.iter().map(|r| r.name.as_str()).collect();
        ops.push(json!({"op": "reorder_columns", "args": {"columns": columns}}));
    }
    if ops.is_empty() {
        return Err(AppError::invalid_one("Nothing to change"));
    }
    Ok(ops)
}

/// `GET` shows the form, `POST` applies it.
pub async fn form(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    post: bool,
    body: Body,
) -> AppResult<Response> {
    let opened = super::rows::changeable_table(req, db, table, "alter-table").await?;
    let db = opened.database.name.as_str();
    let (database_path, table_path) = paths(req, db, table);
    let mut page = AlterPage {
        chrome: Chrome::for_space(req).await?,
        database: db.to_owned(),
        database_path,
        table: table.to_owned(),
        table_path,
        columns: rows(opened.table(), None),
        add_name: String::new(),
        add_type: "text".into(),
        types: TYPES,
        error: None,
    };
    if !post {
        return html_status(StatusCode::OK, page);
    }
    let submitted = read_form(body).await?;
    check_form_token(req, &submitted)?;
    page.columns = rows(opened.table(), Some(&submitted));
    page.add_name = field(&submitted, "add.name")
        .unwrap_or("")
        .trim()
        .to_owned();
    page.add_type = field(&submitted, "add.type").unwrap_or("text").to_owned();
    let result = match operations(&page.columns, &page.add_name, &page.add_type) {
        Ok(ops) => {
            let data = WriteBody::from_json(&json!({ "operations": ops }), &req.space.settings);
            write::table(req, db, table, TableWrite::Alter, data).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(_) => Ok(flash::see_other(&page.table_path, "table-altered")),
        Err(err) => {
            let (status, message) = in_place(err)?;
            page.error = Some(message);
            html_status(status, page)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, decl: &str, position: usize) -> ColumnRow {
        ColumnRow {
            position,
            name: name.into(),
            decl_type: decl.into(),
            key: false,
            new_name: name.into(),
            kind: api_type(decl).into(),
            drop: false,
        }
    }

    #[test]
    fn forms_become_operations() {
        assert_eq!(api_type("VARCHAR(9)"), "text");
        assert_eq!(api_type(""), "text");
        assert_eq!(api_type("DOUBLE"), "float");
        let mut columns = vec![
            row("a", "TEXT", 1),
            row("b", "INTEGER", 2),
            row("c", "REAL", 3),
        ];
        assert!(operations(&columns, "", "text").is_err(), "nothing to do");
        columns[0].new_name = "A2".into();
        columns[1].kind = "text".into();
        columns[2].drop = true;
        let ops = operations(&columns, "d", "blob").unwrap();
        assert_eq!(
            Json::Array(ops),
            json!([
                {"op": "add_column", "args": {"name": "d", "type": "blob"}},
                {"op": "rename_column", "args": {"name": "a", "to": "A2"}},
                {"op": "alter_column", "args": {"name": "b", "type": "text"}},
                {"op": "drop_column", "args": {"name": "c"}},
            ])
        );
        columns[0].new_name = String::new();
        assert!(operations(&columns, "", "text").is_err());
        // Positions: b first; dropped columns are left out of the order.
        let mut columns = vec![
            row("a", "TEXT", 1),
            row("b", "INTEGER", 2),
            row("c", "REAL", 3),
        ];
        columns[1].position = 1;
        columns[0].position = 2;
        columns[2].drop = true;
        assert_eq!(
            Json::Array(operations(&columns, "", "text").unwrap()),
            json!([
                {"op": "drop_column", "args": {"name": "c"}},
                {"op": "reorder_columns", "args": {"columns": ["b", "a"]}},
            ])
        );
    }
}
