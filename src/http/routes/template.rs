//! Each route's bounded label for logs and metrics: its URL template.

use super::{QueryAction, RowForm, RowWrite, SpaceRoute, TableWrite};

impl SpaceRoute {
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
            SpaceRoute::RowForm(_, _, _, RowForm::Insert) => "/{space}/{db}/{table}/-/insert-row",
            SpaceRoute::RowForm(_, _, _, RowForm::Edit) => "/{space}/{db}/{table}/{pk}/-/edit",
            SpaceRoute::RowForm(_, _, _, RowForm::Delete) => {
                "/{space}/{db}/{table}/{pk}/-/delete-row"
            }
            SpaceRoute::Tokens => "/{space}/-/tokens",
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
        }
    }
}
