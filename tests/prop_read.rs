//! Property tests of the read side's parsers: tilde-encoding, column filters
//! and the page plan (`_sort`, `_col`, `_size`, `_next`), each checked by
//! running the SQL they build on a real libSQL table. `PROPTEST_CASES=N`
//! runs more cases than the quick default.

use libsette::catalog::mirror::{ColumnSchema, TableSchema};
use libsette::names::{quote_ident, tilde_decode, tilde_encode};
use libsette::read::args::{Args, encode};
use libsette::read::cells::Rows;
use libsette::read::filters::{column_conditions, where_conditions};
use libsette::read::table_sql::{Conditions, TableInfo, next_token, plan};
use libsql::params::Params as SqlParams;
use libsql::{Connection, Value};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    // PROPTEST_CASES, when set, wins over the quick default.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

/// Marks every filter value, so the SQL text can be searched for it.
const MARK: &str = "\u{2af7}v";

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn tilde_round_trips_and_is_url_safe(name in any::<String>()) {
        let encoded = tilde_encode(&name);
        prop_assert_eq!(tilde_decode(&encoded), Some(name.clone()));
        let bytes = encoded.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'+' => i += 1,
                b'~' => {
                    let hex = &encoded[i + 1..i + 3];
                    prop_assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)), "{}", encoded);
                    i += 3;
                }
                other => prop_assert!(false, "{:?} in {}", other as char, encoded),
            }
        }
    }

    #[test]
    fn tilde_decode_never_panics_and_inverts(text in "([a-zA-Z0-9_+~.%/ -]|~[0-9a-fA-F]{0,2}|\\PC){0,24}") {
        if let Some(decoded) = tilde_decode(&text) {
            // Whatever decodes re-encodes to a text that decodes the same.
            prop_assert_eq!(tilde_decode(&tilde_encode(&decoded)), Some(decoded.clone()));
            if !text.contains(['~', '+']) {
                prop_assert_eq!(decoded, text);
            }
        }
    }
}

/// A small table, typed so that keyset comparisons with text parameters
/// follow the column's affinity as they do in Datasette.
#[derive(Clone, Debug)]
struct Fixture {
    /// Name of the value column (quotes, brackets, spaces…).
    column: String,
    /// Its type: INTEGER or TEXT.
    integer: bool,
    /// Compound text/integer key, or rowid.
    compound: bool,
    values: Vec<Option<String>>,
}

fn fixture() -> impl Strategy<Value = Fixture> {
    let column = prop_oneof!["v", "[a-z\"'`\\[\\] ,~.]{1,8}", "\\PC{1,6}"]
        .prop_filter("not a key column", |c| {
            !["a", "b", "w", "rowid", "oid", "_rowid_"].contains(&c.to_ascii_lowercase().as_str())
        });
    (column, any::<bool>(), any::<bool>()).prop_flat_map(|(column, integer, compound)| {
        let value = if integer {
            prop_oneof![Just(None), (-3i64..4).prop_map(|i| Some(i.to_string()))].boxed()
        } else {
            prop_oneof![
                Just(None),
                "[ab,~$ ]{0,3}".prop_map(|v| Some(format!("{MARK}{v}"))),
                Just(Some("$null".to_owned()))
            ]
            .boxed()
        };
        proptest::collection::vec(value, 0..14).prop_map(move |values| Fixture {
            column: column.clone(),
            integer,
            compound,
            values,
        })
    })
}

/// Builds the table in a fresh in-memory database.
fn build(f: &Fixture) -> (Connection, TableSchema) {
    let db = libsette::sqlite::now(libsql::Builder::new_local(":memory:").build()).unwrap();
    let conn = db.connect().unwrap();
    let ty = if f.integer { "integer" } else { "text" };
    let c = quote_ident(&f.column);
    let create = if f.compound {
        format!("create table t (a integer, b text, {c} {ty}, primary key (a, b))")
    } else {
        format!("create table t ({c} {ty}, w text)")
    };
    libsette::sqlite::execute_batch(&conn, &create).unwrap();
    for (i, v) in f.values.iter().enumerate() {
        let v = v.clone().map_or(Value::Null, Value::Text);
        if f.compound {
            // Ties on `a` so the second key matters; `b` holds a comma.
            let (a, b) = ((i / 3) as i64, format!("k,{}", i % 3));
            let sql = format!("insert into t (a, b, {c}) values (?1, ?2, ?3)");
            libsette::sqlite::execute(&conn, &sql, vec![Value::Integer(a), Value::Text(b), v])
                .unwrap();
        } else {
            let sql = format!("insert into t ({c}, w) values (?1, 'w')");
            libsette::sqlite::execute(&conn, &sql, vec![v]).unwrap();
        }
    }
    let mut columns = Vec::new();
    let mut add = |name: &str, decl: &str, pk: i64| {
        columns.push(ColumnSchema {
            cid: columns.len() as i64,
            name: name.into(),
            decl_type: decl.into(),
            notnull: false,
            pk,
            hidden: false,
        })
    };
    if f.compound {
        add("a", "INTEGER", 1);
        add("b", "TEXT", 2);
        add(&f.column, ty, 0);
    } else {
        add(&f.column, ty, 0);
        add("w", "TEXT", 0);
    }
    let schema = TableSchema {
        name: "t".into(),
        kind: "table",
        hidden: false,
        fts_table: None,
        sql: Some(create),
        columns,
        foreign_keys: vec![],
    };
    (conn, schema)
}

fn rows(
    conn: &Connection,
    sql: &str,
    params: &[(String, Value)],
) -> Result<Vec<Vec<Value>>, String> {
    libsette::sqlite::now(async {
        let mut rows = conn
            .query(sql, SqlParams::Named(params.to_vec()))
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.map_err(|e| e.to_string())? {
            let n = row.column_count();
            out.push((0..n).map(|i| row.get_value(i).unwrap()).collect());
        }
        Ok(out)
    })
}

/// The keys of a row as text, in the order the plan selected them.
fn key_of(info: &TableInfo, columns: &[String], row: &[Value]) -> String {
    info.key_columns()
        .iter()
        .map(|k| {
            let i = columns
                .iter()
                .position(|c| c == k)
                .expect("keys are selected");
            format!("{:?}", row[i])
        })
        .collect::<Vec<_>>()
        .join("|")
}

proptest! {
    #![proptest_config(config(256))]

    /// Following `_next` from page to page gives every row exactly once, in
    /// the order SQLite gives the whole sorted table.
    #[test]
    fn next_pages_visit_every_row_once_in_order(
        f in fixture(),
        sort in 0..3u8,
        size in 1usize..5,
        hide_sort in any::<bool>(),
    ) {
        let (conn, schema) = build(&f);
        let info = TableInfo::from_schema(&schema);
        let mut base: Vec<(&str, String)> = vec![("_size", size.to_string())];
        match sort {
            1 => base.push(("_sort", f.column.clone())),
            2 => base.push(("_sort_desc", f.column.clone())),
            _ => {}
        }
        if hide_sort && f.compound {
            // The sort column left out of `_col`: fetched after the others.
            base.push(("_col", "a".into()));
        }
        let keys: Vec<String> = info.key_columns().iter().map(|k| quote_ident(k)).collect();
        let order = match sort {
            1 => format!("{}, {}", quote_ident(&f.column), keys.join(", ")),
            2 => format!("{} desc, {}", quote_ident(&f.column), keys.join(", ")),
            _ => keys.join(", "),
        };
        let expected: Vec<String> = rows(&conn, &format!("select {} from t order by {order}", keys.join(", ")), &[])
            .unwrap()
            .iter()
            .map(|r| r.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join("|"))
            .collect();
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..=f.values.len() + 1 {
            let mut pairs: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(token) = &next {
                pairs.push(("_next", token));
            }
            let args = Args::parse(Some(&encode(pairs)));
            let plan = plan(&info, &args, &Conditions::default(), 100, 1000)
                .map_err(|e| TestCaseError::fail(e.0))?;
            let page = rows(&conn, &plan.sql, &plan.params.0).map_err(TestCaseError::fail)?;
            let sort_value = plan.sort_index.and_then(|i| page.get(plan.page_size - 1).map(|r| r[i].clone()));
            next = next_token(&plan, &info, &Rows::from_values(page.clone()), sort_value.as_ref());
            for row in page.iter().take(plan.page_size) {
                seen.push(key_of(&info, &plan.columns, row));
            }
            if next.is_none() {
                break;
            }
        }
        prop_assert!(next.is_none(), "pagination did not end");
        prop_assert_eq!(seen, expected);
    }

    /// Any mix of filters on any column names either is refused as a bad
    /// argument or builds SQL that runs, binds every value as a parameter,
    /// and whose count agrees with the rows it selects.
    #[test]
    fn filters_bind_values_and_run(
        f in fixture(),
        filters in proptest::collection::vec(
            (0..3u8, "(exact|not|contains|notcontains|endswith|startswith|gt|gte|lt|lte|like|notlike|glob|in|notin|arraycontains|arraynotcontains|date|isnull|notnull|isblank|notblank|nope)",
             prop_oneof!["\\PC{0,6}", "[ab,~$ ]{0,3}", "-?[0-9]{1,3}", "\\[(\"a\"|1|null|true|1.5|\\[\\]|\\{\\})?(, ?(\"b\"|2))?\\]?"]),
            0..4),
        extra in proptest::collection::vec(("_?[a-z_]{0,6}", "\\PC{0,4}"), 0..3),
    ) {
        let (conn, schema) = build(&f);
        let info = TableInfo::from_schema(&schema);
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (which, op, value) in &filters {
            let column = match which {
                0 => f.column.clone(),
                1 => "a".to_owned(),
                _ => "no such \"col".to_owned(),
            };
            let key = if op == "exact" { column } else { format!("{column}__{op}") };
            pairs.push((key, format!("{MARK}{value}")));
        }
        pairs.extend(extra.iter().cloned());
        pairs.push(("_size".into(), "max".into()));
        let query = encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let args = Args::parse(Some(&query));
        let mut conditions = Conditions::default();
        if column_conditions(&schema, &args, &mut conditions).is_err() {
            return Ok(());
        }
        let Ok(plan) = plan(&info, &args, &conditions, 100, 1000) else {
            return Ok(());
        };
        prop_assert!(!plan.sql.contains(MARK), "a value was written into the SQL: {}", plan.sql);
        for (name, _) in &plan.params.0 {
            prop_assert!(plan.sql.contains(name.as_str()), "{} unused in {}", name, plan.sql);
        }
        let page = match rows(&conn, &plan.sql, &plan.params.0) {
            // A column that holds no JSON cannot be searched as an array:
            // SQLite's own error, which the table page answers with a 400.
            Err(e) if e.contains("malformed JSON")
                && filters.iter().any(|(_, op, _)| op.starts_with("array")) => return Ok(()),
            other => other.map_err(TestCaseError::fail)?,
        };
        let count = rows(&conn, &plan.count_sql(), &plan.filter_params.0).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&count[0][0], &Value::Integer(page.len() as i64));
        // With one `exact` filter on the text column, the rows are those equal
        // to it; an extra pair may filter too (`?a=`), so then only narrow.
        if let [(0, op, value)] = filters.as_slice() {
            if op == "exact" && !f.integer {
                let wanted = format!("{MARK}{value}");
                let equal = f.values.iter().filter(|v| v.as_deref() == Some(wanted.as_str())).count();
                if extra.is_empty() {
                    prop_assert_eq!(page.len(), equal);
                } else {
                    prop_assert!(page.len() <= equal, "{} rows, {} equal", page.len(), equal);
                }
            }
        }
    }

    /// A `_where` fragment narrows the rows the other filters select and
    /// never widens them, however its parentheses, quotes and comments fall.
    #[test]
    fn where_fragments_only_narrow(
        f in fixture(),
        fragment in prop_oneof![
            "[()'\"` 1=orand-]{0,12}",
            Just("1) or (1".to_owned()),
            Just("1=1) or (1=1".to_owned()),
            Just("0) or 1 or (0".to_owned()),
            Just("')' = ')') or (1".to_owned()),
            Just("1 /* ( */) or (1".to_owned()),
            Just("1 -- )\n) or (1".to_owned()),
        ],
    ) {
        let (conn, schema) = build(&f);
        let info = TableInfo::from_schema(&schema);
        let count = |query: &str| -> Result<Option<i64>, TestCaseError> {
            let args = Args::parse(Some(query));
            let mut conditions = Conditions::default();
            column_conditions(&schema, &args, &mut conditions).unwrap();
            if where_conditions(&args, &mut conditions).is_err() {
                return Ok(None);
            }
            let plan = plan(&info, &args, &conditions, 100, 1000).unwrap();
            // SQLite's own error (a 400 for the client) selects nothing.
            Ok(rows(&conn, &plan.count_sql(), &plan.filter_params.0).ok().map(|r| match r[0][0] {
                Value::Integer(n) => n,
                _ => -1,
            }))
        };
        let filter = encode([(f.column.as_str(), "nothing equals this")]);
        let alone = count(&filter)?.expect("a plain filter runs");
        let with_where = encode([(f.column.as_str(), "nothing equals this"), ("_where", fragment.as_str())]);
        if let Some(n) = count(&with_where)? {
            prop_assert!(n <= alone, "_where={} widened {} rows to {}", fragment, alone, n);
        }
    }
}
