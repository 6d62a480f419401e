//! The instance's home page, `/`: the spaces the logged-in user belongs to,
//! and for the instance admin a form to create a space (`POST /-/spaces`).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, check_origin, field, html_status, read_form, see_other};
use crate::app::App;
use crate::catalog::{databases, logins, mirror, spaces};
use crate::error::{AppError, AppResult};
use crate::http::edge::auth;
use crate::names::{DbName, SpaceName};
use crate::session::Session;

#[derive(Template)]
#[template(path = "spaces.html")]
struct SpacesPage {
    chrome: Chrome,
    spaces: Vec<(String, String)>,
    admin: bool,
    error: Option<String>,
    name: String,
}

async fn render(
    app: &App,
    session: &Session,
    status: StatusCode,
    error: Option<String>,
    name: &str,
) -> AppResult<Response> {
    let user_id = session.user_id;
    let (spaces, admin) = app
        .catalog
        .call(move |conn| {
            Ok((
                logins::spaces_of(conn, user_id)?,
                logins::is_admin(conn, user_id)?,
            ))
        })
        .await?;
    html_status(
        status,
        SpacesPage {
            chrome: Chrome::instance(app, Some(session)),
            spaces,
            admin,
            error,
            name: name.to_owned(),
        },
    )
}

/// `GET /`: your spaces, or the login form when logged out.
pub async fn home(State(app): State<Arc<App>>, request: Request) -> Response {
    let Some(session) = auth::session(&app, request.headers()).await else {
        return see_other("/-/login");
    };
    render(&app, &session, StatusCode::OK, None, "")
        .await
        .unwrap_or_else(crate::http::edge::error_page::render)
}

/// `POST /-/spaces`: the instance admin creates a space (and, if named, its first database).
pub async fn create(State(app): State<Arc<App>>, request: Request) -> Response {
    let result: AppResult<Response> = async {
        check_origin(request.headers())?;
        let Some(session) = auth::session(&app, request.headers()).await else {
            return Ok(see_other("/-/login"));
        };
        let form = read_form(request.into_body()).await?;
        if !session.csrf_matches(&app.config.secret, field(&form, "csrftoken").unwrap_or("")) {
            return Err(AppError::Forbidden(
                "Form expired or was sent from another site".into(),
            ));
        }
        let user_id = session.user_id;
        let admin = app
            .catalog
            .call(move |conn| logins::is_admin(conn, user_id))
            .await?;
        if !admin {
            return Err(AppError::Forbidden(
                "Only the instance admin may create spaces".into(),
            ));
        }
        let raw = field(&form, "name").unwrap_or("").trim().to_owned();
        let db = field(&form, "database").unwrap_or("").trim().to_owned();
        let name = match SpaceName::parse(&raw) {
            Ok(name) => name,
            Err(message) => {
                return render(&app, &session, StatusCode::BAD_REQUEST, Some(message), &raw).await;
            }
        };
        let db = if db.is_empty() {
            None
        } else {
            match DbName::parse(&db) {
                Ok(db) => Some(db),
                Err(message) => {
                    return render(&app, &session, StatusCode::BAD_REQUEST, Some(message), &raw)
                        .await;
                }
            }
        };
        let owner = session.name.clone();
        let data = app.data.clone();
        let space = name.clone();
        let created = app
            .catalog
            .call(move |conn| {
                if db.is_some() {
                    crate::import::local_only(&data, "a space's first database from this form")?;
                }
                let row = spaces::create(conn, &space, &owner, false)?;
                if let Some(db) = db {
                    crate::tenant::create_file(&data, space.as_str(), db.as_str())?;
                    let registered = databases::register(conn, row.id, db.as_str())?;
                    let file =
                        crate::sqlite::open_file(&data.database_file(space.as_str(), db.as_str()))?;
                    mirror::refresh(conn, registered.id, &*crate::sqlite::connect(&file)?)?;
                }
                Ok(())
            })
            .await;
        match created {
            Ok(()) => Ok(see_other(&format!("/{name}/"))),
            Err(err) => {
                render(
                    &app,
                    &session,
                    StatusCode::BAD_REQUEST,
                    Some(format!("{err:#}")),
                    &raw,
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(crate::http::edge::error_page::render)
}
