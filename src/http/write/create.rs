//! `POST /{db}/-/create`: a table from columns, or from rows whose types are
//! inferred. It answers with the table's schema text and refreshes the
//! catalog's mirror, so the new table is visible at once. (`-/alter` is in
//! `alter`.)

use std::collections::HashSet;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use crate::catalog::mirror::TableSchema;
use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::{Body, json_status, may, open, record, refresh_mirror, truthy};
use crate::names::tilde_encode;
use crate::permissions::Resource;
use crate::write::live;
use crate::write::rows::{self, InsertOptions};
use crate::write::schema::{self, ColumnDef, TableDef};
use crate::write::values::suggest_types;
use crate::write::{WriteError, WriteResult};

/// `table_url` and `table_api_url` of a table.
pub(crate) fn table_urls(req: &SpaceRequest, db: &str, table: &str) -> (String, String) {
    let path = format!("{}/{}/{}", req.base, tilde_encode(db), tilde_encode(table));
    (
        req.absolute_url(&path),
        req.absolute_url(&format!("{path}.json")),
    )
}

/// A column of the columns form, validated.
struct NewColumn {
    name: String,
    sql_type: &'static str,
    not_null: bool,
    default: Option<String>,
    fk: Option<(String, Option<String>)>,
}

/// The create request, validated as Datasette's pydantic model does.
struct CreateRequest {
    table: String,
    columns: Option<Vec<NewColumn>>,
    rows: Option<Vec<Map<String, Json>>>,
    pk: Option<Vec<String>>,
    ignore: bool,
    replace: bool,
    alter: bool,
}

fn optional_bool(data: &Map<String, Json>, key: &str) -> AppResult<bool> {
    match data.get(key) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
            Ok(n.as_i64() == Some(1))
        }
        _ => Err(AppError::invalid_one(format!(
            "{key}: Input should be a valid boolean"
        ))),
    }
}

fn parse_column(i: usize, value: &Json) -> AppResult<NewColumn> {
    let one = |m: String| AppError::invalid_one(m);
    let Json::Object(c) = value else {
        return Err(one("columns must be a list of objects".into()));
    };
    let allowed = [
        "name",
        "type",
        "fk_table",
        "fk_column",
        "not_null",
        "default",
        "default_expr",
    ];
    let mut extra: Vec<&String> = c
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(AppError::invalid(
            extra
                .iter()
                .map(|k| format!("columns.{i}.{k}: Extra inputs are not permitted"))
                .collect(),
        ));
    }
    let name = match c.get("name") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(one("Column name is required".into())),
    };
    let sql_type = match c.get("type") {
        None | Some(Json::Null) => "TEXT",
        Some(Json::String(s)) if s.is_empty() => "TEXT",
        Some(Json::String(s)) => {
            schema::api_type(s).ok_or_else(|| one(format!("Unsupported column type: {s}")))?
        }
        Some(other) => return Err(one(format!("Unsupported column type: {other}"))),
    };
    let text = |key: &str| -> AppResult<Option<String>> {
        match c.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            _ => Err(one(format!(
                "columns.{i}.{key}: Input should be a valid string"
            ))),
        }
    };
    let fk_table = text("fk_table")?;
    let fk_column = text("fk_column")?;
    if fk_column.is_some() && fk_table.is_none() {
        return Err(one(format!("columns.{i}: fk_column requires fk_table")));
    }
    let not_null = optional_bool(c, "not_null").map_err(|_| {
        one(format!(
            "columns.{i}.not_null: Input should be a valid boolean"
        ))
    })?;
    let default = parse_default(c, &format!("columns.{i}"))?;
    Ok(NewColumn {
        name,
        sql_type,
        not_null,
        default,
        fk: fk_table.map(|t| (t, fk_column)),
    })
}

/// `default` / `default_expr` of a column or operation: the SQL to declare.
pub(crate) fn parse_default(args: &Map<String, Json>, location: &str) -> AppResult<Option<String>> {
    match (args.get("default"), args.get("default_expr")) {
        (Some(_), Some(_)) => Err(AppError::invalid_one(format!(
            "{location}: Value error, default and default_expr cannot both be provided"
        ))),
        (None, Some(Json::Null)) => Err(AppError::invalid_one(format!(
            "{location}: Value error, default_expr cannot be null"
        ))),
        (None, Some(expr)) => {
            let name = expr.as_str().unwrap_or_default();
            schema::default_expression(name)
                .map(|sql| Some(sql.to_owned()))
                .ok_or_else(|| {
                    AppError::invalid_one(format!(
                        "{location}.default_expr: Input should be 'current_timestamp', 'current_date', 'current_time', 'current_unixtime' or 'current_unixtime_ms'"
                    ))
                })
        }
        (Some(value), None) => Ok(schema::literal_default(value)),
        (None, None) => Ok(None),
    }
}

fn validate_create(data: Json) -> AppResult<CreateRequest> {
    let Json::Object(data) = data else {
        return Err(AppError::invalid_one("JSON must be an object"));
    };
    let allowed = [
        "table", "rows", "row", "columns", "pk", "pks", "ignore", "replace", "alter",
    ];
    AppError::check_keys(&data, &allowed)?;
    let columns = parse_columns(&data)?;
    let (ignore, replace, alter) = (
        optional_bool(&data, "ignore")?,
        optional_bool(&data, "replace")?,
        optional_bool(&data, "alter")?,
    );
    let table = parse_table_name(&data)?;
    let has_columns = columns.as_ref().is_some_and(|c| !c.is_empty());
    check_content(&data, has_columns)?;
    if let Some(columns) = &columns {
        check_duplicate_columns(columns)?;
    }
    let rows = parse_rows(&data)?;
    let (pk, pks) = parse_pk_and_pks(&data)?;
    if ignore && replace {
        return Err(AppError::invalid_one(
            "ignore and replace are mutually exclusive",
        ));
    }
    if data.contains_key("ignore") || data.contains_key("replace") {
        check_conflict_needs(rows.is_some(), &pk, &pks)?;
    }
    let pk = match (pks, pk) {
        (Some(pks), _) if !pks.is_empty() => Some(pks),
        (_, Some(pk)) if !pk.is_empty() => Some(vec![pk]),
        _ => None,
    };
    Ok(CreateRequest {
        table,
        columns: if has_columns { columns } else { None },
        rows,
        pk,
        ignore,
        replace,
        alter,
    })
}

/// `columns`, each checked, when given.
fn parse_columns(data: &Map<String, Json>) -> AppResult<Option<Vec<NewColumn>>> {
    match data.get("columns") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_column(i, c))
            .collect::<AppResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(AppError::invalid_one("columns must be a list")),
    }
}

fn parse_table_name(data: &Map<String, Json>) -> AppResult<String> {
    let table = match data.get("table") {
        Some(Json::String(t)) if !t.is_empty() => t.clone(),
        Some(other) if truthy(Some(other)) => {
            return Err(AppError::invalid_one("Invalid table name"));
        }
        _ => return Err(AppError::invalid_one("Table is required")),
    };
    if table.starts_with("sqlite_") || table.contains('\n') {
        return Err(AppError::invalid_one("Invalid table name"));
    }
    Ok(table)
}

/// Exactly one of columns, rows and row.
fn check_content(data: &Map<String, Json>, has_columns: bool) -> AppResult<()> {
    let one = |m: &str| Err(AppError::invalid_one(m));
    let has = |key: &str| truthy(data.get(key));
    if !has_columns && !has("rows") && !has("row") {
        return one("columns, rows or row is required");
    }
    if has("rows") && has("row") {
        return one("Cannot specify both rows and row");
    }
    if has_columns && (has("rows") || has("row")) {
        return one("Cannot specify columns with rows or row");
    }
    Ok(())
}

/// Names given twice, each named once, in the order first repeated.
fn check_duplicate_columns(columns: &[NewColumn]) -> AppResult<()> {
    let mut seen = HashSet::new();
    let mut duplicates: Vec<&str> = Vec::new();
    for c in columns {
        if !seen.insert(c.name.as_str()) && !duplicates.contains(&c.name.as_str()) {
            duplicates.push(&c.name);
        }
    }
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid_one(format!(
            "Duplicate column name: {}",
            duplicates.join(", ")
        )))
    }
}

/// `row` (a truthy one wins) or `rows`, as a list of objects.
fn parse_rows(data: &Map<String, Json>) -> AppResult<Option<Vec<Map<String, Json>>>> {
    let one = |m: &str| AppError::invalid_one(m);
    Ok(match (data.get("row"), data.get("rows")) {
        (Some(row), _) if truthy(Some(row)) => match row {
            Json::Object(row) => Some(vec![row.clone()]),
            _ => return Err(one("row must be an object")),
        },
        (_, Some(Json::Array(rows))) if !rows.is_empty() => Some(
            rows.iter()
                .map(|r| r.as_object().cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| one("rows must be a list of objects"))?,
        ),
        (_, Some(Json::Array(_)) | Some(Json::Null) | None) => None,
        (_, Some(_)) => return Err(one("rows must be a list")),
    })
}

/// `pk` and `pks` as given, not both.
type GivenKeys = (Option<String>, Option<Vec<String>>);

fn parse_pk_and_pks(data: &Map<String, Json>) -> AppResult<GivenKeys> {
    let one = |m: &str| AppError::invalid_one(m);
    let pk = match data.get("pk") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err(one("pk must be a string")),
    };
    if pk.as_deref().is_some_and(|p| !p.is_empty()) && truthy(data.get("pks")) {
        return Err(one("Cannot specify both pk and pks"));
    }
    let pks = match data.get("pks") {
        None | Some(Json::Null) => None,
        Some(Json::Array(items)) => Some(
            items
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| one("pks must be a list of strings"))?,
        ),
        Some(_) => return Err(one("pks must be a list")),
    };
    Ok((pk, pks))
}

/// `ignore` and `replace` act on rows, matched by a primary key.
fn check_conflict_needs(
    has_rows: bool,
    pk: &Option<String>,
    pks: &Option<Vec<String>>,
) -> AppResult<()> {
    if !has_rows {
        return Err(AppError::invalid_one(
            "ignore and replace require row or rows",
        ));
    }
    if pk.as_deref().is_none_or(str::is_empty) && pks.as_ref().is_none_or(Vec::is_empty) {
        return Err(AppError::invalid_one(
            "ignore and replace require pk or pks",
        ));
    }
    Ok(())
}

/// `POST /{db}/-/create`.
pub async fn create(req: &SpaceRequest, db: &str, body: Body) -> AppResult<Response> {
    let (database, handle, schema) = open(req, db).await?;
    let db = database.name.clone();
    req.require(
        "create-table",
        Resource::Database(db.clone()),
        "Permission denied",
    )
    .await?;
    let request = validate_create(body.json().await?)?;
    let table = request.table.clone();
    let existing = schema.table(&table);
    let exists = existing.is_some();
    let alter = check_row_permissions(req, &db, &request, exists).await?;
    let pk = match existing {
        Some(existing) => existing_pk(existing, request.pk.as_deref())?,
        None => request.pk.clone(),
    };
    let row_count = request.rows.as_ref().map(Vec::len);
    let name = table.clone();
    let (new_schema, changed) = handle
        .write(move |conn| write_table(conn, &name, &request, pk, alter))
        .await?;
    refresh_mirror(req, &database).await?;
    if !exists {
        record(
            req,
            "create-table",
            &db,
            Some(&table),
            None,
            json!({"schema": new_schema}),
        )
        .await;
    }
    if let Some(n) = row_count {
        record(
            req,
            "insert-rows",
            &db,
            Some(&table),
            Some(changed as i64),
            json!({"num_rows": n}),
        )
        .await;
    }
    Ok(created(req, &db, &table, new_schema, row_count))
}

/// The permissions rows need (and `replace`); returns whether the insert
/// may add columns: always for a new table, on request for an existing one.
async fn check_row_permissions(
    req: &SpaceRequest,
    db: &str,
    request: &CreateRequest,
    exists: bool,
) -> AppResult<bool> {
    let table = request.table.as_str();
    if request.replace && !may(req, "update-row", db, table).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need update-row".into(),
        ));
    }
    if request.rows.is_none() {
        return Ok(false);
    }
    if !may(req, "insert-row", db, table).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need insert-row".into(),
        ));
    }
    if !exists {
        return Ok(true);
    }
    if request.alter && !may(req, "alter-table", db, table).await? {
        return Err(AppError::Forbidden(
            "Permission denied: need alter-table".into(),
        ));
    }
    Ok(request.alter)
}

/// The primary key of an existing table, which a request may restate but
/// not change.
fn existing_pk(existing: &TableSchema, given: Option<&[String]>) -> AppResult<Option<Vec<String>>> {
    let mut actual: Vec<_> = existing.columns.iter().filter(|c| c.pk > 0).collect();
    actual.sort_by_key(|c| c.pk);
    let actual: Vec<String> = actual.into_iter().map(|c| c.name.clone()).collect();
    let changed = match given {
        Some(given) if actual.len() == 1 && given.len() == 1 => given[0] != actual[0],
        Some(given) if actual.len() > 1 && given.len() > 1 => {
            given.iter().collect::<HashSet<_>>() != actual.iter().collect::<HashSet<_>>()
        }
        _ => false,
    };
    if changed {
        return Err(AppError::invalid_one(
            "pk cannot be changed for existing table",
        ));
    }
    Ok(Some(actual).filter(|a| !a.is_empty()))
}

/// On the writer: creates the table (from rows or columns) and inserts the
/// rows; returns the schema text after and the rows changed.
fn write_table(
    conn: &libsql::Connection,
    name: &str,
    request: &CreateRequest,
    pk: Option<Vec<String>>,
    alter: bool,
) -> WriteResult<(Option<String>, u64)> {
    // Only ordinary tables take structured writes.
    let (_, kinds) = crate::write::select(
        conn,
        "select type from pragma_table_list where schema = 'main' and name = ?1 collate nocase",
        vec![libsql::Value::Text(name.to_owned())],
    )?;
    let live = live::live_table(conn, name)?;
    if !kinds.is_empty() && live.is_none() {
        return Err(WriteError::invalid(
            "Structured writes require an ordinary table",
        ));
    }
    let pk = pk.unwrap_or_default();
    let mut changed = 0;
    if let Some(rows) = &request.rows {
        if live.is_none() {
            create_from_rows(conn, name, rows, pk)?;
        }
        let options = InsertOptions {
            ignore: request.ignore,
            replace: request.replace,
            alter,
            upsert: false,
            return_rows: false,
        };
        changed = rows::insert(conn, name, rows, options)?.changed;
    } else if let Some(columns) = &request.columns {
        create_from_columns(conn, name, columns, pk)?;
    }
    Ok((live::table_sql(conn, name)?, changed))
}

/// A table whose columns and types are suggested by the rows.
fn create_from_rows(
    conn: &libsql::Connection,
    name: &str,
    rows: &[Map<String, Json>],
    pk: Vec<String>,
) -> WriteResult<()> {
    let columns = suggest_types(rows)
        .into_iter()
        .map(|(name, t)| ColumnDef {
            name,
            sql_type: t.into(),
            not_null: false,
            default: None,
        })
        .collect();
    let sql = schema::create_sql(&TableDef {
        name: name.to_owned(),
        columns,
        pk,
        foreign_keys: vec![],
    });
    crate::write::exec(conn, &sql, vec![])?;
    Ok(())
}

/// A table from the columns form, with its foreign keys.
fn create_from_columns(
    conn: &libsql::Connection,
    name: &str,
    columns: &[NewColumn],
    pk: Vec<String>,
) -> WriteResult<()> {
    let mut foreign_keys = Vec::new();
    for c in columns {
        if let Some((other, column)) = &c.fk {
            foreign_keys.push(schema::foreign_key(
                conn,
                &c.name,
                other,
                column.as_deref(),
            )?);
        }
    }
    let sql = schema::create_sql(&TableDef {
        name: name.to_owned(),
        columns: columns
            .iter()
            .map(|c| ColumnDef {
                name: c.name.clone(),
                sql_type: c.sql_type.into(),
                not_null: c.not_null,
                default: c.default.clone(),
            })
            .collect(),
        pk,
        foreign_keys,
    });
    crate::write::exec(conn, &sql, vec![])?;
    Ok(())
}

/// The 201 answer: where the table is, its schema, and the rows given.
fn created(
    req: &SpaceRequest,
    db: &str,
    table: &str,
    schema: Option<String>,
    row_count: Option<usize>,
) -> Response {
    let (table_url, table_api_url) = table_urls(req, db, table);
    let mut details = json!({
        "ok": true,
        "database": db,
        "table": table,
        "table_url": table_url,
        "table_api_url": table_api_url,
        "schema": schema,
    });
    if let Some(n) = row_count {
        details["row_count"] = json!(n);
    }
    json_status(StatusCode::CREATED, details)
}
