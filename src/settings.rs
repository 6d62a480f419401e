//! Datasette's settings and libsette's own limits: their names, types and
//! defaults, validation of `--setting NAME VALUE`, and the effective values
//! for a space (instance defaults, then `serve --setting`, then the space's own).

use std::collections::BTreeMap;

use serde_json::{Value, json};

enum Kind {
    Int,
    Bool,
    Text,
}

/// Every setting libsette knows, with its default, in Datasette's order.
const SETTINGS: &[(&str, Kind, &str)] = &[
    ("default_page_size", Kind::Int, "100"),
    ("max_returned_rows", Kind::Int, "1000"),
    ("max_insert_rows", Kind::Int, "100"),
    ("max_post_body_bytes", Kind::Int, "2097152"),
    ("num_sql_threads", Kind::Int, "3"),
    ("sql_time_limit_ms", Kind::Int, "1000"),
    ("default_facet_size", Kind::Int, "30"),
    ("facet_time_limit_ms", Kind::Int, "200"),
    ("facet_suggest_time_limit_ms", Kind::Int, "50"),
    ("allow_facet", Kind::Bool, "on"),
    ("allow_download", Kind::Bool, "on"),
    ("allow_signed_tokens", Kind::Bool, "on"),
    ("default_allow_sql", Kind::Bool, "on"),
    ("max_signed_tokens_ttl", Kind::Int, "0"),
    ("suggest_facets", Kind::Bool, "on"),
    ("default_cache_ttl", Kind::Int, "5"),
    ("cache_size_kb", Kind::Int, "0"),
    ("allow_csv_stream", Kind::Bool, "on"),
    ("max_csv_mb", Kind::Int, "100"),
    ("truncate_cells_html", Kind::Int, "2048"),
    ("force_https_urls", Kind::Bool, "off"),
    ("template_debug", Kind::Bool, "off"),
    ("trace_debug", Kind::Bool, "off"),
    ("base_url", Kind::Text, "/"),
    // libsette's own limits (0 turns a limit off), kept out of Datasette's
    // `/-/settings.json`, which answers exactly Datasette's settings.
    // The largest string or blob SQL may build or read (0: SQLite's 1 GB).
    ("max_value_mb", Kind::Int, "16"),
    // The largest rows of one JSON or CSV answer (0: no cap).
    ("max_response_mb", Kind::Int, "32"),
    // Requests per minute per token or user, and per anonymous address.
    ("rate_limit_token_per_minute", Kind::Int, "3000"),
    ("rate_limit_anonymous_per_minute", Kind::Int, "1200"),
    // SQL statements of one space at once, and how long a read waits for a turn.
    ("max_concurrent_queries", Kind::Int, "8"),
    ("max_query_wait_ms", Kind::Int, "1000"),
    // Each database file's size, and databases per space.
    ("max_database_mb", Kind::Int, "1024"),
    ("max_databases", Kind::Int, "100"),
    // The largest file (or pasted text) the UI's upload takes.
    ("max_upload_mb", Kind::Int, "100"),
];

/// The last of Datasette's own settings: those after it are libsette's,
/// kept out of `/-/settings.json`.
const LAST_DATASETTE_SETTING: &str = "base_url";

/// Datasette's settings, in its order.
fn datasette_settings() -> impl Iterator<Item = &'static (&'static str, Kind, &'static str)> {
    let last = SETTINGS
        .iter()
        .position(|s| s.0 == LAST_DATASETTE_SETTING)
        .expect("base_url is a setting");
    SETTINGS[..=last].iter()
}

fn kind_of(name: &str) -> Option<&'static Kind> {
    SETTINGS.iter().find(|s| s.0 == name).map(|s| &s.1)
}

/// Checks a setting and normalises its value (`true`/`1` → `on`, …).
pub fn validate(name: &str, value: &str) -> Result<String, String> {
    match kind_of(name) {
        None => Err(format!("'{name}' is not a setting")),
        Some(Kind::Int) => value
            .parse::<u64>()
            .map(|n| n.to_string())
            .map_err(|_| format!("setting {name} must be a whole number, not '{value}'")),
        Some(Kind::Bool) => match value.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => Ok("on".into()),
            "off" | "false" | "0" => Ok("off".into()),
            _ => Err(format!("setting {name} must be on or off, not '{value}'")),
        },
        Some(Kind::Text) => Ok(value.to_owned()),
    }
}

/// The effective settings of one place: defaults overlaid with overrides.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    overrides: BTreeMap<String, String>,
}

impl Settings {
    /// Settings from validated (name, value) pairs; later pairs win.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Settings, String> {
        let mut overrides = BTreeMap::new();
        for (name, value) in pairs {
            overrides.insert(name.to_owned(), validate(name, value)?);
        }
        Ok(Settings { overrides })
    }

    /// These settings with `other`'s overrides on top (for a space over the instance).
    pub fn overlay(&self, other: &Settings) -> Settings {
        let mut overrides = self.overrides.clone();
        overrides.extend(other.overrides.clone());
        Settings { overrides }
    }

    fn raw(&self, name: &str) -> &str {
        self.overrides
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| {
                SETTINGS
                    .iter()
                    .find(|s| s.0 == name)
                    .map(|s| s.2)
                    .unwrap_or_else(|| panic!("unknown setting {name}"))
            })
    }

    pub fn int(&self, name: &str) -> u64 {
        self.raw(name).parse().unwrap_or(0)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.raw(name) == "on"
    }

    /// The settings set on purpose (by `serve --setting` or the space's own),
    /// typed, by name: Datasette's `settings` of `/-/config.json`.
    pub fn overrides_json(&self) -> Value {
        let typed = self.overrides.keys().filter_map(|name| {
            let value = match kind_of(name)? {
                Kind::Int => json!(self.int(name)),
                Kind::Bool => json!(self.flag(name)),
                Kind::Text => json!(self.raw(name)),
            };
            Some((name.clone(), value))
        });
        Value::Object(typed.collect())
    }

    /// `/-/settings.json`: every setting with its effective, typed value.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, kind, _) in datasette_settings() {
            let value = match kind {
                Kind::Int => json!(self.int(name)),
                Kind::Bool => json!(self.flag(name)),
                Kind::Text => json!(self.raw(name)),
            };
            out.insert((*name).to_owned(), value);
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert_eq!(validate("default_page_size", "50"), Ok("50".into()));
        assert_eq!(validate("allow_facet", "TRUE"), Ok("on".into()));
        assert!(validate("default_page_size", "-1").is_err());
        assert!(validate("allow_facet", "maybe").is_err());
        assert!(
            validate("no_such_setting", "1")
                .unwrap_err()
                .contains("not a setting")
        );
    }

    #[test]
    fn overlay_and_defaults() {
        let instance = Settings::from_pairs([("default_page_size", "50")]).unwrap();
        let space = Settings::from_pairs([("max_returned_rows", "10")]).unwrap();
        let both = instance.overlay(&space);
        assert_eq!(both.int("default_page_size"), 50);
        assert_eq!(both.int("max_returned_rows"), 10);
        assert_eq!(both.int("sql_time_limit_ms"), 1000);
        assert!(both.flag("allow_facet"));
        assert_eq!(both.to_json()["default_page_size"], json!(50));
    }

    #[test]
    fn libsette_limits_stay_out_of_settings_json() {
        let settings = Settings::from_pairs([("max_value_mb", "4")]).unwrap();
        assert_eq!(settings.int("max_value_mb"), 4);
        assert_eq!(settings.int("max_response_mb"), 32);
        let json = settings.to_json();
        assert!(json.get("max_value_mb").is_none());
        assert_eq!(json.as_object().unwrap().len(), 24);
    }

    #[test]
    fn own_limits_are_settable_but_not_in_datasettes_answer() {
        let space = Settings::from_pairs([("max_databases", "3")]).unwrap();
        assert_eq!(space.int("max_databases"), 3);
        assert_eq!(space.int("rate_limit_token_per_minute"), 3000);
        let json = space.to_json();
        assert!(json.get("max_databases").is_none());
        assert!(json.get("base_url").is_some());
    }
}
