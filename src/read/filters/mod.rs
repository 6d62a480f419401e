//! Column filters from the query string (`?col=value`, `?col__op=value`),
//! `?_where=` fragments and `?_through=` joins, turned into WHERE clauses with
//! parameters and English descriptions, as Datasette 1.0a41's filters do; and
//! the `_filter_column`/`_filter_op`/`_filter_value` form's redirect.
//!
//! Permission checks (`_where` needs `execute-sql`, `_through` needs
//! `view-table` on the joined table) belong to the caller, in `http::table_filters`.

use libsql::Value;
use serde_json::Value as Json;

use super::args::{Args, encode};
use super::table_sql::{BadArg, Conditions};
use crate::catalog::mirror::TableSchema;
use crate::names::quote_ident;
use crate::tenant::Schema;

/// One filter operator: the `op` of `?col__op=value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Exact,
    Not,
    Contains,
    NotContains,
    EndsWith,
    StartsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    NotLike,
    Glob,
    In,
    NotIn,
    ArrayContains,
    ArrayNotContains,
    Date,
    IsNull,
    NotNull,
    IsBlank,
    NotBlank,
}

impl Op {
    /// The operator named `key`; unknown operators are ignored, as Datasette ignores them.
    pub fn parse(key: &str) -> Option<Op> {
        Some(match key {
            "exact" => Op::Exact,
            "not" => Op::Not,
            "contains" => Op::Contains,
            "notcontains" => Op::NotContains,
            "endswith" => Op::EndsWith,
            "startswith" => Op::StartsWith,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "like" => Op::Like,
            "notlike" => Op::NotLike,
            "glob" => Op::Glob,
            "in" => Op::In,
            "notin" => Op::NotIn,
            "arraycontains" => Op::ArrayContains,
            "arraynotcontains" => Op::ArrayNotContains,
            "date" => Op::Date,
            "isnull" => Op::IsNull,
            "notnull" => Op::NotNull,
            "isblank" => Op::IsBlank,
            "notblank" => Op::NotBlank,
            _ => return None,
        })
    }
}

/// The filter arguments of a request: every key but those starting with `_`
/// and holding no `__`, sorted by key then value (Datasette's order).
pub fn filter_args(args: &Args) -> Vec<(&str, &str)> {
    let mut pairs: Vec<(&str, &str)> = args
        .pairs()
        .iter()
        .filter(|(k, _)| !k.starts_with('_') || k.contains("__"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort();
    pairs
}

/// Adds the column filters of `args` on `table` to `conditions`.
pub fn column_conditions(
    table: &TableSchema,
    args: &Args,
    conditions: &mut Conditions,
) -> Result<(), BadArg> {
    for (key, value) in filter_args(args) {
        let (column, op) = key.rsplit_once("__").unwrap_or((key, "exact"));
        let Some(op) = Op::parse(op) else {
            continue;
        };
        let (clause, params) = where_clause(table, column, op, value)?;
        let mut clause = clause;
        for (i, param) in params.into_iter().enumerate() {
            let placeholder = conditions.params.add(param);
            clause = clause.replace(&format!("{{p{i}}}"), &placeholder);
        }
        conditions.clauses.push(clause);
        conditions
            .descriptions
            .push(description(column, op, value)?);
    }
    Ok(())
}

/// Whether SQLite resolves `column` in `table`: a column (any case, hidden
/// ones included) or a rowid alias.
fn resolves(table: &TableSchema, column: &str) -> bool {
    ["rowid", "oid", "_rowid_"]
        .iter()
        .any(|alias| alias.eq_ignore_ascii_case(column))
        || table
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(column))
}

/// An SQL string literal.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A plain identifier, which Datasette leaves unquoted in `in (…)` filters.
fn is_boring(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The SQL of one filter, with `{p0}`, `{p1}`… standing for its parameters.
fn where_clause(
    table: &TableSchema,
    column: &str,
    op: Op,
    value: &str,
) -> Result<(String, Vec<Value>), BadArg> {
    // Datasette double-quotes the column; SQLite reads a double-quoted name
    // that is no column as a string, so a filter on an unknown column
    // compares that string (`?nope=1` matches nothing, `?nope__notnull=1` everything).
    let c = if resolves(table, column) {
        quote_ident(column)
    } else {
        match op {
            Op::In | Op::NotIn if is_boring(column) => {
                return Err(BadArg(format!("no such column: {column}")));
            }
            Op::ArrayContains | Op::ArrayNotContains => {
                return Err(BadArg(format!("no such column: {}.{column}", table.name)));
            }
            _ => sql_string(column),
        }
    };
    let text = |v: String| vec![Value::Text(v)];
    Ok(match op {
        Op::Exact => (format!("{c} = {{p0}}"), text(value.into())),
        Op::Not => (format!("{c} != {{p0}}"), text(value.into())),
        Op::Contains => (format!("{c} like {{p0}}"), text(format!("%{value}%"))),
        Op::NotContains => (format!("{c} not like {{p0}}"), text(format!("%{value}%"))),
        Op::EndsWith => (format!("{c} like {{p0}}"), text(format!("%{value}"))),
        Op::StartsWith => (format!("{c} like {{p0}}"), text(format!("{value}%"))),
        // Comparisons turn a numeric value into a number.
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let sign = match op {
                Op::Gt => ">",
                Op::Gte => ">=",
                Op::Lt => "<",
                _ => "<=",
            };
            (format!("{c} {sign} {{p0}}"), vec![numeric(value)])
        }
        Op::Like => (format!("{c} like {{p0}}"), text(value.into())),
        Op::NotLike => (format!("{c} not like {{p0}}"), text(value.into())),
        Op::Glob => (format!("{c} glob {{p0}}"), text(value.into())),
        Op::In | Op::NotIn => {
            let values = in_values(value)?;
            let params: Vec<Value> = values.iter().map(bind_json).collect::<Result<_, _>>()?;
            let placeholders: Vec<String> =
                (0..params.len()).map(|i| format!("{{p{i}}}")).collect();
            let not = if op == Op::NotIn { " not" } else { "" };
            (format!("{c}{not} in ({})", placeholders.join(", ")), params)
        }
        Op::ArrayContains | Op::ArrayNotContains => {
            let not = if op == Op::ArrayNotContains {
                " not"
            } else {
                ""
            };
            (
                format!(
                    "{{p0}}{not} in (select value from json_each({}.{c}))",
                    quote_ident(&table.name)
                ),
                text(value.into()),
            )
        }
        Op::Date => (format!("date({c}) = {{p0}}"), text(value.into())),
        Op::IsNull => (format!("{c} is null"), vec![]),
        Op::NotNull => (format!("{c} is not null"), vec![]),
        Op::IsBlank => (format!("({c} is null or {c} = '')"), vec![]),
        Op::NotBlank => (format!("({c} is not null and {c} != '')"), vec![]),
    })
}

/// Datasette's English for one filter, as `_extra=human_description_en` lists it.
fn description(column: &str, op: Op, value: &str) -> Result<String, BadArg> {
    let digits = !value.is_empty() && value.chars().all(|c| c.is_ascii_digit());
    let quoted = |verb: &str| format!("{column} {verb} \"{value}\"");
    Ok(match op {
        Op::Exact if digits => format!("{column} = {value}"),
        Op::Exact => quoted("="),
        Op::Not if digits => format!("{column} != {value}"),
        Op::Not => quoted("!="),
        Op::Contains | Op::ArrayContains => quoted("contains"),
        Op::NotContains | Op::ArrayNotContains => quoted("does not contain"),
        Op::EndsWith => quoted("ends with"),
        Op::StartsWith => quoted("starts with"),
        Op::Gt => format!("{column} > {value}"),
        Op::Gte => format!("{column} \u{2265} {value}"),
        Op::Lt => format!("{column} < {value}"),
        Op::Lte => format!("{column} \u{2264} {value}"),
        Op::Like => quoted("like"),
        Op::NotLike => quoted("not like"),
        Op::Glob => quoted("glob"),
        Op::In => format!("{column} in {}", python_json_list(&in_values(value)?)),
        Op::NotIn => format!("{column} not in {}", python_json_list(&in_values(value)?)),
        Op::Date => format!("\"{column}\" is on date {value}"),
        Op::IsNull => format!("{column} is null"),
        Op::NotNull => format!("{column} is not null"),
        Op::IsBlank => format!("{column} is blank"),
        Op::NotBlank => format!("{column} is not blank"),
    })
}

/// The values of `__in`/`__notin`: a JSON array, or comma-separated and trimmed.
fn in_values(value: &str) -> Result<Vec<Json>, BadArg> {
    if value.starts_with('[') {
        serde_json::from_str::<Vec<Json>>(value)
            .map_err(|e| BadArg(format!("Invalid JSON list in __in filter: {e}")))
    } else {
        Ok(value
            .split(',')
            .map(|v| Json::String(v.trim_matches(is_python_space).to_owned()))
            .collect())
    }
}

/// Python's `str.isspace()`, which `strip()` and `split()` use.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// A JSON scalar as an SQL parameter (Python's sqlite3 binds `true` as 1).
fn bind_json(value: &Json) -> Result<Value, BadArg> {
    Ok(match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Integer(i),
            (None, Some(_)) if n.is_u64() => {
                return Err(BadArg(
                    "Python int too large to convert to SQLite INTEGER".into(),
                ));
            }
            (None, Some(f)) => Value::Real(f),
            (None, None) => Value::Null,
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(_) | Json::Object(_) => {
            return Err(BadArg(
                "Filter values must be strings, numbers, booleans or null".into(),
            ));
        }
    })
}

/// Datasette's numeric conversion for comparisons: an integer, else a
/// finite float, else the text itself.
fn numeric(value: &str) -> Value {
    let trimmed = value.trim_matches(is_python_space);
    let unsigned = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let int_like = !unsigned.is_empty()
        && !unsigned.starts_with('_')
        && !unsigned.ends_with('_')
        && !unsigned.contains("__")
        && unsigned.chars().all(|c| c.is_ascii_digit() || c == '_');
    if int_like {
        if let Ok(i) = trimmed.replace('_', "").parse::<i64>() {
            return Value::Integer(i);
        }
    }
    let lower = trimmed.to_ascii_lowercase();
    // Rust accepts "inf" and "nan" as Python does, and both are refused below;
    // it does not accept Python's "1_000.5" (rare enough to stay text).
    if !lower.is_empty() && !lower.contains('_') {
        if let Ok(f) = lower.parse::<f64>() {
            if f.is_finite() {
                return Value::Real(f);
            }
        }
    }
    Value::Text(value.to_owned())
}

/// Python's `json.dumps(list)`: `", "` between items, non-ASCII escaped.
pub fn python_json_list(values: &[Json]) -> String {
    super::values::python_json(&Json::Array(values.to_vec()))
}

/// Adds each `?_where=` fragment, parenthesised so that an `or` in one can't
/// escape the other conditions (Datasette joins them bare). A fragment that
/// could close those parentheses is refused: SQL Datasette would fail on
/// too. The caller has checked `execute-sql`.
pub fn where_conditions(args: &Args, conditions: &mut Conditions) -> Result<(), BadArg> {
    for fragment in args.get_all("_where") {
        if !super::sql_text::self_contained(fragment) {
            return Err(BadArg(
                "Invalid _where: unbalanced parentheses, quotes or comments".into(),
            ));
        }
        conditions.clauses.push(format!("({fragment})"));
        conditions.user_sql = true;
    }
    Ok(())
}

/// One `?_through={"table": …, "column": …, "value": …}`: rows of this table
/// linked through `table` to `column = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Through {
    pub table: String,
    pub column: String,
    pub value: Json,
}

/// Parses every `?_through=`.
pub fn throughs(args: &Args) -> Result<Vec<Through>, BadArg> {
    args.get_all("_through")
        .into_iter()
        .map(|text| {
            let bad = || {
                BadArg(
                    "Invalid _through - expected JSON like {\"table\": …, \"column\": …, \"value\": …}"
                        .into(),
                )
            };
            let data: Json = serde_json::from_str(text).map_err(|_| bad())?;
            let field = |name: &str| data.get(name).and_then(Json::as_str).map(str::to_owned);
            Ok(Through {
                table: field("table").ok_or_else(bad)?,
                column: field("column").ok_or_else(bad)?,
                value: data.get("value").cloned().ok_or_else(bad)?,
            })
        })
        .collect()
}

/// Adds one `_through` join; the caller has checked `view-table` on its table.
pub fn through_condition(
    schema: &Schema,
    table: &TableSchema,
    through: &Through,
    conditions: &mut Conditions,
) -> Result<(), BadArg> {
    let link = schema.table(&through.table).and_then(|t| {
        t.foreign_keys
            .iter()
            .find(|fk| fk.other_table == table.name)
            .map(|fk| (t, fk))
    });
    let Some((through_table, fk)) = link else {
        return Err(BadArg(
            "Invalid _through - could not find corresponding foreign key".into(),
        ));
    };
    if !resolves(through_table, &through.column) {
        return Err(BadArg(format!("no such column: {}", through.column)));
    }
    let param = conditions.params.add(bind_json(&through.value)?);
    conditions.clauses.push(format!(
        "{} in (select {} from {} where {} = {param})",
        quote_ident(&fk.other_column),
        quote_ident(&fk.column),
        quote_ident(&through.table),
        quote_ident(&through.column),
    ));
    let value = match &through.value {
        Json::String(s) => s.clone(),
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) if n.is_f64() => super::values::float_text(n.as_f64().unwrap_or_default()),
        other => other.to_string(),
    };
    conditions.descriptions.push(format!(
        "{}.{} = \"{value}\"",
        through.table, through.column
    ));
    Ok(())
}

/// Datasette's `human_description_en` for a list of descriptions:
/// `where a, b and c`, or empty.
pub fn human_description_en(descriptions: &[String]) -> String {
    match descriptions {
        [] => String::new(),
        [one] => format!("where {one}"),
        [rest @ .., last] => format!("where {} and {last}", rest.join(", ")),
    }
}

/// The query string the `_filter_column`/`_filter_op`/`_filter_value` form
/// (and its numbered `_filter_column_N` variants) redirects to, or `None`
/// when the request has none of those keys.
pub fn filter_form_redirect(args: &Args) -> Option<String> {
    let mut add: Vec<(String, String)> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    let mut filter = |column: &str, op: &str, value: &str| {
        let (op, value) = op.split_once("__").unwrap_or((op, value));
        if !column.is_empty() {
            add.push((format!("{column}__{op}"), value.to_owned()));
        }
    };
    filter(
        args.get("_filter_column").unwrap_or(""),
        args.get("_filter_op").unwrap_or(""),
        args.get("_filter_value").unwrap_or(""),
    );
    for key in ["_filter_column", "_filter_op", "_filter_value"] {
        if args.has(key) {
            remove.push(key.into());
        }
    }
    let mut numbered: Vec<&str> = Vec::new();
    for (key, _) in args.pairs() {
        let is_numbered = key
            .strip_prefix("_filter_column_")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if is_numbered && !numbered.contains(&key.as_str()) {
            numbered.push(key);
        }
    }
    for key in numbered {
        let number = &key["_filter_column_".len()..];
        let op = args
            .get(&format!("_filter_op_{number}"))
            .filter(|o| !o.is_empty())
            .unwrap_or("exact");
        let value = args.get(&format!("_filter_value_{number}")).unwrap_or("");
        filter(args.get(key).unwrap_or(""), op, value);
        for prefix in ["_filter_column_", "_filter_op_", "_filter_value_"] {
            remove.push(format!("{prefix}{number}"));
        }
    }
    if add.is_empty() && remove.is_empty() {
        return None;
    }
    // Python's parse_qsl drops blank values from the kept arguments.
    let kept = args
        .pairs()
        .iter()
        .filter(|(k, v)| !v.is_empty() && !remove.contains(k))
        .map(|(k, v)| (k.as_str(), v.as_str()));
    Some(encode(
        kept.chain(add.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    ))
}

#[cfg(test)]
mod tests;
