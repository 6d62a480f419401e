//! The URL table's cases: paths and what they parse to.

use super::*;

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn reads() {
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
    ];
    check(cases);
}

#[test]
fn writes_and_forms() {
    use SpaceRoute::*;
    let cases = [
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
        (
            "/db/t/-/insert-row",
            Some(RowForm(s("db"), s("t"), vec![], super::RowForm::Insert)),
        ),
        (
            "/db/t/a~2Cb,c/-/edit",
            Some(RowForm(
                s("db"),
                s("t"),
                vec![s("a,b"), s("c")],
                super::RowForm::Edit,
            )),
        ),
        (
            "/db/t/7/-/delete-row",
            Some(RowForm(
                s("db"),
                s("t"),
                vec![s("7")],
                super::RowForm::Delete,
            )),
        ),
        ("/db/t/7/-/nope", None),
        ("/a/b/c/d/e", None),
        ("x", None),
    ];
    check(cases);
    // The execute-write page answers GET; the API keeps its POST.
    let page = ExecuteWrite(s("db"));
    assert!(page.accepts(false) && page.accepts(true) && page.writes());
    assert!(RowForm(s("db"), s("t"), vec![], super::RowForm::Insert).is_page());
}

#[test]
fn table_forms() {
    use SpaceRoute::*;
    let cases = [
        (
            "/db/-/create-table",
            Some(TableForm(s("db"), None, super::TableForm::Create)),
        ),
        (
            "/db/t/-/alter-table",
            Some(TableForm(s("db"), Some(s("t")), super::TableForm::Alter)),
        ),
        (
            "/db/t/-/drop-table",
            Some(TableForm(s("db"), Some(s("t")), super::TableForm::Drop)),
        ),
        ("/db/-/create-table.json", None),
    ];
    check(cases);
    let form = TableForm(s("db"), None, super::TableForm::Create);
    assert!(form.accepts(false) && form.accepts(true) && form.writes() && form.is_page());
    // The JSON API's endpoints keep their methods.
    assert!(!Create(s("db")).accepts(false));
}

fn check<const N: usize>(cases: [(&str, Option<SpaceRoute>); N]) {
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

#[test]
fn stored_queries() {
    use SpaceRoute::*;
    let cases = [
        ("/-/queries", Some(QueryList(None, Format::Html))),
        ("/-/queries.json", Some(QueryList(None, Format::Json))),
        (
            "/db/-/queries.json",
            Some(QueryList(Some(s("db")), Format::Json)),
        ),
        (
            "/db/-/queries",
            Some(QueryList(Some(s("db")), Format::Html)),
        ),
        ("/db/-/queries.csv", None),
        ("/db/-/queries/store", Some(QueryStore(s("db")))),
        (
            "/db/q~2Ex/-/definition",
            Some(StoredQuery(s("db"), s("q.x"), QueryAction::Definition)),
        ),
        (
            "/db/q/-/update",
            Some(StoredQuery(s("db"), s("q"), QueryAction::Update)),
        ),
        (
            "/db/q/-/delete",
            Some(StoredQuery(s("db"), s("q"), QueryAction::Delete)),
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(parse(path), expected, "{path}");
    }
    let definition = StoredQuery(s("db"), s("q"), QueryAction::Definition);
    assert!(definition.accepts(false) && !definition.accepts(true));
    let update = StoredQuery(s("db"), s("q"), QueryAction::Update);
    assert!(update.accepts(true) && !update.accepts(false));
    // POST on `/{db}/{name}` runs a writable stored query.
    assert!(Table(s("db"), s("q"), Format::Html).accepts(true));
}
