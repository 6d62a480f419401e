//! Full-text search of a table through its FTS4 or FTS5 index: `?_search=`,
//! `?_search_COLUMN=` and `?_searchmode=raw`, as Datasette 1.0a41 runs them.
//! User text is escaped as Datasette's `escape_fts` escapes it (each word a
//! quoted phrase) unless the mode is raw.
//!
//! The caller checks `view-table` on the FTS table before [`apply`].

use super::args::Args;
use super::table_sql::{BadArg, Conditions};
use crate::catalog::mirror::TableSchema;
use crate::names::quote_ident;
use crate::tenant::Schema;

/// A search a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// The FTS table that indexes the searched table.
    pub fts_table: String,
    /// `(None, text)` for `_search`, else `(Some(column), text)` per `_search_COLUMN`.
    pub terms: Vec<(Option<String>, String)>,
    /// `_searchmode=raw`: the text is FTS query syntax, passed unescaped.
    pub raw: bool,
}

/// The search `args` ask of `table`, if any: `None` when there are no search
/// arguments or the table has no FTS index (Datasette then ignores them).
pub fn request(table: &TableSchema, args: &Args) -> Result<Option<Search>, BadArg> {
    let fts_table = table.fts_table.as_deref();
    // `_fts_table` and `_fts_pk` may only repeat what is configured.
    let requested_table = args.get("_fts_table").filter(|t| !t.is_empty());
    let requested_pk = args.get("_fts_pk").filter(|p| !p.is_empty());
    if requested_table.is_some_and(|t| Some(t) != fts_table)
        || requested_pk.is_some_and(|p| p != "rowid")
    {
        return Err(BadArg("Invalid _fts_table or _fts_pk".into()));
    }
    // Each search key once, first value, in order of appearance.
    let mut searches: Vec<(&str, &str)> = Vec::new();
    for (key, value) in args.pairs() {
        if key.starts_with("_search")
            && key != "_searchmode"
            && !searches.iter().any(|(k, _)| k == key)
        {
            searches.push((key, value));
        }
    }
    let Some(fts_table) = fts_table else {
        return Ok(None);
    };
    if searches.is_empty() {
        return Ok(None);
    }
    let raw = match args.get("_searchmode") {
        Some("raw") => true,
        Some("escaped") | Some(_) | None => false,
    };
    let terms = match searches.iter().find(|(k, _)| *k == "_search") {
        // A plain `_search` wins over column searches.
        Some((_, text)) => vec![(None, (*text).to_owned())],
        None => searches
            .iter()
            .map(|(key, text)| {
                let column = key
                    .find("_search_")
                    .map(|i| key[i + "_search_".len()..].to_owned())
                    .ok_or_else(|| BadArg("Cannot search by that column".into()))?;
                Ok((Some(column), (*text).to_owned()))
            })
            .collect::<Result<_, BadArg>>()?,
    };
    Ok(Some(Search {
        fts_table: fts_table.to_owned(),
        terms,
        raw,
    }))
}

/// Adds the search's clauses and descriptions to `conditions`.
pub fn apply(search: &Search, schema: &Schema, conditions: &mut Conditions) -> Result<(), BadArg> {
    let fts = quote_ident(&search.fts_table);
    for (column, text) in &search.terms {
        let query = if search.raw {
            text.clone()
        } else {
            escape_fts(text)
        };
        match column {
            None => {
                let p = conditions.params.add(query);
                conditions.clauses.push(format!(
                    "rowid in (select rowid from {fts} where {fts} match {p})"
                ));
                conditions
                    .descriptions
                    .push(format!("search matches \"{text}\""));
            }
            Some(column) => {
                let searchable = schema
                    .table(&search.fts_table)
                    .is_some_and(|t| t.columns.iter().any(|c| !c.hidden && c.name == *column));
                if !searchable {
                    return Err(BadArg("Cannot search by that column".into()));
                }
                let p = conditions.params.add(query);
                conditions.clauses.push(format!(
                    "rowid in (select rowid from {fts} where {} match {p})",
                    quote_ident(column)
                ));
                conditions
                    .descriptions
                    .push(format!("search column \"{column}\" matches \"{text}\""));
            }
        }
    }
    Ok(())
}

/// Datasette's `escape_fts`: balance an odd `"` by adding one at the end,
/// split on whitespace keeping `"…"` phrases whole, drop empty phrases, and
/// quote every word that is not already a phrase.
pub fn escape_fts(query: &str) -> String {
    let mut query = query.to_owned();
    if query.matches('"').count() % 2 == 1 {
        query.push('"');
    }
    let chars: Vec<char> = query.chars().collect();
    let mut bits: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_python_space(c) {
            bits.push(std::mem::take(&mut current));
            while i < chars.len() && is_python_space(chars[i]) {
                i += 1;
            }
            continue;
        }
        if c == '"' {
            // A phrase runs to the next `"` on the same line (`.` stops at `\n`).
            let close = chars[i + 1..]
                .iter()
                .take_while(|&&x| x != '\n')
                .position(|&x| x == '"');
            if let Some(offset) = close {
                let end = i + 1 + offset;
                bits.push(std::mem::take(&mut current));
                bits.push(chars[i..=end].iter().collect());
                i = end + 1;
                continue;
            }
        }
        current.push(c);
        i += 1;
    }
    bits.push(current);
    bits.into_iter()
        .filter(|b| !b.is_empty() && b != "\"\"")
        .map(|b| {
            if b.starts_with('"') {
                b
            } else {
                format!("\"{b}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `\s` in a str pattern.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::mirror::ColumnSchema;

    fn column(name: &str, hidden: bool) -> ColumnSchema {
        ColumnSchema {
            cid: 0,
            name: name.into(),
            decl_type: String::new(),
            notnull: false,
            pk: 0,
            hidden,
        }
    }

    fn table(name: &str, fts: Option<&str>, columns: &[&str]) -> TableSchema {
        TableSchema {
            name: name.into(),
            kind: "table",
            hidden: false,
            fts_table: fts.map(str::to_owned),
            sql: None,
            columns: columns.iter().map(|c| column(c, false)).collect(),
            foreign_keys: vec![],
        }
    }

    fn schema() -> Schema {
        let mut fts = table("docs fts", Some("docs fts"), &["title", "body's"]);
        fts.columns.push(column("rank", true));
        Schema {
            version: 1,
            tables: vec![
                table("docs", Some("docs fts"), &["id", "title", "body's"]),
                fts,
                table("plain", None, &["id"]),
            ],
        }
    }

    fn conditions(table: &str, query: &str) -> Result<Conditions, BadArg> {
        let schema = schema();
        let args = Args::parse(Some(query));
        let mut conditions = Conditions::default();
        if let Some(search) = request(schema.table(table).unwrap(), &args)? {
            apply(&search, &schema, &mut conditions)?;
        }
        Ok(conditions)
    }

    #[test]
    fn escaping_matches_datasette() {
        assert_eq!(escape_fts("dog"), "\"dog\"");
        assert_eq!(escape_fts("cat dog"), "\"cat\" \"dog\"");
        assert_eq!(escape_fts("  te* AND do*  "), "\"te*\" \"AND\" \"do*\"");
        assert_eq!(escape_fts("\"sara weasel\""), "\"sara weasel\"");
        assert_eq!(escape_fts("\"unbalanced"), "\"unbalanced\"");
        assert_eq!(escape_fts("a\"b c\"d"), "\"a\" \"b c\" \"d\"");
        assert_eq!(escape_fts("\"\" x"), "\"x\"");
        assert_eq!(escape_fts(""), "");
        // A phrase does not run across a newline.
        assert_eq!(escape_fts("\"a\nb\""), "\"a \"b\"\"");
    }

    #[test]
    fn plain_search() {
        let c = conditions("docs", "_search=cat+dog").unwrap();
        assert_eq!(
            c.clauses,
            ["rowid in (select rowid from \"docs fts\" where \"docs fts\" match :p0)"]
        );
        assert_eq!(
            c.params.0[0].1,
            libsql::Value::Text("\"cat\" \"dog\"".into())
        );
        assert_eq!(c.descriptions, ["search matches \"cat dog\""]);
    }

    #[test]
    fn raw_search_is_not_escaped() {
        let c = conditions("docs", "_search=te*+AND+do*&_searchmode=raw").unwrap();
        assert_eq!(c.params.0[0].1, libsql::Value::Text("te* AND do*".into()));
        let c = conditions("docs", "_search=te*&_searchmode=escaped").unwrap();
        assert_eq!(c.params.0[0].1, libsql::Value::Text("\"te*\"".into()));
    }

    #[test]
    fn column_search() {
        let c = conditions("docs", "_search_body%27s=x&_search_title=y").unwrap();
        assert_eq!(
            c.clauses,
            [
                "rowid in (select rowid from \"docs fts\" where \"body's\" match :p0)",
                "rowid in (select rowid from \"docs fts\" where \"title\" match :p1)",
            ]
        );
        assert_eq!(
            c.descriptions,
            [
                "search column \"body's\" matches \"x\"",
                "search column \"title\" matches \"y\""
            ]
        );
        // `_search` wins over column searches.
        let c = conditions("docs", "_search_title=y&_search=x").unwrap();
        assert_eq!(c.descriptions, ["search matches \"x\""]);
    }

    #[test]
    fn errors_and_ignored_searches() {
        let bad = |q| conditions("docs", q).unwrap_err().0;
        assert_eq!(bad("_search_nope=x"), "Cannot search by that column");
        assert_eq!(bad("_search_rank=x"), "Cannot search by that column");
        assert_eq!(bad("_searchx=x"), "Cannot search by that column");
        assert_eq!(
            bad("_fts_table=other&_search=x"),
            "Invalid _fts_table or _fts_pk"
        );
        assert_eq!(bad("_fts_pk=id"), "Invalid _fts_table or _fts_pk");
        assert!(conditions("docs", "_fts_table=docs+fts&_fts_pk=rowid&_search=x").is_ok());
        // No FTS index: the search is ignored, as Datasette ignores it.
        assert!(conditions("plain", "_search=x").unwrap().clauses.is_empty());
        assert!(
            conditions("docs", "_searchmode=raw")
                .unwrap()
                .clauses
                .is_empty()
        );
    }
}
