//! The rest of the URL table: endpoints Datasette 1.0a41 serves beside its
//! core API — permission debugging, the whole space's schema and schemas as
//! Markdown, config, the jump menu, a database's file, a query's parameters
//! and the helpers Datasette's own pages call. Parsed before the general
//! grammar of [`super::parse`]; each handler in one line of [`read`].

use axum::response::Response;

use super::{Format, decode_name, split_format};
use crate::error::AppResult;
use crate::http::database::{foreign_keys, schema};
use crate::http::meta::{instance, jump, permissions_debug, space_schema};
use crate::http::table::autocomplete;
use crate::http::tenant::SpaceRequest;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extra {
    /// `/-/check.json`, `/-/allowed.json`, `/-/rules.json`
    Permissions(permissions_debug::View),
    /// `/-/schema.json`, `/-/schema.md` (`true`): every database the actor may view.
    SpaceSchema(bool),
    /// `/{db}/-/schema.md`, `/{db}/{table}/-/schema.md`
    SchemaMarkdown(String, Option<String>),
    /// `/-/config.json`
    Config,
    /// `/-/jump.json?q=`
    Jump,
    /// `/{db}.db`: the database file.
    Download(String),
    /// `/{db}/-/query/parameters?sql=`
    QueryParameters(String),
    /// `/{db}/-/foreign-key-targets`
    ForeignKeyTargets(String),
    /// `/{db}/{table}/-/foreign-key-suggestions`
    ForeignKeySuggestions(String, String),
    /// `/{db}/{table}/-/autocomplete?q=`
    Autocomplete(String, String),
}

/// The handler of each route.
pub async fn read(req: &SpaceRequest, route: &Extra) -> AppResult<Response> {
    match route {
        Extra::Permissions(view) => permissions_debug::show(req, *view).await,
        Extra::SpaceSchema(markdown) => space_schema::show(req, *markdown).await,
        Extra::SchemaMarkdown(db, table) => schema::markdown(req, db, table.as_deref()).await,
        Extra::Config => instance::config(req).await,
        Extra::Jump => jump::show(req).await,
        // Answered by `super::run`: it needs the request's headers.
        Extra::Download(_) => Err(crate::error::AppError::MethodNotAllowed),
        Extra::QueryParameters(db) => crate::http::query::parameters(req, db).await,
        Extra::ForeignKeyTargets(db) => foreign_keys::targets(req, db).await,
        Extra::ForeignKeySuggestions(db, table) => foreign_keys::suggestions(req, db, table).await,
        Extra::Autocomplete(db, table) => autocomplete::show(req, db, table).await,
    }
}

impl Extra {
    /// The database segment the route names, as written in the URL (decoded).
    pub fn database(&self) -> Option<&str> {
        match self {
            Extra::SchemaMarkdown(db, _)
            | Extra::Download(db)
            | Extra::QueryParameters(db)
            | Extra::ForeignKeyTargets(db)
            | Extra::ForeignKeySuggestions(db, _)
            | Extra::Autocomplete(db, _) => Some(db),
            Extra::Permissions(_) | Extra::SpaceSchema(_) | Extra::Config | Extra::Jump => None,
        }
    }

    /// A bounded label for logs and metrics.
    pub fn template(&self) -> &'static str {
        match self {
            Extra::Permissions(view) => view.template(),
            Extra::SpaceSchema(_) => "/{space}/-/schema",
            Extra::SchemaMarkdown(_, None) => "/{space}/{db}/-/schema",
            Extra::SchemaMarkdown(_, Some(_)) => "/{space}/{db}/{table}/-/schema",
            Extra::Config => "/{space}/-/config.json",
            Extra::Jump => "/{space}/-/jump.json",
            Extra::Download(_) => "/{space}/{db}.db",
            Extra::QueryParameters(_) => "/{space}/{db}/-/query/parameters",
            Extra::ForeignKeyTargets(_) => "/{space}/{db}/-/foreign-key-targets",
            Extra::ForeignKeySuggestions(..) => "/{space}/{db}/{table}/-/foreign-key-suggestions",
            Extra::Autocomplete(..) => "/{space}/{db}/{table}/-/autocomplete",
        }
    }

    /// Whether errors are answered as plain text (the Markdown routes, as Datasette).
    pub fn text_errors(&self) -> bool {
        matches!(self, Extra::SpaceSchema(true) | Extra::SchemaMarkdown(..))
    }
}

/// The part of the path after `/{space}`, if it is one of these routes.
pub fn parse(rest: &str) -> Option<Extra> {
    use permissions_debug::View;
    let fixed = match rest {
        "/-/check.json" => Some(Extra::Permissions(View::Check)),
        "/-/allowed.json" => Some(Extra::Permissions(View::Allowed)),
        "/-/rules.json" => Some(Extra::Permissions(View::Rules)),
        "/-/schema.json" => Some(Extra::SpaceSchema(false)),
        "/-/schema.md" => Some(Extra::SpaceSchema(true)),
        "/-/config.json" => Some(Extra::Config),
        "/-/jump.json" => Some(Extra::Jump),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let segments: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    let name = |raw: &str| decode_name(raw).filter(|_| !raw.starts_with('-'));
    Some(match segments.as_slice() {
        [file] => Extra::Download(name(file.strip_suffix(".db")?)?),
        [db, "-", "query", "parameters"] => Extra::QueryParameters(name(db)?),
        [db, "-", "schema.md"] => Extra::SchemaMarkdown(name(db)?, None),
        [db, "-", "foreign-key-targets"] => Extra::ForeignKeyTargets(name(db)?),
        [db, table, "-", endpoint] => {
            let (db, table) = (name(db)?, decode_name(table)?);
            match split_format(endpoint) {
                ("schema.md", Format::Html) => Extra::SchemaMarkdown(db, Some(table)),
                ("foreign-key-suggestions", Format::Html) => {
                    Extra::ForeignKeySuggestions(db, table)
                }
                ("autocomplete", Format::Html) => Extra::Autocomplete(db, table),
                _ => return None,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{SpaceRoute, parse as parse_all};
    use super::*;

    #[test]
    fn paths() {
        let s = |x: &str| x.to_owned();
        let cases = [
            (
                "/-/check.json",
                Some(Extra::Permissions(permissions_debug::View::Check)),
            ),
            ("/-/schema.md", Some(Extra::SpaceSchema(true))),
            ("/library.db", Some(Extra::Download(s("library")))),
            ("/-.db", None),
            (
                "/lib/-/query/parameters",
                Some(Extra::QueryParameters(s("lib"))),
            ),
            (
                "/lib/-/schema.md",
                Some(Extra::SchemaMarkdown(s("lib"), None)),
            ),
            (
                "/lib/a~2Fb/-/schema.md",
                Some(Extra::SchemaMarkdown(s("lib"), Some(s("a/b")))),
            ),
            (
                "/lib/t/-/autocomplete",
                Some(Extra::Autocomplete(s("lib"), s("t"))),
            ),
            ("/lib/t/-/autocomplete.json", None),
            ("/lib/t/-/insert", None),
        ];
        for (path, expected) in cases {
            assert_eq!(parse(path), expected, "{path}");
        }
        // The general grammar still owns its own paths.
        assert!(matches!(
            parse_all("/lib/t/-/insert"),
            Some(SpaceRoute::TableWrite(..))
        ));
        assert!(matches!(
            parse_all("/lib.json"),
            Some(SpaceRoute::Database(..))
        ));
    }
}
