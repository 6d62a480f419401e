//! The names, values and parameters the fuzzer draws from: each space's
//! own names (alpha's are canaries), junk names and values, and every
//! query parameter Datasette's table and query pages read.

/// Names a space's requests draw from.
pub struct Pool {
    pub space: &'static str,
    pub dbs: &'static [&'static str],
    pub tables: &'static [&'static str],
    pub columns: &'static [&'static str],
}

pub const ALPHA: Pool = Pool {
    space: "alpha",
    dbs: &["cnrydb"],
    tables: &["cnryvis", "cnryhid", "cnryview"],
    columns: &["id", "cnryviscol", "cnryhidcol", "ref"],
};
/// What the unrestricted alpha token may write to: never the canaries.
pub const ALPHA_SCRATCH: Pool = Pool {
    space: "alpha",
    dbs: &["cnryscratch"],
    tables: &["s1", "s2"],
    columns: &["id", "v"],
};
pub const BETA: Pool = Pool {
    space: "beta",
    dbs: &["pub"],
    tables: &["items", "other", "items_fts", "s2"],
    columns: &["id", "name", "n", "tags", "item", "other_id"],
};
pub const OTHER: Pool = Pool {
    space: "demo",
    dbs: &["library", "main"],
    tables: &["books", "t"],
    columns: &["id", "title"],
};

#[rustfmt::skip]
pub const JUNK_NAMES: &[&str] = &[
    "", ".", "..", "-", "~", "~zz", "~2", "+", "a b", "x~2Fy", "sqlite_master", "sqlite_sequence",
    "pragma_database_list", "x\"y", "[b]", "a/b", "rowid", "_rowid_", "ü", "%00", "name.json",
    "t.csv", "con", "0", "-1", "9223372036854775808", "'", "`", "\\", "*", "<script>fzx</script>",
];
#[rustfmt::skip]
pub const JUNK_VALUES: &[&str] = &[
    "", "0", "-1", "1", "3", "1e308", "-1e308", "nan", "inf", "[1,2]", "[", "[\"a\",null]", "{}",
    "~", "%", "'", "\"", "null", "$null", "9999999999999999999", "1.5", "a,b", ",,", "true", " ",
    "\u{feff}", "é", "😀", "\\x00", "%zz", "1_000", "<script>fzx</script>",
    "\"><img src=x onerror=fzx>",
];
#[rustfmt::skip]
pub const SHAPES: &[&str] = &[
    "objects", "array", "arrays", "object", "arrayfirst", "nope", "",
];
#[rustfmt::skip]
pub const EXTRAS: &[&str] = &[
    "count", "facet_results", "human_description_en", "next_url", "columns", "primary_keys",
    "display_columns", "query", "metadata", "database", "table", "private", "render_cell",
    "expandable_columns", "suggested_facets", "debug", "request", "set_default", "count_sql",
    "facets_timed_out", "database_color", "form_hidden_args", "renderers", "sorted_facet_results",
    "is_view", "view_definition", "table_definition", "filters", "actions", "nope",
];
#[rustfmt::skip]
pub const OPS: &[&str] = &[
    "exact", "not", "contains", "notcontains", "endswith", "startswith", "gt", "gte", "lt", "lte",
    "like", "notlike", "glob", "in", "notin", "arraycontains", "arraynotcontains", "date",
    "isnull", "notnull", "isblank", "notblank", "nope", "",
];
#[rustfmt::skip]
pub const ARGS: &[&str] = &[
    "_shape", "_extra", "_size", "_sort", "_sort_desc", "_col", "_nocol", "_next", "_facet",
    "_facet_array", "_facet_date", "_facet_size", "_where", "_through", "_search", "_search_col",
    "_searchmode", "_labels", "_nolabels", "_json", "_timelimit", "_ttl", "_stream", "_dl", "_nl",
    "_trace", "_nofacet", "_nosuggest", "_filter_column", "_filter_op", "_filter_value", "sql",
    "_hash", "_context", "_nocount", "_header", "_fts", "table", "actor", "database", "event",
    "action", "parent", "child", "q", "_initial", "_page",
];
