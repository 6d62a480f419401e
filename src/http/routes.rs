//! The URL table of a space: what `/{space}/…` paths mean, as Datasette's
//! URL grammar has them. Parsed here once, so handlers never see raw path
//! strings. (axum's router cannot capture a `.json` suffix, and Datasette's
//! grammar needs the split anyway.) Names are percent-decoded, then
//! tilde-decoded; database names are checked by their handler.

use percent_encoding::percent_decode_str;

use crate::names::tilde_decode;

/// How an answer is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    Csv,
}

/// One endpoint of a space, with its parsed parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpaceRoute {
    /// `/`, `/.json`: the space's databases and their tables.
    Index(Format),
    /// `/-/databases.json`
    Databases,
    /// `/-/actor.json`
    Actor,
    /// `/-/versions.json`
    Versions,
    /// `/-/settings.json`
    Settings,
    /// `/-/threads.json` (owners: the runtime's workers and tasks)
    Threads,
    /// `/{db}`, `/{db}.json` (with `?sql=`, the query itself).
    Database(String, Format),
    /// `/{db}/-/query`, `.json`, `.csv`
    Query(String, Format),
    /// `/{db}/-/schema.json`
    DatabaseSchema(String),
    /// `/{db}/{table}`, `.json`, `.csv`
    Table(String, String, Format),
    /// `/{db}/{table}/-/schema.json`
    TableSchema(String, String),
    /// `POST /{db}/{table}/-/count`
    TableCount(String, String),
    /// `/{db}/{table}/{pk,…}`, `.json`
    Row(String, String, Vec<String>, Format),
    /// A path Datasette answers with a redirect: (location under the space, status).
    Redirect(String, u16),
    /// `/-/audit.json`: the space's audit log (owners only).
    Audit,
    /// `POST /{db}/-/create`
    Create(String),
    /// `POST /{db}/-/execute-write`
    ExecuteWrite(String),
    /// `POST /{db}/{table}/-/insert`, `/-/upsert`, `/-/alter`, `/-/drop`
    TableWrite(String, String, TableWrite),
    /// `POST /{db}/{table}/{pk,…}/-/update`, `/-/delete`
    RowWrite(String, String, Vec<String>, RowWrite),
    /// `/-/tokens`: the API tokens page (GET), creating a token (POST).
    Tokens,
    /// `POST /-/tokens/{id}/revoke`
    TokenRevoke(i64),
    /// `/-/members`: the members page (GET), changing members (POST).
    Members,
    /// `/-/api/tokens`: list (GET) and create (POST) tokens as JSON.
    ApiTokens,
    /// `POST /-/api/tokens/{id}/revoke`
    ApiTokenRevoke(i64),
}

/// A write to a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableWrite {
    Insert,
    Upsert,
    Alter,
    Drop,
}

/// A write to one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowWrite {
    Update,
    Delete,
}

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
            | SpaceRoute::RowWrite(db, ..) => Some(db),
            SpaceRoute::Index(_)
            | SpaceRoute::Databases
            | SpaceRoute::Actor
            | SpaceRoute::Versions
            | SpaceRoute::Settings
            | SpaceRoute::Threads
            | SpaceRoute::Audit
            | SpaceRoute::Tokens
            | SpaceRoute::TokenRevoke(_)
            | SpaceRoute::Members
            | SpaceRoute::ApiTokens
            | SpaceRoute::ApiTokenRevoke(_)
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
            SpaceRoute::TokenRevoke(_) => "/{space}/-/tokens/{id}/revoke",
            SpaceRoute::Members => "/{space}/-/members",
            SpaceRoute::ApiTokens => "/{space}/-/api/tokens",
            SpaceRoute::ApiTokenRevoke(_) => "/{space}/-/api/tokens/{id}/revoke",
        }
    }

    /// Whether the route answers `method` (GET and HEAD, or POST).
    pub fn accepts(&self, post: bool) -> bool {
        use SpaceRoute::*;
        match self {
            TableCount(..) | Create(..) | ExecuteWrite(..) | TableWrite(..) | RowWrite(..)
            | TokenRevoke(_) | ApiTokenRevoke(_) => post,
            Tokens | Members | ApiTokens => true,
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
        )
    }

    /// Whether the route answers with an HTML page (so its errors are pages too).
    pub fn is_page(&self) -> bool {
        use SpaceRoute::*;
        match self {
            Index(f) | Database(_, f) | Query(_, f) | Table(_, _, f) | Row(_, _, _, f) => {
                *f == Format::Html
            }
            Tokens | TokenRevoke(_) | Members => true,
            _ => false,
        }
    }
}

/// `name.json` → (`name`, Json); `name.csv` → (`name`, Csv); else Html.
fn split_format(segment: &str) -> (&str, Format) {
    if let Some(name) = segment.strip_suffix(".json") {
        (name, Format::Json)
    } else if let Some(name) = segment.strip_suffix(".csv") {
        (name, Format::Csv)
    } else {
        (segment, Format::Html)
    }
}

fn decode_name(raw: &str) -> Option<String> {
    let text = percent_decode_str(raw).decode_utf8().ok()?;
    tilde_decode(&text)
}

/// Parses the part of the path after `/{space}`; `None` is a 404.
pub fn parse(rest: &str) -> Option<SpaceRoute> {
    let fixed = match rest {
        "" | "/" => Some(SpaceRoute::Index(Format::Html)),
        "/.json" => Some(SpaceRoute::Index(Format::Json)),
        "/-" => Some(SpaceRoute::Redirect("/-/".into(), 301)),
        "/-/databases.json" => Some(SpaceRoute::Databases),
        "/-/actor.json" => Some(SpaceRoute::Actor),
        "/-/versions.json" => Some(SpaceRoute::Versions),
        "/-/settings.json" => Some(SpaceRoute::Settings),
        "/-/threads.json" => Some(SpaceRoute::Threads),
        "/-/audit.json" => Some(SpaceRoute::Audit),
        "/-/tokens" => Some(SpaceRoute::Tokens),
        "/-/members" => Some(SpaceRoute::Members),
        "/-/api/tokens" => Some(SpaceRoute::ApiTokens),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let path = rest.strip_prefix('/')?;
    // `//host/…` must never become a redirect off-site: Datasette answers
    // `//example.com/` with a relative `/example.com`.
    if let Some(stripped) = path.strip_prefix('/') {
        let target = stripped.trim_start_matches('/').trim_end_matches('/');
        if !target.contains('/') && !target.is_empty() {
            return Some(SpaceRoute::Redirect(format!("/{target}"), 302));
        }
        return None;
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["-", "tokens", id, "revoke"] => Some(SpaceRoute::TokenRevoke(id.parse().ok()?)),
        ["-", "api", "tokens", id, "revoke"] => Some(SpaceRoute::ApiTokenRevoke(id.parse().ok()?)),
        [db] if !db.starts_with('-') && !db.is_empty() => {
            let (name, format) = split_format(db);
            Some(SpaceRoute::Database(decode_name(name)?, format))
        }
        [db, "-", endpoint] if !db.starts_with('-') => {
            let db = decode_name(db)?;
            let (name, format) = split_format(endpoint);
            match (name, format) {
                ("query", format) => Some(SpaceRoute::Query(db, format)),
                ("schema", Format::Json) => Some(SpaceRoute::DatabaseSchema(db)),
                ("create", Format::Html) => Some(SpaceRoute::Create(db)),
                ("execute-write", Format::Html) => Some(SpaceRoute::ExecuteWrite(db)),
                _ => None,
            }
        }
        [db, table] if !db.starts_with('-') && !table.is_empty() => {
            let (name, format) = split_format(table);
            Some(SpaceRoute::Table(
                decode_name(db)?,
                decode_name(name)?,
                format,
            ))
        }
        [db, table, "-", endpoint] if !db.starts_with('-') => {
            let (db, table) = (decode_name(db)?, decode_name(table)?);
            match *endpoint {
                "schema.json" => Some(SpaceRoute::TableSchema(db, table)),
                "count" => Some(SpaceRoute::TableCount(db, table)),
                "insert" => Some(SpaceRoute::TableWrite(db, table, TableWrite::Insert)),
                "upsert" => Some(SpaceRoute::TableWrite(db, table, TableWrite::Upsert)),
                "alter" => Some(SpaceRoute::TableWrite(db, table, TableWrite::Alter)),
                "drop" => Some(SpaceRoute::TableWrite(db, table, TableWrite::Drop)),
                _ => None,
            }
        }
        [db, table, pk, "-", endpoint] if !db.starts_with('-') && !pk.is_empty() => {
            let action = match *endpoint {
                "update" => RowWrite::Update,
                "delete" => RowWrite::Delete,
                _ => return None,
            };
            Some(SpaceRoute::RowWrite(
                decode_name(db)?,
                decode_name(table)?,
                row_key(pk)?,
                action,
            ))
        }
        [db, table, pk] if !db.starts_with('-') && !pk.is_empty() && *pk != "-" => {
            let (pk, format) = split_format(pk);
            Some(SpaceRoute::Row(
                decode_name(db)?,
                decode_name(table)?,
                row_key(pk)?,
                format,
            ))
        }
        _ => None,
    }
}

/// A row's key from its URL segment: comma-separated, each value tilde-encoded.
fn row_key(segment: &str) -> Option<Vec<String>> {
    let pk = percent_decode_str(segment).decode_utf8().ok()?;
    pk.split(',').map(tilde_decode).collect()
}

/// Splits `/{space}{rest}` into the space name and the rest.
pub fn split_space(path: &str) -> Option<(&str, &str)> {
    let path = path.strip_prefix('/')?;
    match path.find('/') {
        Some(i) => Some((&path[..i], &path[i..])),
        None => Some((path, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_owned()
    }

    #[test]
    fn table() {
        use SpaceRoute::*;
        let cases = [
            ("", Some(Index(Format::Html))),
            ("/", Some(Index(Format::Html))),
            ("/.json", Some(Index(Format::Json))),
            ("/-/databases.json", Some(Databases)),
            ("/-/actor.json", Some(Actor)),
            ("/-/versions.json", Some(Versions)),
            ("/-/settings.json", Some(Settings)),
            ("/-", Some(Redirect(s("/-/"), 301))),
            ("//example.com/", Some(Redirect(s("/example.com"), 302))),
            ("//example.com/fixtures", None),
            ("/library.json", Some(Database(s("library"), Format::Json))),
            ("/library", Some(Database(s("library"), Format::Html))),
            ("/db/-/query.json", Some(Query(s("db"), Format::Json))),
            ("/db/-/query.csv", Some(Query(s("db"), Format::Csv))),
            ("/db/-/schema.json", Some(DatabaseSchema(s("db")))),
            ("/db/t.json", Some(Table(s("db"), s("t"), Format::Json))),
            (
                "/db/table~2Fwith~2Fslashes~2Ecsv.json",
                Some(Table(s("db"), s("table/with/slashes.csv"), Format::Json)),
            ),
            (
                "/db/table+with+spaces-and-dashes.json",
                Some(Table(
                    s("db"),
                    s("table with spaces-and-dashes"),
                    Format::Json,
                )),
            ),
            ("/db/t.csv", Some(Table(s("db"), s("t"), Format::Csv))),
            ("/db/t/-/schema.json", Some(TableSchema(s("db"), s("t")))),
            ("/db/t/-/count", Some(TableCount(s("db"), s("t")))),
            (
                "/db/t/1.json",
                Some(Row(s("db"), s("t"), vec![s("1")], Format::Json)),
            ),
            (
                "/db/t/a~2Cb,c+d.json",
                Some(Row(s("db"), s("t"), vec![s("a,b"), s("c d")], Format::Json)),
            ),
            (
                "/db/t/E~2FF",
                Some(Row(s("db"), s("t"), vec![s("E/F")], Format::Html)),
            ),
            ("/-/nope", None),
            ("/-/tokens", Some(Tokens)),
            ("/-/tokens/12/revoke", Some(TokenRevoke(12))),
            ("/-/tokens/x/revoke", None),
            ("/-/members", Some(Members)),
            ("/-/api/tokens", Some(ApiTokens)),
            ("/-/api/tokens/3/revoke", Some(ApiTokenRevoke(3))),
            ("/-/audit.json", Some(Audit)),
            ("/db/-/create", Some(Create(s("db")))),
            ("/db/-/execute-write", Some(ExecuteWrite(s("db")))),
            (
                "/db/t/-/insert",
                Some(TableWrite(s("db"), s("t"), super::TableWrite::Insert)),
            ),
            (
                "/db/t/-/drop",
                Some(TableWrite(s("db"), s("t"), super::TableWrite::Drop)),
            ),
            (
                "/db/t/a~2Fb,~2Ec-d/-/update",
                Some(RowWrite(
                    s("db"),
                    s("t"),
                    vec![s("a/b"), s(".c-d")],
                    super::RowWrite::Update,
                )),
            ),
            (
                "/db/t/7/-/delete",
                Some(RowWrite(
                    s("db"),
                    s("t"),
                    vec![s("7")],
                    super::RowWrite::Delete,
                )),
            ),
            ("/a/b/c/d/e", None),
            ("x", None),
        ];
        for (path, expected) in cases {
            assert_eq!(parse(path), expected, "{path}");
        }
    }

    #[test]
    fn splitting() {
        assert_eq!(split_space("/demo/x.json"), Some(("demo", "/x.json")));
        assert_eq!(split_space("/demo"), Some(("demo", "")));
        assert_eq!(split_space("demo"), None);
    }
}
