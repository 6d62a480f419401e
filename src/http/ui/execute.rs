//! The execute-write page, `/{space}/{db}/-/execute-write`, for actors with
//! `execute-write-sql`: a statement, then "Analyse" (the tables it would
//! touch, how, and whether the actor may), then "Run", with the result or
//! the error in place. The page is what a browser gets (a GET, or a form
//! POST that accepts HTML); the JSON API's POST answers JSON as before.
//! Analysis, checks, the write and its audit row are the API's own code.

use askama::Template;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value as Json};

use super::{Cell, Chrome, check_form_token, field, html_status, read_form};
use crate::error::{AppError, AppResult};
use crate::http::tenant::SpaceRequest;
use crate::http::write::execute;
use crate::write::analysis::{Decision, Operation};

/// One thing the statement would do.
struct OpRow {
    operation: &'static str,
    table: String,
    permission: String,
    /// "allowed", or why not.
    verdict: String,
    allowed: bool,
}

/// What running the statement gave.
struct Outcome {
    message: String,
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

#[derive(Template)]
#[template(path = "execute_write.html")]
struct ExecutePage {
    chrome: Chrome,
    database: String,
    action: String,
    sql: String,
    params: Vec<(String, String)>,
    analysis: Option<Vec<OpRow>>,
    outcome: Option<Outcome>,
    error: Option<String>,
}

/// Whether a request to `/-/execute-write` is the page's: a GET, or a
/// form POST from a browser. A JSON body, or a client that does not ask
/// for HTML, gets the JSON API.
pub fn wants_page(post: bool, headers: &HeaderMap) -> bool {
    if !post {
        return true;
    }
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let form = text(header::CONTENT_TYPE).starts_with("application/x-www-form-urlencoded");
    form && text(header::ACCEPT).contains("text/html")
}

/// `GET` shows the form (`?sql=` fills it); a form POST analyses (`op=analyse`)
/// or runs (`op=run`) the statement.
pub async fn page(req: &SpaceRequest, db: &str, post: bool, body: Body) -> AppResult<Response> {
    let (database, handle) = execute::open_for_sql(req, db).await?;
    let mut page = ExecutePage {
        chrome: Chrome::for_space(req).await?,
        action: format!("{}/{}/-/execute-write", req.base, database.name),
        database: database.name.clone(),
        sql: String::new(),
        params: vec![],
        analysis: None,
        outcome: None,
        error: None,
    };
    if !post {
        let args = req.args();
        page.sql = args.get("sql").unwrap_or("").to_owned();
        return html_status(StatusCode::OK, page);
    }
    let form = read_form(body).await?;
    check_form_token(req, &form)?;
    page.sql = field(&form, "sql").unwrap_or("").to_owned();
    let run = field(&form, "op") == Some("run");
    let (sql, names, ops) =
        match execute::analysed(&handle, Some(page.sql.clone()), &database.name).await {
            Ok(analysed) => analysed,
            Err(err) => return shown_error(page, err),
        };
    page.params = names
        .iter()
        .map(|n| {
            let value = field(&form, &format!("_param_{n}")).unwrap_or("");
            (n.clone(), value.to_owned())
        })
        .collect();
    page.analysis = Some(op_rows(req, &database.name, &ops).await?);
    if !run {
        return html_status(StatusCode::OK, page);
    }
    let params: Map<String, Json> = page
        .params
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    match execute::run(req, &database, &handle, &sql, &names, &ops, &params).await {
        Ok(executed) => {
            let answer = execute::executed_json(&executed, &ops);
            let limit = req.space.settings.int("truncate_cells_html");
            page.outcome = Some(Outcome {
                message: answer["message"].as_str().unwrap_or("").to_owned(),
                rows: executed
                    .rows
                    .iter()
                    .map(|r| r.iter().map(|v| Cell::value(v, limit)).collect())
                    .collect(),
                columns: executed.columns,
            });
            html_status(StatusCode::OK, page)
        }
        Err(err) => shown_error(page, err),
    }
}

/// The page with the error in place (a 500 stays an error page).
fn shown_error(mut page: ExecutePage, err: AppError) -> AppResult<Response> {
    if err.status().is_server_error() {
        return Err(err);
    }
    page.error = Some(err.public_message());
    html_status(err.status(), page)
}

/// The statement's operations, each with the actor's verdict, decided by
/// the same check the run makes.
async fn op_rows(req: &SpaceRequest, db: &str, ops: &[Operation]) -> AppResult<Vec<OpRow>> {
    let mut rows = Vec::new();
    for op in ops.iter().filter(|o| o.decision() != Decision::Ignore) {
        let json = op.to_json();
        let verdict = execute::check_permissions(req, db, std::slice::from_ref(op)).await;
        let (allowed, verdict) = match verdict {
            Ok(()) => (true, "allowed".to_owned()),
            Err(err) if err.status().is_server_error() => return Err(err),
            Err(err) => (false, err.public_message()),
        };
        rows.push(OpRow {
            operation: op.operation,
            table: json["table"].as_str().unwrap_or("").to_owned(),
            permission: json["required_permission"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            verdict,
            allowed,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn browsers_get_the_page_and_clients_the_api() {
        let mut headers = HeaderMap::new();
        assert!(wants_page(false, &headers));
        assert!(!wants_page(true, &headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert!(!wants_page(true, &headers), "curl -d keeps the API");
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        assert!(wants_page(true, &headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(!wants_page(true, &headers));
    }
}
