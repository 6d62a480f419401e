//! Validated names for spaces and databases, Datasette's tilde-encoding of
//! names in URLs, and the one function that quotes SQL identifiers.

use std::fmt;

/// Names a space may not take: they are instance routes or would confuse people.
const RESERVED_SPACE_NAMES: &[&str] = &[
    "-",
    "admin",
    "api",
    "assets",
    "auth",
    "favicon.ico",
    "health",
    "login",
    "logout",
    "metrics",
    "robots.txt",
    "settings",
    "spaces",
    "static",
    "www",
];

/// A space's name: lowercase `[a-z0-9][a-z0-9-]{0,62}`, not reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpaceName(String);

impl SpaceName {
    pub fn parse(name: &str) -> Result<SpaceName, String> {
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if name.is_empty() || name.len() > 63 || !valid_chars || !first_ok {
            return Err(
                "a space name is 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit"
                    .into(),
            );
        }
        if RESERVED_SPACE_NAMES.contains(&name) {
            return Err(format!("'{name}' is reserved and cannot name a space"));
        }
        Ok(SpaceName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SpaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant database's name, which is also its file name:
/// `[A-Za-z0-9_][A-Za-z0-9_-]{0,63}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DbName(String);

impl DbName {
    pub fn parse(name: &str) -> Result<DbName, String> {
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if name.is_empty() || name.len() > 64 || !valid_chars || !first_ok {
            return Err(
                "a database name is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-', not starting with '-'"
                    .into(),
            );
        }
        Ok(DbName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DbName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Quotes an SQL identifier; safe for names holding quotes, brackets or backticks.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_quoted(&mut out, name);
    out
}

/// Appends `name` to `out` quoted as an SQL identifier ([`quote_ident`]
/// without a string of its own: it runs for every column of every page read).
pub fn push_quoted(out: &mut String, name: &str) {
    out.push('"');
    let mut rest = name;
    while let Some(at) = rest.find('"') {
        out.push_str(&rest[..=at]);
        out.push('"');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// Datasette's tilde-encoding: `A-Za-z0-9_-` stay, a space becomes `+`,
/// every other byte becomes `~XX`.
pub fn tilde_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("~{byte:02X}")),
        }
    }
    out
}

/// Reverses [`tilde_encode`]; `None` when the text is not valid tilde-encoding.
pub fn tilde_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'~' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_names() {
        for ok in ["demo", "a", "team-1", "0abc"] {
            assert!(SpaceName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "Demo",
            "a_b",
            "a.b",
            "static",
            "metrics",
            "-",
            &"a".repeat(64),
        ] {
            assert!(SpaceName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn db_names() {
        for ok in ["fixtures", "My_DB", "a-b", "_x"] {
            assert!(DbName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a.b", "a/b", "a b", "..", &"a".repeat(65)] {
            assert!(DbName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tilde_round_trip() {
        assert_eq!(
            tilde_encode("table/with/slashes.csv"),
            "table~2Fwith~2Fslashes~2Ecsv"
        );
        assert_eq!(
            tilde_encode("table with spaces-and-dashes"),
            "table+with+spaces-and-dashes"
        );
        for name in ["a b", "x~y", "ünï", "]\"'`", "plain_name-1"] {
            assert_eq!(tilde_decode(&tilde_encode(name)).as_deref(), Some(name));
        }
        assert_eq!(tilde_decode("bad~zz"), None);
        assert_eq!(tilde_decode("bad~2"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("]x`'"), "\"]x`'\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("\"\""), "\"\"\"\"\"\"");
        assert_eq!(quote_ident("\"é\""), "\"\"\"é\"\"\"");
    }
}
