//! Links that add or remove query arguments of the current request, written
//! as Datasette's `path_with_added_args` / `path_with_removed_args` write
//! them: pairs with an empty value are dropped, the rest re-encoded with
//! `quote_plus`, and no `?` when nothing is left.

use super::args::{Args, encode};

/// The request's pairs that survive Python's `parse_qsl` (blank values dropped).
fn kept(args: &Args) -> impl Iterator<Item = (&str, &str)> {
    args.pairs()
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

fn join(path: &str, query: String) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// `path` with the request's arguments and `add` appended.
pub fn with_added(path: &str, args: &Args, add: &[(&str, &str)]) -> String {
    join(path, encode(kept(args).chain(add.iter().copied())))
}

/// `path` with the request's arguments minus every pair equal to one of `remove`.
pub fn with_removed(path: &str, args: &Args, remove: &[(&str, &str)]) -> String {
    join(
        path,
        encode(kept(args).filter(|pair| !remove.contains(pair))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_and_removed() {
        let args = Args::parse(Some("_facet=state&_size=0&empty=&state=CA"));
        assert_eq!(
            with_added("/t.json", &args, &[("n", "a b/c")]),
            "/t.json?_facet=state&_size=0&state=CA&n=a+b%2Fc"
        );
        assert_eq!(
            with_removed("/t.json", &args, &[("state", "CA"), ("_facet", "nope")]),
            "/t.json?_facet=state&_size=0"
        );
        assert_eq!(
            with_removed("/t.json", &Args::parse(Some("a=1")), &[("a", "1")]),
            "/t.json"
        );
    }
}
