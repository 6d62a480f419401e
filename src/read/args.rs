//! A request's query string as Datasette reads it: ordered pairs, repeated
//! keys kept, `+` as space.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args(Vec<(String, String)>);

impl Args {
    pub fn parse(query: Option<&str>) -> Args {
        Args(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// A query string with `remove` keys dropped and `add` pairs appended,
    /// as Datasette's `path_with_replaced_args` builds next-page links.
    pub fn replaced(&self, remove: &[&str], add: &[(&str, &str)]) -> String {
        let kept = self
            .0
            .iter()
            .filter(|(k, _)| !remove.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()));
        encode(kept.chain(add.iter().copied()))
    }
}

/// Python's `urlencode`: `quote_plus` on each key and value.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Python's `urllib.parse.quote_plus`: `A-Za-z0-9_.-~` kept, space as `+`.
pub fn quote_plus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_replacing() {
        let args = Args::parse(Some("_size=3&_sort_desc=pk&_col=a&_col=b+c&_next=1"));
        assert_eq!(args.get("_size"), Some("3"));
        assert_eq!(args.get_all("_col"), vec!["a", "b c"]);
        assert_eq!(
            args.replaced(
                &["_next", "_sort", "_sort_desc"],
                &[("_next", "13,13"), ("_sort_desc", "pk")]
            ),
            "_size=3&_col=a&_col=b+c&_next=13%2C13&_sort_desc=pk"
        );
        assert_eq!(quote_plus("614~2E827,443"), "614~2E827%2C443");
    }
}
