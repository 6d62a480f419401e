//! Column filters from the query string (`?col=value`, `?col__op=value`)
//! turned into WHERE clauses with parameters, as Datasette's filters do.

use super::args::Args;
use super::table_sql::{BadArg, Conditions, TableInfo};
use crate::names::quote_ident;

/// Builds the conditions of a table request from its filter arguments:
/// every argument not starting with `_` (or holding `__`) names a column.
pub fn conditions(table: &TableInfo, args: &Args) -> Result<Conditions, BadArg> {
    let mut conditions = Conditions::default();
    let mut filters: Vec<(&str, &str)> = args
        .pairs()
        .iter()
        .filter(|(k, _)| !k.starts_with('_') || k.contains("__"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    filters.sort();
    for (key, value) in filters {
        let (column, op) = key.rsplit_once("__").unwrap_or((key, "exact"));
        let known =
            table.columns.iter().any(|c| c == column) || (table.use_rowid() && column == "rowid");
        if !known {
            continue;
        }
        let col = quote_ident(column);
        if op == "exact" {
            let p = conditions.params.add(value.to_owned());
            conditions.clauses.push(format!("{col} = {p}"));
            conditions.descriptions.push(format!("{column} = {value}"));
        }
    }
    Ok(conditions)
}
