//! The SQL behind a table or view page: which columns (`_col`, `_nocol`),
//! the order (`_sort`, `_sort_desc`, primary keys as tie-breakers), the page
//! size (`_size`), and keyset pagination (`_next`) that stays correct for
//! compound keys, rowid tables and sorts on columns with ties or NULLs.

use libsql::Value;

use super::args::Args;
use super::cells::Rows;
use super::values::to_text;
use crate::catalog::mirror::TableSchema;
use crate::names::{push_quoted, quote_ident, tilde_decode, tilde_encode};

/// What the builder needs to know about a table or view.
#[derive(Clone, Debug)]
pub struct TableInfo {
    pub name: String,
    pub is_view: bool,
    /// Visible columns, in table order.
    pub columns: Vec<String>,
    pub pks: Vec<String>,
}

impl TableInfo {
    pub fn from_schema(table: &TableSchema) -> TableInfo {
        let mut pks: Vec<_> = table.columns.iter().filter(|c| c.pk > 0).collect();
        pks.sort_by_key(|c| c.pk);
        TableInfo {
            name: table.name.clone(),
            is_view: table.kind == "view",
            columns: table
                .columns
                .iter()
                .filter(|c| !c.hidden)
                .map(|c| c.name.clone())
                .collect(),
            pks: pks.into_iter().map(|c| c.name.clone()).collect(),
        }
    }

    /// Tables without a declared primary key are keyed by rowid.
    pub fn use_rowid(&self) -> bool {
        self.pks.is_empty() && !self.is_view
    }

    /// The columns that identify a row: the primary keys, or rowid.
    pub fn key_columns(&self) -> Vec<String> {
        if self.use_rowid() {
            vec!["rowid".into()]
        } else {
            self.pks.clone()
        }
    }
}

/// Named parameters, numbered `:p0`, `:p1`… as they are added.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, Value)>);

impl Params {
    /// Adds a value and returns its placeholder.
    pub fn add(&mut self, value: impl Into<Value>) -> String {
        let name = format!(":p{}", self.0.len());
        self.0.push((name.clone(), value.into()));
        name
    }
}

/// WHERE clauses (ANDed) and their parameters, from filters, search and _where.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    pub clauses: Vec<String>,
    pub params: Params,
    /// Human descriptions of each filter, for `_extra=human_description_en`.
    pub descriptions: Vec<String>,
    /// A clause holds user SQL (`_where`): run under the read-only authorizer.
    pub user_sql: bool,
}

impl Conditions {
    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" where {}", self.clauses.join(" and "))
        }
    }
}

/// A 400 with Datasette's message.
#[derive(Debug, PartialEq, Eq)]
pub struct BadArg(pub String);

/// The planned page query of a table.
#[derive(Clone, Debug)]
pub struct PagePlan {
    /// Selected columns, `rowid` first for rowid tables.
    pub columns: Vec<String>,
    pub sql: String,
    pub params: Params,
    /// The table, quoted, and the filter's ` where …` (or nothing): what
    /// [`PagePlan::count_sql`] and [`PagePlan::from_filtered_sql`] are made
    /// of, on demand (most pages need neither).
    table_sql: String,
    filter_where: String,
    /// Parameters of the count and facet statements.
    pub filter_params: Params,
    pub page_size: usize,
    pub sort: Option<String>,
    pub sort_desc: Option<String>,
    /// The `_next` of this request, for views (an offset).
    pub offset: usize,
    /// Where the sort column's value sits in each fetched row: it is fetched
    /// after the selected columns when `_col` left it out.
    pub sort_index: Option<usize>,
}

/// `_size`: a number up to `max_returned_rows`, or `max`.
pub fn page_size(args: &Args, default: usize, max: usize) -> Result<usize, BadArg> {
    let Some(size) = args.get("_size") else {
        return Ok(default);
    };
    if size == "max" {
        return Ok(max);
    }
    let size: usize = size
        .parse()
        .map_err(|_| BadArg("_size must be a positive integer".into()))?;
    if size > max {
        return Err(BadArg(format!("_size must be <= {max}")));
    }
    Ok(size)
}

/// `_col` and `_nocol`: primary keys always come first.
pub fn selected_columns(table: &TableInfo, args: &Args) -> Result<Vec<String>, BadArg> {
    let mut columns: Vec<String> = table.columns.clone();
    let cols = args.get_all("_col");
    if args.has("_col") {
        let bad: Vec<&str> = cols
            .iter()
            .copied()
            .filter(|c| !table.columns.iter().any(|t| t == c))
            .collect();
        if !bad.is_empty() {
            return Err(BadArg(format!("_col={} - invalid columns", bad.join(", "))));
        }
        columns = table.pks.clone();
        for c in cols {
            if !columns.iter().any(|x| x == c) {
                columns.push(c.to_owned());
            }
        }
    }
    if args.has("_nocol") {
        let nocols = args.get_all("_nocol");
        let bad: Vec<&str> = nocols
            .iter()
            .copied()
            .filter(|c| !table.columns.iter().any(|t| t == c) || table.pks.iter().any(|p| p == c))
            .collect();
        if !bad.is_empty() {
            return Err(BadArg(format!(
                "_nocol={} - invalid columns",
                bad.join(", ")
            )));
        }
        columns.retain(|c| !nocols.contains(&c.as_str()));
    }
    Ok(columns)
}

/// `_sort` / `_sort_desc`, checked against the sortable columns.
fn sort_order(table: &TableInfo, args: &Args) -> Result<(Option<String>, Option<String>), BadArg> {
    let sort = args.get("_sort").filter(|s| !s.is_empty());
    let sort_desc = args.get("_sort_desc").filter(|s| !s.is_empty());
    if sort.is_some() && sort_desc.is_some() {
        return Err(BadArg(
            "Cannot use _sort and _sort_desc at the same time".into(),
        ));
    }
    let sortable =
        |c: &str| table.columns.iter().any(|t| t == c) || (table.use_rowid() && c == "rowid");
    for column in sort.iter().chain(sort_desc.iter()) {
        if !sortable(column) {
            return Err(BadArg(format!("Cannot sort table by {column}")));
        }
    }
    Ok((sort.map(str::to_owned), sort_desc.map(str::to_owned)))
}

/// `(pk1 > :a) or (pk1 = :a and pk2 > :b) or …`: rows after the given key.
fn keys_after(keys: &[String], values: &[String], params: &mut Params) -> String {
    let placeholders: Vec<String> = values.iter().map(|v| params.add(v.clone())).collect();
    let mut ors = Vec::new();
    for n in 1..=keys.len() {
        let mut ands: Vec<String> = (0..n - 1)
            .map(|i| format!("{} = {}", quote_ident(&keys[i]), placeholders[i]))
            .collect();
        ands.push(format!(
            "{} > {}",
            quote_ident(&keys[n - 1]),
            placeholders[n - 1]
        ));
        ors.push(format!("({})", ands.join(" and ")));
    }
    format!("({})", ors.join(" or "))
}

/// Plans the page query for `table` with the filters in `conditions`.
pub fn plan(
    table: &TableInfo,
    args: &Args,
    conditions: &Conditions,
    default_page_size: usize,
    max_returned_rows: usize,
) -> Result<PagePlan, BadArg> {
    let mut columns = selected_columns(table, args)?;
    let (sort, sort_desc) = sort_order(table, args)?;
    let size = page_size(args, default_page_size, max_returned_rows)?;
    let keys = table.key_columns();
    if table.use_rowid() {
        columns.insert(0, "rowid".into());
    }
    let table_sql = quote_ident(&table.name);
    let filter_where = conditions.where_sql();
    let mut params = conditions.params.clone();
    let mut clauses = conditions.clauses.clone();
    let mut offset = 0;

    if let Some(token) = args.get("_next").filter(|t| !t.is_empty()) {
        if table.is_view {
            offset = token
                .parse()
                .map_err(|_| BadArg("_next must be a number for views".into()))?;
        } else {
            let mut components: Vec<Option<String>> = token
                .split(',')
                .map(|c| {
                    if c == "$null" {
                        None
                    } else {
                        Some(tilde_decode(c).unwrap_or_else(|| c.to_owned()))
                    }
                })
                .collect();
            let sort_column = sort.as_ref().or(sort_desc.as_ref());
            let sort_value = if sort_column.is_some() && components.len() > 1 {
                Some(components.remove(0))
            } else {
                None
            };
            let key_values: Vec<String> = components
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect();
            if key_values.len() != keys.len() {
                return Err(BadArg("Invalid _next token".into()));
            }
            let after = keys_after(&keys, &key_values, &mut params);
            match (sort_column, sort_value) {
                (Some(column), Some(value)) => {
                    let col = quote_ident(column);
                    let clause = match (value, sort.is_some()) {
                        (None, true) => {
                            format!("({col} is not null or ({col} is null and {after}))")
                        }
                        (None, false) => format!("({col} is null and {after})"),
                        (Some(v), true) => {
                            let p = params.add(v);
                            format!("({col} > {p} or ({col} = {p} and {after}))")
                        }
                        (Some(v), false) => {
                            let p = params.add(v);
                            format!("({col} < {p} or {col} is null or ({col} = {p} and {after}))")
                        }
                    };
                    clauses.push(clause);
                }
                _ => clauses.push(after),
            }
        }
    }

    let keys_sql: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
    let order_by = match (&sort, &sort_desc) {
        // Keys break ties, so pages never skip or repeat rows.
        (Some(c), _) => format!(" order by {}, {}", quote_ident(c), keys_sql.join(", ")),
        (_, Some(c)) => format!(" order by {} desc, {}", quote_ident(c), keys_sql.join(", ")),
        _ if table.is_view => String::new(),
        _ => format!(" order by {}", keys_sql.join(", ")),
    };
    // Views have no keys to break ties with.
    let order_by = if table.is_view {
        match (&sort, &sort_desc) {
            (Some(c), _) => format!(" order by {}", quote_ident(c)),
            (_, Some(c)) => format!(" order by {} desc", quote_ident(c)),
            _ => String::new(),
        }
    } else {
        order_by
    };
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" where {}", clauses.join(" and "))
    };
    let mut select = String::new();
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            select.push_str(", ");
        }
        push_quoted(&mut select, column);
    }
    let sort_index = sort.as_ref().or(sort_desc.as_ref()).map(|column| {
        columns.iter().position(|c| c == column).unwrap_or_else(|| {
            if !select.is_empty() {
                select.push_str(", ");
            }
            push_quoted(&mut select, column);
            columns.len()
        })
    });
    let offset_sql = if offset > 0 {
        format!(" offset {offset}")
    } else {
        String::new()
    };
    Ok(PagePlan {
        sql: format!(
            "select {select} from {table_sql}{where_sql}{order_by} limit {}{offset_sql}",
            size + 1
        ),
        params,
        table_sql,
        filter_where,
        filter_params: conditions.params.clone(),
        columns,
        page_size: size,
        sort,
        sort_desc,
        offset,
        sort_index,
    })
}

impl PagePlan {
    /// `select count(*)` over the filtered rows.
    pub fn count_sql(&self) -> String {
        format!(
            "select count(*) from {}{}",
            self.table_sql, self.filter_where
        )
    }

    /// Every column of `table`'s filtered rows, unordered and unlimited (facets).
    pub fn from_filtered_sql(&self, table: &TableInfo) -> String {
        let mut sql = String::from("select ");
        if table.use_rowid() {
            sql.push_str("rowid, ");
        }
        for (i, column) in table.columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            push_quoted(&mut sql, column);
        }
        sql.push_str(" from ");
        sql.push_str(&self.table_sql);
        sql.push_str(&self.filter_where);
        sql
    }
}

/// A row's key as Datasette writes it in URLs and `_shape=object`:
/// each value tilde-encoded, joined by commas.
pub fn row_path<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    values
        .into_iter()
        .map(|v| tilde_encode(&to_text(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The `_next` token after `last` (the last row shown), or `None` when the page was the last.
pub fn next_token(
    plan: &PagePlan,
    table: &TableInfo,
    rows: &Rows,
    sort_value: Option<&Value>,
) -> Option<String> {
    if plan.page_size == 0 || rows.len() <= plan.page_size {
        return None;
    }
    if table.is_view {
        return Some((plan.offset + plan.page_size).to_string());
    }
    let last = rows.get(plan.page_size - 1)?;
    let key_values: Vec<Value> = table
        .key_columns()
        .iter()
        .filter_map(|k| {
            plan.columns
                .iter()
                .position(|c| c == k)
                .map(|i| last.value(i))
        })
        .collect();
    let key = row_path(&key_values);
    if plan.sort.is_none() && plan.sort_desc.is_none() {
        return Some(key);
    }
    let prefix = match sort_value {
        None | Some(Value::Null) => "$null".to_owned(),
        Some(v) => tilde_encode(&to_text(v)),
    };
    Some(format!("{prefix},{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableInfo {
        TableInfo {
            name: "t".into(),
            is_view: false,
            columns: vec!["pk1".into(), "pk2".into(), "v".into()],
            pks: vec!["pk1".into(), "pk2".into()],
        }
    }

    #[test]
    fn keyset_for_compound_keys() {
        let mut params = Params::default();
        let sql = keys_after(
            &["a".into(), "b".into()],
            &["1".into(), "2".into()],
            &mut params,
        );
        assert_eq!(sql, "((\"a\" > :p0) or (\"a\" = :p0 and \"b\" > :p1))");
    }

    #[test]
    fn sorted_next_page() {
        let args = Args::parse(Some("_sort=v&_next=%24null,a,b&_size=2"));
        let plan = plan(&table(), &args, &Conditions::default(), 100, 1000).unwrap();
        assert!(
            plan.sql
                .contains("(\"v\" is not null or (\"v\" is null and"),
            "{}",
            plan.sql
        );
        assert!(
            plan.sql
                .ends_with("order by \"v\", \"pk1\", \"pk2\" limit 3"),
            "{}",
            plan.sql
        );
    }

    #[test]
    fn errors() {
        let t = table();
        let bad = |q: &str| {
            plan(&t, &Args::parse(Some(q)), &Conditions::default(), 100, 1000)
                .unwrap_err()
                .0
        };
        assert_eq!(bad("_size=1001"), "_size must be <= 1000");
        assert_eq!(bad("_size=-1"), "_size must be a positive integer");
        assert_eq!(bad("_sort=nope"), "Cannot sort table by nope");
        assert_eq!(
            bad("_sort=v&_sort_desc=v"),
            "Cannot use _sort and _sort_desc at the same time"
        );
        assert_eq!(bad("_col=nope"), "_col=nope - invalid columns");
        assert_eq!(bad("_nocol=pk1"), "_nocol=pk1 - invalid columns");
    }
}
