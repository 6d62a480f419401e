//! What each route is, beside where it leads: the database it names, its
//! bounded label for logs and metrics, the methods it answers, whether it
//! writes, reads data or answers with a page.

use super::{Format, QueryAction, RowForm, RowWrite, SpaceRoute, TableForm, TableWrite};

impl SpaceRoute {
    /// The database segment the route names, as written in the URL (decoded).
    pub fn database(&self) -> Option<&str> {
        match self {
            SpaceRoute::Database(db, _)
            | SpaceRoute::Query(db, _)
            | SpaceRoute::DatabaseSchema(db)
            | SpaceRoute::Table(db, ..)
            | SpaceRoute::TableSchema(db, _)
            | SpaceRoute::TableCount(db, _)
            | SpaceRoute::Row(db, ..)
            | SpaceRoute::Create(db)
            | SpaceRoute::ExecuteWrite(db)
            | SpaceRoute::TableWrite(db, ..)
            | SpaceRoute::RowWrite(db, ..)
            | SpaceRoute::RowForm(db, ..)
            | SpaceRoute::TableForm(db, ..)
            | SpaceRoute::QueryList(Some(db), _)
            | SpaceRoute::QueryStore(db)
            | SpaceRoute::StoredQuery(db, ..) => Some(db),
            SpaceRoute::Extra(extra) => extra.database(),
            SpaceRoute::Index(_)
            | SpaceRoute::Databases
            | SpaceRoute::Actor
            | SpaceRoute::Versions
            | SpaceRoute::Settings
            | SpaceRoute::Threads
            | SpaceRoute::Audit
            | SpaceRoute::Tokens
            | SpaceRoute::ApiExplorer
            | SpaceRoute::TokenRevoke(_)
            | SpaceRoute::Members
            | SpaceRoute::ApiTokens
            | SpaceRoute::ApiTokenRevoke(_)
            | SpaceRoute::QueryList(None, _)
            | SpaceRoute::Redirect(..) => None,
        }
    }

    /// A bounded label for logs and metrics.
    pub fn template(&self) -> &'static str {
        match self {
            SpaceRoute::Index(_) => "/{space}/",
            SpaceRoute::Databases => "/{space}/-/databases.json",
            SpaceRoute::Actor => "/{space}/-/actor.json",
            SpaceRoute::Versions => "/{space}/-/versions.json",
            SpaceRoute::Settings => "/{space}/-/settings.json",
            SpaceRoute::Threads => "/{space}/-/threads.json",
            SpaceRoute::Database(..) => "/{space}/{db}",
            SpaceRoute::Query(..) => "/{space}/{db}/-/query",
            SpaceRoute::DatabaseSchema(..) => "/{space}/{db}/-/schema",
            SpaceRoute::Table(..) => "/{space}/{db}/{table}",
            SpaceRoute::TableSchema(..) => "/{space}/{db}/{table}/-/schema",
            SpaceRoute::TableCount(..) => "/{space}/{db}/{table}/-/count",
            SpaceRoute::Row(..) => "/{space}/{db}/{table}/{pk}",
            SpaceRoute::Redirect(..) => "redirect",
            SpaceRoute::Audit => "/{space}/-/audit.json",
            SpaceRoute::Create(..) => "/{space}/{db}/-/create",
            SpaceRoute::ExecuteWrite(..) => "/{space}/{db}/-/execute-write",
            SpaceRoute::TableWrite(_, _, TableWrite::Insert) => "/{space}/{db}/{table}/-/insert",
            SpaceRoute::TableWrite(_, _, TableWrite::Upsert) => "/{space}/{db}/{table}/-/upsert",
            SpaceRoute::TableWrite(_, _, TableWrite::Alter) => "/{space}/{db}/{table}/-/alter",
            SpaceRoute::TableWrite(_, _, TableWrite::Drop) => "/{space}/{db}/{table}/-/drop",
            SpaceRoute::RowWrite(_, _, _, RowWrite::Update) => {
                "/{space}/{db}/{table}/{pk}/-/update"
            }
            SpaceRoute::RowWrite(_, _, _, RowWrite::Delete) => {
                "/{space}/{db}/{table}/{pk}/-/delete"
            }
            SpaceRoute::Tokens => "/{space}/-/tokens",
            SpaceRoute::ApiExplorer => "/{space}/-/api",
            SpaceRoute::TokenRevoke(_) => "/{space}/-/tokens/{id}/revoke",
            SpaceRoute::Members => "/{space}/-/members",
            SpaceRoute::ApiTokens => "/{space}/-/api/tokens",
            SpaceRoute::ApiTokenRevoke(_) => "/{space}/-/api/tokens/{id}/revoke",
            SpaceRoute::QueryList(None, _) => "/{space}/-/queries",
            SpaceRoute::QueryList(Some(_), _) => "/{space}/{db}/-/queries",
            SpaceRoute::QueryStore(_) => "/{space}/{db}/-/queries/store",
            SpaceRoute::StoredQuery(_, _, QueryAction::Definition) => {
                "/{space}/{db}/{query}/-/definition"
            }
            SpaceRoute::StoredQuery(_, _, QueryAction::Update) => "/{space}/{db}/{query}/-/update",
            SpaceRoute::StoredQuery(_, _, QueryAction::Delete) => "/{space}/{db}/{query}/-/delete",
            SpaceRoute::RowForm(_, _, _, RowForm::Insert) => "/{space}/{db}/{table}/-/insert-row",
            SpaceRoute::RowForm(_, _, _, RowForm::Edit) => "/{space}/{db}/{table}/{pk}/-/edit",
            SpaceRoute::RowForm(_, _, _, RowForm::Delete) => {
                "/{space}/{db}/{table}/{pk}/-/delete-row"
            }
            SpaceRoute::TableForm(_, _, TableForm::Create) => "/{space}/{db}/-/create-table",
            SpaceRoute::TableForm(_, _, TableForm::Alter) => "/{space}/{db}/{table}/-/alter-table",
            SpaceRoute::TableForm(_, _, TableForm::Drop) => "/{space}/{db}/{table}/-/drop-table",
            SpaceRoute::TableForm(_, None, TableForm::Upload) => "/{space}/{db}/-/upload",
            SpaceRoute::TableForm(_, Some(_), TableForm::Upload) => {
                "/{space}/{db}/{table}/-/upload"
            }
            SpaceRoute::Extra(extra) => extra.template(),
        }
    }

    /// Whether the route answers `method` (GET and HEAD, or POST).
    pub fn accepts(&self, post: bool) -> bool {
        use SpaceRoute::*;
        match self {
            TableCount(..) | Create(..) | TableWrite(..) | RowWrite(..) | TokenRevoke(_)
            | ApiTokenRevoke(_) | QueryStore(_) => post,
            StoredQuery(_, _, action) => post == (*action != QueryAction::Definition),
            // POST runs a writable stored query.
            // The execute-write page and the row and table forms: GET shows, POST submits.
            Tokens | Members | ApiTokens | Table(..) | ExecuteWrite(..) | RowForm(..)
            | TableForm(..) => true,
            _ => !post,
        }
    }

    /// Whether the route writes to a database.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            SpaceRoute::Create(..)
                | SpaceRoute::ExecuteWrite(..)
                | SpaceRoute::TableWrite(..)
                | SpaceRoute::RowWrite(..)
                | SpaceRoute::RowForm(..)
                | SpaceRoute::TableForm(..)
        )
    }

    /// Whether the route answers with data, whose caching headers follow
    /// `default_cache_ttl` and `_ttl`.
    pub fn reads_data(&self) -> bool {
        matches!(
            self,
            SpaceRoute::Table(..)
                | SpaceRoute::Row(..)
                | SpaceRoute::Query(..)
                | SpaceRoute::Database(..)
        )
    }

    /// Whether the route answers with an HTML page (so its errors are pages too).
    pub fn is_page(&self) -> bool {
        use SpaceRoute::*;
        match self {
            Index(f) | Database(_, f) | Query(_, f) | Table(_, _, f) | Row(_, _, _, f) => {
                *f == Format::Html
            }
            QueryList(_, f) => *f == Format::Html,
            Tokens | TokenRevoke(_) | Members | RowForm(..) | TableForm(..) | ApiExplorer => true,
            _ => false,
        }
    }
}
