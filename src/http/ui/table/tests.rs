//! Unit tests of the table page's filter form and facet toggles.

use super::facets::toggle;
use super::*;

#[test]
fn filters_as_the_form_shows_them() {
    let args = Args::parse(Some("a=1&b__gt=2&c__isnull=1&_sort=a&zz=3&b__bogus=4"));
    let columns = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let shown: Vec<(String, String, String)> = current_filters(&args, &columns)
        .into_iter()
        .map(|f| (f.column, f.op, f.value))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("a".into(), "exact".into(), "1".into()),
            ("b".into(), "gt".into(), "2".into()),
            ("c".into(), "isnull__1".into(), "".into()),
        ]
    );
}

#[test]
fn toggles() {
    let args = Args::parse(Some("_facet=genre&genre=x&_next=5"));
    assert_eq!(toggle(&args, "genre", "x", true, "/t"), "/t?_facet=genre");
    assert_eq!(
        toggle(&args, "genre", "y z", false, "/t"),
        "/t?_facet=genre&genre=x&genre=y+z"
    );
}
