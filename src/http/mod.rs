//! The HTTP layer: [`router`] builds the whole app, for `serve` and for tests.

mod cached;
mod database;
pub(crate) mod edge;
pub(crate) mod front;
mod meta;
mod query;
pub(crate) mod render;
mod routes;
mod row;
mod table;
mod tenant;
pub(crate) mod ui;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower::ServiceExt;

use crate::app::App;
use crate::error::AppError;

/// The whole HTTP app, for `serve` and for tests. Instance routes (a few
/// exact paths) go through an axum router; every other path is
/// `/{space}/…` (or, with a spaces domain, a `{space}.{domain}` host, which
/// the edge turns into that path first) and goes straight to
/// [`tenant::handle`]: a router and its fallback cost every request a
/// clone of the boxed service stack and boxed futures.
#[derive(Clone)]
pub struct Http {
    app: Arc<App>,
    instance: Router,
    instance_paths: Arc<[&'static str]>,
}

impl Http {
    pub fn new(app: Arc<App>) -> Http {
        let routes: [(&'static str, MethodRouter<Arc<App>>); 8] = [
            ("/-/health", get(meta::health)),
            ("/metrics", get(edge::observe::endpoint)),
            ("/-/tls-ask", get(meta::tls_ask::ask)),
            ("/", get(ui::spaces::home)),
            ("/-/login", get(ui::login::form).post(ui::login::submit)),
            ("/-/logout", post(ui::login::logout)),
            ("/-/auth-token", get(ui::login::auth_token)),
            ("/-/spaces", post(ui::spaces::create)),
        ];
        let instance_paths = routes.iter().map(|(path, _)| *path).collect();
        let instance = routes
            .into_iter()
            .fold(Router::new(), |router, (path, route)| {
                router.route(path, route)
            })
            .with_state(app.clone());
        Http {
            app,
            instance,
            instance_paths,
        }
    }

    /// The answer to `request`.
    pub async fn answer(&self, request: Request) -> Response {
        edge::around(&self.app, request, async |request| {
            if self.instance_paths.contains(&request.uri().path()) {
                let Ok(response) = self.instance.clone().oneshot(request).await;
                response
            } else {
                tenant::handle(State(self.app.clone()), request).await
            }
        })
        .await
    }
}

impl crate::conn::Serve for Http {
    fn serve(&self, request: Request) -> impl Future<Output = Response> + Send {
        self.answer(request)
    }
}

/// What Datasette says of answers outside its stable API.
pub(crate) const UNSTABLE: &str =
    "This API is not part of Datasette's stable interface and may change at any time";

/// A JSON answer with Datasette's content type.
pub(crate) fn json_response(body: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// The 404 for paths that are no route at all.
pub(crate) fn not_found() -> Response {
    AppError::NotFound("Not found").into_response()
}
