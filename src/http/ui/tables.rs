//! The table forms: create a table (`/{db}/-/create-table`), alter one
//! (`/{db}/{table}/-/alter-table`, in `alter`) and drop one after typing its
//! name (`/{db}/{table}/-/drop-table`). A GET shows the form to an actor
//! holding the right; a POST checks the form token, turns the form into the
//! JSON API's body and calls the API's own code (`/-/create`, `/-/alter`,
//! `/-/drop`: its permission checks, one transaction, its audit row), then
//! redirects with a flash message, or shows the form again with the error.

use askama::Template;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value as Json, json};

use super::{Chrome, check_form_token, field, flash, html_status, read_form};
use crate::error::{AppError, AppResult};
use crate::http::routes::{TableForm, TableWrite};
use crate::http::tenant::SpaceRequest;
use crate::http::write::{self, Body as WriteBody};
use crate::names::tilde_encode;
use crate::permissions::Resource;

/// The column types a form offers: Datasette's API types.
pub const TYPES: [&str; 4] = ["text", "integer", "float", "blob"];

/// The most columns one create form takes.
const MAX_COLUMNS: usize = 200;

/// One column row of the create form.
pub struct NewColumn {
    pub name: String,
    pub kind: String,
}

#[derive(Template)]
#[template(path = "create_table.html")]
struct CreatePage {
    chrome: Chrome,
    database: String,
    database_path: String,
    table: String,
    columns: Vec<NewColumn>,
    /// The key: `rowid`, or a column's index.
    pk: String,
    types: [&'static str; 4],
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "drop_table.html")]
struct DropPage {
    chrome: Chrome,
    database: String,
    database_path: String,
    table: String,
    table_path: String,
    error: Option<String>,
}

/// `/{space}/{db}` and `/{space}/{db}/{table}`.
pub fn paths(req: &SpaceRequest, db: &str, table: &str) -> (String, String) {
    let database_path = format!("{}/{}", req.base, tilde_encode(db));
    let table_path = format!("{database_path}/{}", tilde_encode(table));
    (database_path, table_path)
}

/// May the actor create tables in `db`? (The check `/-/create` makes.)
pub async fn may_create(req: &SpaceRequest, db: &str) -> AppResult<bool> {
    let resource = Resource::Database(db.to_owned());
    Ok(req
        .app
        .allowed(req.space_id(), &req.actor, "create-table", resource)
        .await?)
}

/// `GET` shows a table form, `POST` submits it.
pub async fn form(
    req: &SpaceRequest,
    db: &str,
    table: Option<&str>,
    form: TableForm,
    post: bool,
    body: Body,
) -> AppResult<Response> {
    match (form, table) {
        (TableForm::Create, _) => create(req, db, post, body).await,
        (TableForm::Alter, Some(table)) => super::alter::form(req, db, table, post, body).await,
        (TableForm::Drop, Some(table)) => drop(req, db, table, post, body).await,
        _ => Err(AppError::NotFound("Table not found")),
    }
}

/// A form refused with the error in place; a server error stays an error page.
pub fn in_place(err: AppError) -> AppResult<(StatusCode, String)> {
    if err.status().is_server_error() {
        return Err(err);
    }
    Ok((err.status(), err.public_message()))
}

async fn create(req: &SpaceRequest, db: &str, post: bool, body: Body) -> AppResult<Response> {
    let database = crate::http::database::require_database(req, db).await?;
    let db = database.name.as_str();
    if !may_create(req, db).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need create-table".into(),
        ));
    }
    let mut page = CreatePage {
        chrome: Chrome::for_space(req).await?,
        database: db.to_owned(),
        database_path: paths(req, db, "").0,
        table: String::new(),
        columns: vec![
            NewColumn {
                name: "id".into(),
                kind: "integer".into(),
            },
            NewColumn {
                name: String::new(),
                kind: "text".into(),
            },
            NewColumn {
                name: String::new(),
                kind: "text".into(),
            },
        ],
        pk: "0".into(),
        types: TYPES,
        error: None,
    };
    if !post {
        return html_status(StatusCode::OK, page);
    }
    let submitted = read_form(body).await?;
    check_form_token(req, &submitted)?;
    page.table = field(&submitted, "table").unwrap_or("").trim().to_owned();
    page.pk = field(&submitted, "pk").unwrap_or("rowid").to_owned();
    page.columns = (0..MAX_COLUMNS)
        .map_while(|i| {
            let name = field(&submitted, &format!("column.{i}"))?;
            let kind = field(&submitted, &format!("type.{i}")).unwrap_or("text");
            Some(NewColumn {
                name: name.trim().to_owned(),
                kind: kind.to_owned(),
            })
        })
        .collect();
    if field(&submitted, "op") == Some("more") {
        page.columns.push(NewColumn {
            name: String::new(),
            kind: "text".into(),
        });
        return html_status(StatusCode::OK, page);
    }
    let result = match create_body(&page) {
        Ok(data) => {
            let data = WriteBody::from_json(&data, &req.space.settings);
            write::create::create(req, db, data).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(_) => {
            let (_, table_path) = paths(req, db, &page.table);
            Ok(flash::see_other(&table_path, "table-created"))
        }
        Err(err) => {
            let (status, message) = in_place(err)?;
            page.error = Some(message);
            html_status(status, page)
        }
    }
}

/// The `/-/create` body of a create form: its named columns and the key.
fn create_body(page: &CreatePage) -> AppResult<Json> {
    let columns: Vec<Json> = page
        .columns
        .iter()
        .filter(|c| !c.name.is_empty())
        .map(|c| json!({"name": c.name, "type": c.kind}))
        .collect();
    if columns.is_empty() {
        return Err(AppError::invalid_one("Give the table at least one column"));
    }
    let mut data = json!({"table": page.table, "columns": columns});
    if page.pk != "rowid" {
        let key = page
            .pk
            .parse::<usize>()
            .ok()
            .and_then(|i| page.columns.get(i))
            .filter(|c| !c.name.is_empty())
            .ok_or_else(|| AppError::invalid_one("The primary key column needs a name"))?;
        data["pk"] = json!(key.name);
    }
    Ok(data)
}

async fn drop(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    post: bool,
    body: Body,
) -> AppResult<Response> {
    let opened = super::rows::changeable_table(req, db, table, "drop-table").await?;
    let db = opened.database.name.as_str();
    let (database_path, table_path) = paths(req, db, table);
    let mut page = DropPage {
        chrome: Chrome::for_space(req).await?,
        database: db.to_owned(),
        database_path,
        table: table.to_owned(),
        table_path,
        error: None,
    };
    if !post {
        return html_status(StatusCode::OK, page);
    }
    let submitted = read_form(body).await?;
    check_form_token(req, &submitted)?;
    let result = if field(&submitted, "confirm").map(str::trim) == Some(table) {
        let data = WriteBody::from_json(&json!({"confirm": true}), &req.space.settings);
        write::table(req, db, table, TableWrite::Drop, data).await
    } else {
        Err(AppError::invalid_one(format!(
            "Type the table's name, {table}, to drop it"
        )))
    };
    match result {
        Ok(_) => Ok(flash::see_other(&page.database_path, "table-dropped")),
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

    fn page(columns: &[(&str, &str)], pk: &str) -> CreatePage {
        CreatePage {
            chrome: Chrome::default(),
            database: "db".into(),
            database_path: "/s/db".into(),
            table: "t".into(),
            columns: columns
                .iter()
                .map(|(n, k)| NewColumn {
                    name: (*n).into(),
                    kind: (*k).into(),
                })
                .collect(),
            pk: pk.into(),
            types: TYPES,
            error: None,
        }
    }

    #[test]
    fn create_forms_become_api_bodies() {
        let body = create_body(&page(
            &[("id", "integer"), ("", "text"), ("n", "float")],
            "0",
        ));
        assert_eq!(
            body.unwrap(),
            json!({"table": "t", "pk": "id", "columns": [
                {"name": "id", "type": "integer"}, {"name": "n", "type": "float"}]})
        );
        let rowid = create_body(&page(&[("a", "text")], "rowid")).unwrap();
        assert!(rowid.get("pk").is_none());
        assert!(create_body(&page(&[("", "text")], "rowid")).is_err());
        assert!(create_body(&page(&[("a", "text"), ("", "text")], "1")).is_err());
    }
}
