//! Unit tests of the column filters, `_where` and `_through`.

use super::*;
use crate::catalog::mirror::{ColumnSchema, ForeignKey};

fn table(name: &str, columns: &[&str]) -> TableSchema {
    TableSchema {
        name: name.into(),
        kind: "table",
        hidden: false,
        fts_table: None,
        sql: None,
        columns: columns
            .iter()
            .enumerate()
            .map(|(i, c)| ColumnSchema {
                cid: i as i64,
                name: (*c).into(),
                decl_type: String::new(),
                notnull: false,
                pk: 0,
                hidden: false,
            })
            .collect(),
        foreign_keys: vec![],
    }
}

fn t() -> TableSchema {
    table("my \"t\"", &["n", "a b", "[x]", "it's"])
}

/// The one clause, its parameters and its description for `query`.
fn one(query: &str) -> (String, Vec<Value>, String) {
    let mut c = Conditions::default();
    column_conditions(&t(), &Args::parse(Some(query)), &mut c).unwrap();
    assert_eq!(c.clauses.len(), 1, "{query}: {:?}", c.clauses);
    let params = c.params.0.into_iter().map(|(_, v)| v).collect();
    (c.clauses.remove(0), params, c.descriptions.remove(0))
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn every_operator() {
    let cases: Vec<(&str, &str, Vec<Value>, &str)> = vec![
        ("n=5", "\"n\" = :p0", vec![text("5")], "n = 5"),
        ("n__exact=x", "\"n\" = :p0", vec![text("x")], "n = \"x\""),
        ("a+b__not=5", "\"a b\" != :p0", vec![text("5")], "a b != 5"),
        (
            "a+b__not=x",
            "\"a b\" != :p0",
            vec![text("x")],
            "a b != \"x\"",
        ),
        (
            "n__contains=o",
            "\"n\" like :p0",
            vec![text("%o%")],
            "n contains \"o\"",
        ),
        (
            "n__notcontains=o",
            "\"n\" not like :p0",
            vec![text("%o%")],
            "n does not contain \"o\"",
        ),
        (
            "n__endswith=z",
            "\"n\" like :p0",
            vec![text("%z")],
            "n ends with \"z\"",
        ),
        (
            "n__startswith=z",
            "\"n\" like :p0",
            vec![text("z%")],
            "n starts with \"z\"",
        ),
        (
            "n__gt=10",
            "\"n\" > :p0",
            vec![Value::Integer(10)],
            "n > 10",
        ),
        (
            "n__gte=1.5",
            "\"n\" >= :p0",
            vec![Value::Real(1.5)],
            "n \u{2265} 1.5",
        ),
        (
            "n__lt=-3",
            "\"n\" < :p0",
            vec![Value::Integer(-3)],
            "n < -3",
        ),
        (
            "n__lte=2019-01-01",
            "\"n\" <= :p0",
            vec![text("2019-01-01")],
            "n \u{2264} 2019-01-01",
        ),
        (
            "n__like=a_b",
            "\"n\" like :p0",
            vec![text("a_b")],
            "n like \"a_b\"",
        ),
        (
            "n__notlike=a%",
            "\"n\" not like :p0",
            vec![text("a%")],
            "n not like \"a%\"",
        ),
        (
            "n__glob=*x",
            "\"n\" glob :p0",
            vec![text("*x")],
            "n glob \"*x\"",
        ),
        (
            "n__in=a,+b",
            "\"n\" in (:p0, :p1)",
            vec![text("a"), text("b")],
            "n in [\"a\", \"b\"]",
        ),
        (
            "n__notin=[1,\"é\",null,true,2.5]",
            "\"n\" not in (:p0, :p1, :p2, :p3, :p4)",
            vec![
                Value::Integer(1),
                text("é"),
                Value::Null,
                Value::Integer(1),
                Value::Real(2.5),
            ],
            "n not in [1, \"\\u00e9\", null, true, 2.5]",
        ),
        ("n__in=[]", "\"n\" in ()", vec![], "n in []"),
        (
            "%5Bx%5D__arraycontains=v",
            ":p0 in (select value from json_each(\"my \"\"t\"\"\".\"[x]\"))",
            vec![text("v")],
            "[x] contains \"v\"",
        ),
        (
            "n__arraynotcontains=v",
            ":p0 not in (select value from json_each(\"my \"\"t\"\"\".\"n\"))",
            vec![text("v")],
            "n does not contain \"v\"",
        ),
        (
            "n__date=2019-01-15",
            "date(\"n\") = :p0",
            vec![text("2019-01-15")],
            "\"n\" is on date 2019-01-15",
        ),
        (
            "it%27s__isnull=1",
            "\"it's\" is null",
            vec![],
            "it's is null",
        ),
        ("n__notnull=0", "\"n\" is not null", vec![], "n is not null"),
        (
            "n__isblank=1",
            "(\"n\" is null or \"n\" = '')",
            vec![],
            "n is blank",
        ),
        (
            "n__notblank=1",
            "(\"n\" is not null and \"n\" != '')",
            vec![],
            "n is not blank",
        ),
    ];
    for (query, sql, params, description) in cases {
        let (got_sql, got_params, got_description) = one(query);
        assert_eq!(got_sql, sql, "{query}");
        assert_eq!(got_params, params, "{query}");
        assert_eq!(got_description, description, "{query}");
    }
}

#[test]
fn numbering_order_and_ignored_arguments() {
    let mut c = Conditions::default();
    let args = Args::parse(Some(
        "n__lt=9&_size=3&n__in=1,2&n__gt=2&_neighborhood__exact=x&n__nope=1&_city=2&N=3",
    ));
    column_conditions(&table("t", &["n", "_neighborhood"]), &args, &mut c).unwrap();
    // Sorted by key then value; `_`-keys without `__` and unknown ops ignored.
    assert_eq!(
        c.clauses,
        [
            "\"N\" = :p0",
            "\"_neighborhood\" = :p1",
            "\"n\" > :p2",
            "\"n\" in (:p3, :p4)",
            "\"n\" < :p5",
        ]
    );
    assert_eq!(
        human_description_en(&c.descriptions),
        "where N = 3, _neighborhood = \"x\", n > 2, n in [\"1\", \"2\"] and n < 9"
    );
    assert_eq!(human_description_en(&[]), "");
    assert_eq!(human_description_en(&["a".into()]), "where a");
}

#[test]
fn description_as_datasette_words_it() {
    // Datasette 1.0a41's human_description_en for the same request.
    let mut c = Conditions::default();
    let query = "state=CA&n__gt=1&pk__in=1,2&tags__arraycontains=x&created__date=2019\
                 &notes__isnull=1&_neighborhood__contains=o&n__lte=1.5&state__not=7";
    let columns = [
        "pk",
        "created",
        "state",
        "_neighborhood",
        "tags",
        "n",
        "notes",
    ];
    column_conditions(
        &table("facetable", &columns),
        &Args::parse(Some(query)),
        &mut c,
    )
    .unwrap();
    assert_eq!(
        human_description_en(&c.descriptions),
        "where _neighborhood contains \"o\", \"created\" is on date 2019, n > 1, \
         n \u{2264} 1.5, notes is null, pk in [\"1\", \"2\"], state = \"CA\", \
         state != 7 and tags contains \"x\""
    );
}

#[test]
fn unknown_columns_behave_as_in_sqlite() {
    // A double-quoted unknown name is a string to SQLite.
    assert_eq!(one("nope=1").0, "'nope' = :p0");
    assert_eq!(one("it%27s2__notnull=1").0, "'it''s2' is not null");
    assert_eq!(one("rowid__gt=3").0, "\"rowid\" > :p0");
    let bad = |q: &str| {
        column_conditions(&t(), &Args::parse(Some(q)), &mut Conditions::default())
            .unwrap_err()
            .0
    };
    assert_eq!(bad("nope__in=1"), "no such column: nope");
    assert_eq!(
        bad("nope__arraycontains=1"),
        "no such column: my \"t\".nope"
    );
    assert_eq!(one("no+pe__in=1").0, "'no pe' in (:p0)");
    assert!(bad("n__in=[1,").starts_with("Invalid JSON list in __in filter"));
    assert!(bad("n__in=[[1]]").starts_with("Filter values must be"));
}

#[test]
fn numeric_conversion() {
    assert_eq!(numeric("10"), Value::Integer(10));
    assert_eq!(numeric(" +7 "), Value::Integer(7));
    assert_eq!(numeric("1_000"), Value::Integer(1000));
    assert_eq!(numeric("10.75"), Value::Real(10.75));
    assert_eq!(numeric("1e3"), Value::Real(1000.0));
    assert_eq!(numeric("inf"), text("inf"));
    assert_eq!(numeric("nan"), text("nan"));
    assert_eq!(numeric("2019-01-16"), text("2019-01-16"));
    assert_eq!(numeric(""), text(""));
    assert_eq!(numeric("99999999999999999999"), Value::Real(1e20));
}

#[test]
fn python_reprs() {
    assert_eq!(
        python_json_list(&[Json::from("a\"\n✓😀")]),
        "[\"a\\\"\\n\\u2713\\ud83d\\ude00\"]"
    );
}

#[test]
fn where_fragments_are_parenthesised() {
    let mut c = Conditions::default();
    where_conditions(&Args::parse(Some("_where=a=1+or+b=2&_where=c")), &mut c).unwrap();
    assert_eq!(c.clauses, ["(a=1 or b=2)", "(c)"]);
    assert!(c.user_sql);
    assert!(c.descriptions.is_empty());
    let mut c = Conditions::default();
    let bad = where_conditions(&Args::parse(Some("_where=1)+or+(1")), &mut c);
    assert!(bad.is_err() && c.clauses.is_empty());
}

#[test]
fn through_joins() {
    let mut link = table("link's", &["item_id", "tag id"]);
    link.foreign_keys.push(ForeignKey {
        column: "item_id".into(),
        other_table: "items".into(),
        other_column: "id".into(),
    });
    let schema = Schema {
        version: 1,
        tables: vec![table("items", &["id"]), link],
    };
    let items = schema.table("items").unwrap().clone();
    let parse = |json: &str| {
        let query = format!("_through={}", crate::read::args::quote_plus(json));
        throughs(&Args::parse(Some(&query)))
    };
    let through = parse(r#"{"table": "link's", "column": "tag id", "value": 3}"#).unwrap();
    let mut c = Conditions::default();
    c.params.add("earlier");
    through_condition(&schema, &items, &through[0], &mut c).unwrap();
    assert_eq!(
        c.clauses,
        ["\"id\" in (select \"item_id\" from \"link's\" where \"tag id\" = :p1)"]
    );
    assert_eq!(c.params.0[1].1, Value::Integer(3));
    assert_eq!(c.descriptions, ["link's.tag id = \"3\""]);

    let error = |json: &str| {
        let through = parse(json)?;
        through_condition(&schema, &items, &through[0], &mut Conditions::default())
    };
    assert!(error("nope").unwrap_err().0.starts_with("Invalid _through"));
    assert!(
        error(r#"{"table": "link's"}"#)
            .unwrap_err()
            .0
            .starts_with("Invalid _through")
    );
    assert_eq!(
        error(r#"{"table": "items", "column": "id", "value": 1}"#)
            .unwrap_err()
            .0,
        "Invalid _through - could not find corresponding foreign key"
    );
    assert_eq!(
        error(r#"{"table": "link's", "column": "nope", "value": 1}"#)
            .unwrap_err()
            .0,
        "no such column: nope"
    );
}

#[test]
fn filter_form_redirects() {
    let redirect = |q: &str| filter_form_redirect(&Args::parse(Some(q)));
    assert_eq!(redirect("_size=2"), None);
    assert_eq!(
        redirect("_filter_column=state&_filter_op=exact&_filter_value=MI").as_deref(),
        Some("state__exact=MI")
    );
    // Datasette's own answer to this request.
    assert_eq!(
        redirect(
            "x=1&y=&_filter_column_1=state&_filter_op_1=contains__foo&_filter_value_1=zz\
             &_filter_column_2=&_filter_op=gt&_filter_column=n&_filter_value=%20a%2Cb"
        )
        .as_deref(),
        Some("x=1&n__gt=+a%2Cb&state__contains=foo")
    );
    assert_eq!(redirect("_filter_value=1").as_deref(), Some(""));
    assert_eq!(
        redirect("_filter_column=a%20b&_filter_op=lt").as_deref(),
        Some("a+b__lt=")
    );
    assert_eq!(
        redirect("_filter_column_3=n&_filter_value_3=4").as_deref(),
        Some("n__exact=4")
    );
}
