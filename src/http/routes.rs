//! The URL table of a space: what `/{space}/…` paths mean. Parsed here once,
//! so handlers never see raw path strings. (axum's router cannot capture a
//! `.json` suffix, and Datasette's grammar needs the split anyway.)

/// How an answer is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

/// One endpoint of a space, with its parsed parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpaceRoute {
    /// `/`, `/.json`: the space's databases and their tables.
    Index(Format),
    /// `/-/databases.json`
    Databases,
    /// `/-/actor.json`
    Actor,
    /// `/-/versions.json`
    Versions,
    /// `/-/settings.json`
    Settings,
    /// `/{db}`, `/{db}.json`: the raw name, checked by the handler.
    Database(String, Format),
}

impl SpaceRoute {
    /// A bounded label for logs and metrics.
    pub fn template(&self) -> &'static str {
        match self {
            SpaceRoute::Index(_) => "/{space}/",
            SpaceRoute::Databases => "/{space}/-/databases.json",
            SpaceRoute::Actor => "/{space}/-/actor.json",
            SpaceRoute::Versions => "/{space}/-/versions.json",
            SpaceRoute::Settings => "/{space}/-/settings.json",
            SpaceRoute::Database(..) => "/{space}/{db}",
        }
    }
}

/// Parses the part of the path after `/{space}`; `None` is a 404.
pub fn parse(rest: &str) -> Option<SpaceRoute> {
    let route = match rest {
        "" | "/" => SpaceRoute::Index(Format::Html),
        "/.json" => SpaceRoute::Index(Format::Json),
        "/-/databases.json" => SpaceRoute::Databases,
        "/-/actor.json" => SpaceRoute::Actor,
        "/-/versions.json" => SpaceRoute::Versions,
        "/-/settings.json" => SpaceRoute::Settings,
        _ => {
            let segment = rest.strip_prefix('/')?;
            if segment.is_empty() || segment.contains('/') || segment.starts_with('-') {
                return None;
            }
            match segment.strip_suffix(".json") {
                Some(db) => SpaceRoute::Database(db.to_owned(), Format::Json),
                None => SpaceRoute::Database(segment.to_owned(), Format::Html),
            }
        }
    };
    Some(route)
}

/// Splits `/{space}{rest}` into the space name and the rest.
pub fn split_space(path: &str) -> Option<(&str, &str)> {
    let path = path.strip_prefix('/')?;
    match path.find('/') {
        Some(i) => Some((&path[..i], &path[i..])),
        None => Some((path, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("", Some(SpaceRoute::Index(Format::Html))),
            ("/", Some(SpaceRoute::Index(Format::Html))),
            ("/.json", Some(SpaceRoute::Index(Format::Json))),
            ("/-/databases.json", Some(SpaceRoute::Databases)),
            ("/-/actor.json", Some(SpaceRoute::Actor)),
            ("/-/versions.json", Some(SpaceRoute::Versions)),
            ("/-/settings.json", Some(SpaceRoute::Settings)),
            (
                "/library.json",
                Some(SpaceRoute::Database("library".into(), Format::Json)),
            ),
            (
                "/library",
                Some(SpaceRoute::Database("library".into(), Format::Html)),
            ),
            ("/-/nope", None),
            ("/a/b/c/d/e", None),
            ("x", None),
        ];
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
}
