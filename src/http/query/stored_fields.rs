//! The fields of a stored query as the store and update endpoints take
//! them (JSON or a form), checked with Datasette 1.0a41's rules and
//! messages, and the analysis of its SQL: which `:named` parameters it has,
//! whether it writes, and whether the actor storing it may run it.

use serde_json::{Map, Value as Json};

use crate::catalog::databases::DatabaseRow;
use crate::catalog::queries::StoredQuery;
use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::{Body, execute};
use crate::permissions::Resource;
use crate::read::sql_text::check_read_only;
use crate::write::analysis::{self, Operation};

/// Fields an update may set; a new query also takes `name` (and a form `mode`).
const UPDATE_FIELDS: &[&str] = &[
    "sql",
    "title",
    "description",
    "hide_sql",
    "fragment",
    "parameters",
    "is_private",
    "on_success_message",
    "on_success_redirect",
    "on_error_message",
    "on_error_redirect",
];
/// Fields that only mean something for SQL that writes.
const WRITE_FIELDS: &[&str] = &[
    "on_success_message",
    "on_success_redirect",
    "on_error_message",
    "on_error_redirect",
];

/// A JSON body that must be an object (an empty body is an empty object).
pub async fn json_object(body: Body) -> AppResult<Json> {
    let bytes = body.bytes().await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Object(Map::new()));
    }
    match crate::write::json::parse(&bytes).map_err(AppError::invalid_one)? {
        data @ Json::Object(_) => Ok(data),
        _ => Err(AppError::invalid_one("JSON must be a dictionary")),
    }
}

/// A form body, its CSRF token checked and dropped.
pub async fn form_object(req: &SpaceRequest, body: Body) -> AppResult<Map<String, Json>> {
    let bytes = body.bytes().await?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    crate::http::ui::check_form_token(req, &pairs)?;
    Ok(pairs
        .into_iter()
        .filter(|(k, _)| k != "csrftoken")
        .map(|(k, v)| (k, Json::String(v)))
        .collect())
}

/// Python's truthiness as Datasette reads `hide_sql` and `is_private`.
fn as_bool(value: &Json) -> bool {
    match value {
        Json::String(s) => ["1", "true", "t", "yes", "on"].contains(&s.to_lowercase().as_str()),
        other => crate::http::write::truthy(Some(other)),
    }
}

fn as_text(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// What the SQL of a query is.
#[derive(Clone, Debug)]
pub struct Analysed {
    pub is_write: bool,
    /// Its `:named` parameters, in the order the SQL names them.
    pub parameters: Vec<String>,
}

/// The fields a request sent, checked against the keys it may send.
pub struct Fields<'a>(&'a Map<String, Json>);

impl<'a> Fields<'a> {
    pub fn update(data: &'a Map<String, Json>) -> AppResult<Fields<'a>> {
        AppError::check_keys(data, UPDATE_FIELDS)?;
        Ok(Fields(data))
    }

    fn create(data: &'a Map<String, Json>) -> AppResult<Fields<'a>> {
        let mut allowed = UPDATE_FIELDS.to_vec();
        allowed.extend(["name", "mode"]);
        AppError::check_keys(data, &allowed)?;
        Ok(Fields(data))
    }

    /// The SQL sent, if any (`""` for a value that is not text).
    pub fn sql(&self) -> Option<&str> {
        self.0.get("sql").map(|v| v.as_str().unwrap_or(""))
    }

    pub fn check_write_fields(&self, is_write: bool) -> AppResult<()> {
        let set = WRITE_FIELDS
            .iter()
            .any(|f| crate::http::write::truthy(self.0.get(*f)));
        if !is_write && set {
            return Err(AppError::invalid_one(
                "Writable query fields require writable SQL",
            ));
        }
        Ok(())
    }

    /// `parameters` when sent: a list (or comma/space-separated text) that
    /// must name exactly the SQL's parameters.
    pub fn parameters(&self, derived: &[String]) -> AppResult<Option<Vec<String>>> {
        let Some(value) = self.0.get("parameters") else {
            return Ok(None);
        };
        let bad = || AppError::invalid_one("parameters must be a list of strings");
        let parameters: Vec<String> = match value {
            Json::Null => return Ok(Some(derived.to_vec())),
            Json::String(s) => s
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            Json::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<AppResult<_>>()?,
            _ => return Err(bad()),
        };
        if parameters.iter().any(|p| p.starts_with('_')) {
            return Err(AppError::invalid_one("Magic parameters are not allowed"));
        }
        let sent: std::collections::HashSet<&String> = parameters.iter().collect();
        if sent != derived.iter().collect() {
            return Err(AppError::invalid_one(
                "parameters must match SQL named parameters",
            ));
        }
        Ok(Some(parameters))
    }

    /// Sets the descriptive fields that were sent.
    pub fn apply(&self, query: &mut StoredQuery) {
        let text = |key: &str, field: &mut Option<String>| {
            if let Some(value) = self.0.get(key) {
                *field = as_text(value);
            }
        };
        text("title", &mut query.title);
        text("description", &mut query.description);
        text("fragment", &mut query.fragment);
        text("on_success_message", &mut query.on_success_message);
        text("on_success_redirect", &mut query.on_success_redirect);
        text("on_error_message", &mut query.on_error_message);
        text("on_error_redirect", &mut query.on_error_redirect);
        if let Some(value) = self.0.get("hide_sql") {
            query.hide_sql = as_bool(value);
        }
        if let Some(value) = self.0.get("is_private") {
            query.is_private = as_bool(value);
        }
    }
}

/// A query's name: no `/`, `.` or newline (it becomes a URL segment).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '.', '\n'])
}

/// A new query from the store endpoint's fields, checked in Datasette's order.
pub async fn new_query(
    req: &SpaceRequest,
    database: &DatabaseRow,
    data: &Map<String, Json>,
) -> AppResult<StoredQuery> {
    let fields = Fields::create(data)?;
    let name = match data.get("name") {
        Some(Json::String(name)) if !name.is_empty() => name.clone(),
        _ => return Err(AppError::invalid_one("Query name is required")),
    };
    if !valid_name(&name) {
        return Err(AppError::invalid_one("Invalid query name"));
    }
    let (_, _, schema) = crate::http::write::open(req, &database.name).await?;
    if schema.table(&name).is_some() {
        return Err(AppError::invalid_one(
            "Query name conflicts with a table or view",
        ));
    }
    let exists = req
        .app
        .stored_query(req.space_id(), &database.name, &name)
        .await?;
    if exists.is_some() {
        return Err(AppError::invalid_one("Query already exists"));
    }
    let sql = fields.sql().unwrap_or("").to_owned();
    let analysed = analyse(req, database, &sql).await?;
    fields.check_write_fields(analysed.is_write)?;
    let parameters = fields
        .parameters(&analysed.parameters)?
        .unwrap_or(analysed.parameters);
    let mut query = StoredQuery {
        database: database.name.clone(),
        name,
        sql,
        parameters,
        is_write: analysed.is_write,
        // Private unless asked otherwise, as Datasette stores them.
        is_private: true,
        owner_user_id: req.actor.user_id,
        owner_id: req.actor.name.clone(),
        ..StoredQuery::default()
    };
    fields.apply(&mut query);
    Ok(query)
}

/// Analyses `sql` for the actor storing it: its parameters, whether it
/// writes, and, for SQL that writes, that the actor holds every permission
/// its operations need (read-only SQL must pass the `/-/query` rules).
pub async fn analyse(req: &SpaceRequest, database: &DatabaseRow, sql: &str) -> AppResult<Analysed> {
    if sql.trim().is_empty() {
        return Err(AppError::invalid_one("SQL is required"));
    }
    let (ops, parameters) = operations(req, database, sql).await?;
    if parameters.iter().any(|p| p.starts_with('_')) {
        return Err(AppError::invalid_one("Magic parameters are not allowed"));
    }
    let is_write = ops.iter().any(Operation::is_write);
    if is_write {
        req.require(
            "execute-write-sql",
            Resource::Database(database.name.clone()),
            "Permission denied: need execute-write-sql",
        )
        .await?;
        execute::check_permissions(req, &database.name, &ops).await?;
    } else if let Err(refusal) = check_read_only(sql) {
        return Err(AppError::invalid_one(refusal.message()));
    }
    Ok(Analysed {
        is_write,
        parameters,
    })
}

/// The operations `sql` would perform and its parameter names, found by
/// compiling it on a read connection (which needs no lock).
pub async fn operations(
    req: &SpaceRequest,
    database: &DatabaseRow,
    sql: &str,
) -> AppResult<(Vec<Operation>, Vec<String>)> {
    if analysis::has_several_statements(sql) {
        return Err(AppError::invalid_one(
            "You can only execute one statement at a time.",
        ));
    }
    let (_, handle, _) = crate::http::write::open(req, &database.name).await?;
    let (sql, db) = (sql.to_owned(), database.name.clone());
    Ok(crate::sqlite::blocking(move || {
        let conn = handle.conn()?;
        let names = execute::parameter_names(&conn, &sql)?;
        let ops = analysis::analyze(&conn, &sql, &db)?;
        Ok::<_, crate::write::WriteError>((ops, names))
    })
    .await?)
}
