//! Stored queries (Datasette's canned queries): named SQL kept per database
//! of a space, with their owner, privacy and the options Datasette's store
//! API takes. Rows go with their database (or space) through the cascade.

use anyhow::Result;
use libsql::{Connection, Value};
use serde_json::{Value as Json, json};

use super::unix_now;
use crate::sqlite::{self, Sql};

/// One stored query as the catalog holds it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredQuery {
    pub database: String,
    pub name: String,
    pub sql: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub description_html: Option<String>,
    pub hide_sql: bool,
    pub fragment: Option<String>,
    /// The `:named` parameters, in the order the SQL names them.
    pub parameters: Vec<String>,
    pub is_write: bool,
    pub is_private: bool,
    /// The catalog id of the user who stored it (`None` once that user is gone).
    pub owner_user_id: Option<i64>,
    /// That user's name: Datasette's `owner_id`, the actor id.
    pub owner_id: Option<String>,
    pub on_success_message: Option<String>,
    pub on_success_redirect: Option<String>,
    pub on_error_message: Option<String>,
    pub on_error_redirect: Option<String>,
}

impl StoredQuery {
    /// Datasette's dictionary of a stored query. libsette's queries are all
    /// stored by users: none comes from configuration, none is trusted.
    pub fn to_json(&self) -> Json {
        json!({
            "database": self.database,
            "name": self.name,
            "sql": self.sql,
            "title": self.title,
            "description": self.description,
            "description_html": self.description_html,
            "hide_sql": self.hide_sql,
            "fragment": self.fragment,
            "parameters": self.parameters,
            "is_write": self.is_write,
            "is_private": self.is_private,
            "is_trusted": false,
            "source": "user",
            "owner_id": self.owner_id,
            "on_success_message": self.on_success_message,
            "on_success_message_sql": null,
            "on_success_redirect": self.on_success_redirect,
            "on_error_message": self.on_error_message,
            "on_error_redirect": self.on_error_redirect,
        })
    }

    /// Datasette's listing order within a database: title (or name), case-folded as SQLite's `lower()`.
    pub fn sort_key(&self) -> String {
        match self.title.as_deref() {
            Some(title) if !title.is_empty() => title.to_ascii_lowercase(),
            _ => self.name.to_ascii_lowercase(),
        }
    }
}

const COLUMNS: &str = "d.name, q.name, q.sql, q.title, q.description, q.description_html,
    q.hide_sql, q.fragment, q.parameters, q.is_write, q.is_private, q.owner_user_id, u.name,
    q.on_success_message, q.on_success_redirect, q.on_error_message, q.on_error_redirect";

fn from_row(row: &sqlite::SqlRow) -> Result<StoredQuery> {
    let parameters: String = row.get(8)?;
    Ok(StoredQuery {
        database: row.get(0)?,
        name: row.get(1)?,
        sql: row.get(2)?,
        title: row.get(3)?,
        description: row.get(4)?,
        description_html: row.get(5)?,
        hide_sql: row.get::<i64>(6)? != 0,
        fragment: row.get(7)?,
        parameters: serde_json::from_str(&parameters).unwrap_or_default(),
        is_write: row.get::<i64>(9)? != 0,
        is_private: row.get::<i64>(10)? != 0,
        owner_user_id: row.get(11)?,
        owner_id: row.get(12)?,
        on_success_message: row.get(13)?,
        on_success_redirect: row.get(14)?,
        on_error_message: row.get(15)?,
        on_error_redirect: row.get(16)?,
    })
}

/// Whether the space has any stored query.
pub fn any(conn: &impl Sql, space_id: i64) -> Result<bool> {
    let found = conn.all(
        "select 1 from stored_queries q join databases d on d.id = q.database_id
          where d.space_id = ?1 limit 1",
        [space_id],
    )?;
    Ok(!found.is_empty())
}

/// Every stored query of a space, by database and name.
pub fn list(conn: &impl Sql, space_id: i64) -> Result<Vec<StoredQuery>> {
    conn.all(
        &format!(
            "select {COLUMNS}
               from stored_queries q join databases d on d.id = q.database_id
               left join users u on u.id = q.owner_user_id
              where d.space_id = ?1
              order by d.name, q.name"
        ),
        [space_id],
    )?
    .iter()
    .map(from_row)
    .collect()
}

fn text(value: &Option<String>) -> Value {
    value.clone().map(Value::Text).unwrap_or(Value::Null)
}

/// The values of every column a query sets, in [`SET_COLUMNS`] order.
fn values(query: &StoredQuery) -> Vec<Value> {
    vec![
        Value::Text(query.sql.clone()),
        text(&query.title),
        text(&query.description),
        text(&query.description_html),
        Value::Integer(query.hide_sql.into()),
        text(&query.fragment),
        Value::Text(serde_json::to_string(&query.parameters).expect("strings serialise")),
        Value::Integer(query.is_write.into()),
        Value::Integer(query.is_private.into()),
        text(&query.on_success_message),
        text(&query.on_success_redirect),
        text(&query.on_error_message),
        text(&query.on_error_redirect),
    ]
}

const SET_COLUMNS: &str = "sql, title, description, description_html, hide_sql, fragment,
    parameters, is_write, is_private, on_success_message, on_success_redirect,
    on_error_message, on_error_redirect";

/// Stores a new query of the database `database_id`; false when the name is taken.
pub fn insert(conn: &Connection, database_id: i64, query: &StoredQuery) -> Result<bool> {
    let mut params = values(query);
    let now = unix_now();
    params.extend([
        Value::Integer(database_id),
        Value::Text(query.name.clone()),
        query
            .owner_user_id
            .map(Value::Integer)
            .unwrap_or(Value::Null),
        Value::Integer(now),
        Value::Integer(now),
    ]);
    let changed = sqlite::execute(
        conn,
        &format!(
            "insert into stored_queries ({SET_COLUMNS}, database_id, name, owner_user_id,
                 created_at, updated_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             on conflict (database_id, name) do nothing"
        ),
        params,
    )?;
    Ok(changed == 1)
}

/// Writes back every field of an existing query (its name and owner stay).
pub fn update(conn: &Connection, database_id: i64, query: &StoredQuery) -> Result<bool> {
    let set: Vec<String> = SET_COLUMNS
        .split(',')
        .enumerate()
        .map(|(i, column)| format!("{} = ?{}", column.trim(), i + 1))
        .collect();
    let mut params = values(query);
    params.extend([
        Value::Integer(unix_now()),
        Value::Integer(database_id),
        Value::Text(query.name.clone()),
    ]);
    let changed = sqlite::execute(
        conn,
        &format!(
            "update stored_queries set {}, updated_at = ?14 where database_id = ?15 and name = ?16",
            set.join(", ")
        ),
        params,
    )?;
    Ok(changed == 1)
}

/// Removes a query; false when there was none.
pub fn delete(conn: &Connection, database_id: i64, name: &str) -> Result<bool> {
    let changed = sqlite::execute(
        conn,
        "delete from stored_queries where database_id = ?1 and name = ?2",
        (database_id, name),
    )?;
    Ok(changed == 1)
}
