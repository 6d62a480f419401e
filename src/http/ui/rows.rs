//! The row forms: insert a row (`/{db}/{table}/-/insert-row`), edit one
//! (`/{pk}/-/edit`) and delete one after a confirmation (`/{pk}/-/delete-row`).
//! A GET shows the form; a POST checks the form token, turns the form into
//! the JSON API's body and calls the API's own write (its permission checks,
//! one transaction, its audit row), then redirects back with a flash
//! message, or shows the form again with the error in place.

use askama::Template;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use libsql::Value;
use serde_json::{Map, Value as Json, json};

use super::{Chrome, check_form_token, field, flash, html_status, read_form};
use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::http::database::{ViewableTable, open_viewable_table};
use crate::http::routes::{RowForm, RowWrite, TableWrite};
use crate::http::tenant::SpaceRequest;
use crate::http::write::{self, Body as WriteBody, may};
use crate::names::tilde_encode;
use crate::read::table_sql::TableInfo;
use crate::read::values::to_text;

/// One column of a row form.
pub struct Field {
    pub name: String,
    /// `integer`, `real`, `text`, `long` (a textarea) or `blob` (shown only).
    pub kind: &'static str,
    pub decl_type: String,
    pub value: String,
    pub null: bool,
    /// A key column: set on insert, shown but not changed on edit.
    pub key: bool,
}

#[derive(Template)]
#[template(path = "row_form.html")]
struct RowFormPage {
    chrome: Chrome,
    database: String,
    table: String,
    table_path: String,
    /// `insert`, `edit` or `delete`.
    mode: &'static str,
    key: String,
    action: String,
    back: String,
    fields: Vec<Field>,
    error: Option<String>,
}

/// What a form needs to know about its table and row.
struct Target<'a> {
    req: &'a SpaceRequest,
    db: &'a str,
    table: &'a str,
    key: &'a [String],
    form: RowForm,
    opened: ViewableTable,
    table_path: String,
}

/// Which row controls a page shows: only those the actor may use.
pub struct RowControls {
    pub insert: bool,
    pub edit: bool,
    pub delete: bool,
    /// The table forms: alter and drop.
    pub alter: bool,
    pub drop: bool,
    /// `back=…` for the forms' links: the page they are shown on.
    pub back: String,
}

impl RowControls {
    /// The controls for a table (none for a view), asked of the same
    /// permission code the write API uses.
    pub async fn of(
        req: &SpaceRequest,
        db: &str,
        table: &str,
        is_view: bool,
        here: &str,
    ) -> AppResult<RowControls> {
        let back = form_urlencoded::Serializer::new(String::new())
            .append_pair("back", here)
            .finish();
        if is_view {
            let (insert, edit, delete, alter, drop) = (false, false, false, false, false);
            return Ok(RowControls {
                insert,
                edit,
                delete,
                alter,
                drop,
                back,
            });
        }
        Ok(RowControls {
            insert: may(req, "insert-row", db, table).await?,
            edit: may(req, "update-row", db, table).await?,
            delete: may(req, "delete-row", db, table).await?,
            alter: may(req, "alter-table", db, table).await?,
            drop: may(req, "drop-table", db, table).await?,
            back,
        })
    }
}

/// A table (never a view) the actor may view and do `action` to: 404 as
/// for any hidden table, else 403 naming the action.
pub(super) async fn changeable_table(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    action: &str,
) -> AppResult<ViewableTable> {
    let opened = open_viewable_table(req, db, table).await?;
    if opened.table().kind != "table" {
        return Err(AppError::NotFound("Table not found"));
    }
    if !may(req, action, &opened.database.name, table).await? {
        return Err(AppError::Forbidden(format!(
            "Permission denied: need {action}"
        )));
    }
    Ok(opened)
}

/// `GET` shows a row form, `POST` submits it.
pub async fn form(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    key: &[String],
    form: RowForm,
    post: bool,
    body: Body,
) -> AppResult<Response> {
    let action = match form {
        RowForm::Insert => "insert-row",
        RowForm::Edit => "update-row",
        RowForm::Delete => "delete-row",
    };
    let opened = changeable_table(req, db, table, action).await?;
    let table_path = format!(
        "{}/{}/{}",
        req.base,
        tilde_encode(&opened.database.name),
        tilde_encode(table)
    );
    let target = Target {
        req,
        db,
        table,
        key,
        form,
        opened,
        table_path,
    };
    let back = back(&target, req.query().and_then(query_back));
    if !post {
        let fields = target.fields(None).await?;
        return target.render(StatusCode::OK, fields, back, None).await;
    }
    let submitted = read_form(body).await?;
    check_form_token(req, &submitted)?;
    let back = self::back(&target, field(&submitted, "back").map(str::to_owned));
    match target.submit(&submitted).await {
        Ok(code) => Ok(flash::see_other(&back, code)),
        Err(err) if err.status().is_server_error() => Err(err),
        Err(err) => {
            let fields = target.fields(Some(&submitted)).await?;
            target
                .render(err.status(), fields, back, Some(err.public_message()))
                .await
        }
    }
}

/// `?back=` of a GET.
fn query_back(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "back")
        .map(|(_, v)| v.into_owned())
}

/// Where to go after the form: the page it came from when that is the table
/// or one of its rows, else the table (always the table after a delete).
fn back(target: &Target<'_>, asked: Option<String>) -> String {
    let table_path = &target.table_path;
    let within = |p: &str| {
        let path = p.split(['?', '#']).next().unwrap_or("");
        path == table_path
            || (target.form != RowForm::Delete
                && path
                    .strip_prefix(table_path.as_str())
                    .is_some_and(|rest| rest.starts_with('/') && !rest.contains("/-/")))
    };
    match asked {
        Some(p) if within(&p) => p,
        _ => table_path.clone(),
    }
}

impl Target<'_> {
    fn schema(&self) -> &TableSchema {
        self.opened.table()
    }

    /// The row's current columns and values (none for an insert).
    async fn current(&self) -> AppResult<Option<(Vec<String>, Vec<Value>)>> {
        if self.form == RowForm::Insert {
            return Ok(None);
        }
        let info = TableInfo::from_schema(self.schema());
        match crate::http::row::one(self.req, &self.opened.handle, &info, self.table, self.key)
            .await?
        {
            Some(row) => Ok(Some(row)),
            None => Err(AppError::NotFound("Row not found")),
        }
    }

    /// The form's fields: from the row (or empty), then what was submitted.
    async fn fields(&self, submitted: Option<&[(String, String)]>) -> AppResult<Vec<Field>> {
        let current = self.current().await?;
        let mut fields = Vec::new();
        if let Some((columns, row)) = &current
            && columns.first().is_some_and(|c| c == "rowid")
        {
            fields.push(Field {
                name: "rowid".into(),
                kind: "integer",
                decl_type: "INTEGER".into(),
                value: to_text(&row[0]),
                null: false,
                key: true,
            });
        }
        for column in self.schema().columns.iter().filter(|c| !c.hidden) {
            let value = current.as_ref().and_then(|(columns, row)| {
                columns
                    .iter()
                    .position(|c| *c == column.name)
                    .map(|i| &row[i])
            });
            let mut field = new_field(&column.name, &column.decl_type, column.pk > 0, value);
            if let Some(form) = submitted
                && field.kind != "blob"
                && !(field.key && self.form != RowForm::Insert)
            {
                field.value = self::field(form, &format!("value.{}", field.name))
                    .unwrap_or("")
                    .to_owned();
                field.null = self::field(form, &format!("null.{}", field.name)).is_some();
            }
            fields.push(field);
        }
        Ok(fields)
    }

    /// The write the form asks for, through the JSON API's code.
    async fn submit(&self, form: &[(String, String)]) -> AppResult<&'static str> {
        let settings = &self.req.space.settings;
        let body = |data: Json| WriteBody::from_json(&data, settings);
        let (db, table, key) = (self.db, self.table, self.key);
        match self.form {
            RowForm::Insert => {
                let row = values(self.schema(), form, true)?;
                let data = body(json!({ "rows": [row] }));
                write::table(self.req, db, table, TableWrite::Insert, data).await?;
                Ok("row-inserted")
            }
            RowForm::Edit => {
                let changes = values(self.schema(), form, false)?;
                let data = body(json!({ "update": changes }));
                write::row(self.req, db, table, key, RowWrite::Update, data).await?;
                Ok("row-updated")
            }
            RowForm::Delete => {
                let data = body(json!({}));
                write::row(self.req, db, table, key, RowWrite::Delete, data).await?;
                Ok("row-deleted")
            }
        }
    }

    async fn render(
        &self,
        status: StatusCode,
        fields: Vec<Field>,
        back: String,
        error: Option<String>,
    ) -> AppResult<Response> {
        let key_path = self
            .key
            .iter()
            .map(|k| tilde_encode(k))
            .collect::<Vec<_>>()
            .join(",");
        let (mode, action) = match self.form {
            RowForm::Insert => ("insert", format!("{}/-/insert-row", self.table_path)),
            RowForm::Edit => ("edit", format!("{}/{key_path}/-/edit", self.table_path)),
            RowForm::Delete => (
                "delete",
                format!("{}/{key_path}/-/delete-row", self.table_path),
            ),
        };
        html_status(
            status,
            RowFormPage {
                chrome: Chrome::for_space(self.req).await?,
                database: self.opened.database.name.clone(),
                table: self.table.to_owned(),
                table_path: self.table_path.clone(),
                mode,
                key: self.key.join(", "),
                action,
                back,
                fields,
                error,
            },
        )
    }
}

/// SQLite's type affinity of a declared type, as the input that suits it.
fn kind_of(decl_type: &str) -> &'static str {
    let t = decl_type.to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text"
    } else if t.contains("BLOB") {
        "blob"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real"
    } else {
        // No type, or NUMERIC affinity (which dates have): free text, which
        // SQLite converts where it can.
        "text"
    }
}

/// A field for a column and its current value; the value's own type wins
/// where it does not fit the column's (text in an INTEGER column).
fn new_field(name: &str, decl_type: &str, key: bool, value: Option<&Value>) -> Field {
    let mut kind = kind_of(decl_type);
    let text = match value {
        Some(Value::Blob(b)) => {
            kind = "blob";
            format!("<Binary: {} bytes>", b.len())
        }
        Some(Value::Null) | None => String::new(),
        Some(Value::Text(t)) => {
            if kind != "text" && kind != "blob" {
                kind = "text";
            }
            t.clone()
        }
        Some(v) => to_text(v),
    };
    if kind == "text" && (text.contains('\n') || text.chars().count() > 80) {
        kind = "long";
    }
    if kind == "blob" && value.is_none_or(|v| matches!(v, Value::Null)) && !key {
        // An empty blob column takes text like any untyped column.
        kind = "text";
    }
    Field {
        name: name.to_owned(),
        kind,
        decl_type: decl_type.to_owned(),
        null: matches!(value, Some(Value::Null)),
        value: text,
        key,
    }
}

/// The submitted values as the write API's row: numbers where the column
/// holds numbers, `null` where NULL is ticked. Blobs are never sent; on an
/// insert a blank field is left out (the column's default applies), on an
/// edit the key columns are left out (they name the row).
fn values(
    table: &TableSchema,
    form: &[(String, String)],
    insert: bool,
) -> AppResult<Map<String, Json>> {
    let mut row = Map::new();
    for column in table.columns.iter().filter(|c| !c.hidden) {
        let name = &column.name;
        if !insert && column.pk > 0 {
            continue;
        }
        let Some(raw) = field(form, &format!("value.{name}")) else {
            continue; // a blob, shown but not sent
        };
        if field(form, &format!("null.{name}")).is_some() {
            row.insert(name.clone(), Json::Null);
            continue;
        }
        let kind = kind_of(&column.decl_type);
        let numeric = kind == "integer" || kind == "real";
        if numeric && raw.trim().is_empty() {
            if insert {
                continue;
            }
            return Err(AppError::invalid_one(format!(
                "Give {name} a number, or tick NULL"
            )));
        }
        row.insert(name.clone(), if numeric { number(raw) } else { json!(raw) });
    }
    Ok(row)
}

/// A number typed into a field, as JSON; text that is no number stays text.
fn number(raw: &str) -> Json {
    let trimmed = raw.trim();
    if let Ok(n) = trimmed.parse::<i64>() {
        return json!(n);
    }
    match trimmed.parse::<f64>() {
        Ok(f) if f.is_finite() => json!(f),
        _ => json!(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::mirror::ColumnSchema;

    fn column(name: &str, decl_type: &str, pk: i64) -> ColumnSchema {
        ColumnSchema {
            cid: 0,
            name: name.into(),
            decl_type: decl_type.into(),
            notnull: false,
            pk,
            hidden: false,
        }
    }

    #[test]
    fn forms_become_rows() {
        let table = TableSchema {
            name: "t".into(),
            kind: "table",
            hidden: false,
            fts_table: None,
            sql: None,
            columns: vec![
                column("id", "INTEGER", 1),
                column("n", "INTEGER", 0),
                column("score", "REAL", 0),
                column("name", "TEXT", 0),
                column("data", "BLOB", 0),
            ],
            foreign_keys: vec![],
        };
        let form: Vec<(String, String)> = [
            ("value.id", ""),
            ("value.n", " 42 "),
            ("value.score", "1.5"),
            ("value.name", "Ada"),
            ("null.name", "on"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let row = values(&table, &form, true).unwrap();
        assert_eq!(
            Json::Object(row),
            json!({"n": 42, "score": 1.5, "name": null})
        );
        let edit = values(&table, &form, false).unwrap();
        assert!(!edit.contains_key("id"), "keys name the row");
        let blank: Vec<(String, String)> = vec![("value.n".into(), "".into())];
        assert!(values(&table, &blank, false).is_err());
        assert_eq!(number("abc"), json!("abc"));
        assert_eq!(kind_of("VARCHAR(20)"), "text");
        assert_eq!(kind_of("DATETIME"), "text");
        assert_eq!(kind_of("double"), "real");
        let field = new_field("n", "INTEGER", false, Some(&Value::Text("x".into())));
        assert_eq!(field.kind, "text");
        let field = new_field("d", "", false, Some(&Value::Blob(vec![1, 2])));
        assert_eq!(
            (field.kind, field.value.as_str()),
            ("blob", "<Binary: 2 bytes>")
        );
    }
}
