//! Looking at user SQL as text: comments stripped, statements counted, and
//! the check that a read endpoint only ever runs one SELECT.

/// `sql` with comments removed and string/identifier literals kept intact
/// (or, with `keep_literals` false, each replaced by a space).
/// Returns the text and whether a `;` is followed by another statement.
fn scan(sql: &str, keep_literals: bool) -> (String, bool) {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut saw_semicolon = false;
    let mut more_after_semicolon = false;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == b'-' && next == Some(b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            out.push(' ');
            continue;
        }
        if c == b'/' && next == Some(b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
            out.push(' ');
            continue;
        }
        let close = match c {
            b'\'' => Some(b'\''),
            b'"' => Some(b'"'),
            b'`' => Some(b'`'),
            b'[' => Some(b']'),
            _ => None,
        };
        if saw_semicolon && !c.is_ascii_whitespace() {
            more_after_semicolon = true;
        }
        if let Some(close) = close {
            let start = i;
            i += 1;
            while i < bytes.len() {
                if bytes[i] == close {
                    // A doubled quote is an escaped quote (not for brackets).
                    if close != b']' && bytes.get(i + 1) == Some(&close) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            if keep_literals {
                out.push_str(&sql[start..i]);
            } else {
                out.push(' ');
            }
            continue;
        }
        if c == b';' {
            saw_semicolon = true;
        }
        // Push the whole UTF-8 character.
        let ch_len = sql[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&sql[i..i + ch_len]);
        i += ch_len;
    }
    (out, more_after_semicolon)
}

/// Pragmas a read query may call as table-valued functions, as Datasette
/// allows, but for `database_list`: it shows the server's file paths.
pub const ALLOWED_PRAGMAS: &[&str] = &[
    "foreign_key_list",
    "function_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "module_list",
    "pragma_list",
    "table_info",
    "table_xinfo",
    "table_list",
];

/// Why user SQL may not run on a read endpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NotSelect,
    SeveralStatements,
}

impl Refusal {
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::NotSelect => "Statement must be a SELECT",
            Refusal::SeveralStatements => "You can only execute one statement at a time.",
        }
    }
}

/// Accepts one `select`, `with … select`, `values` or `explain` statement.
pub fn check_read_only(sql: &str) -> Result<(), Refusal> {
    let (text, several) = scan(sql, true);
    let lower = text.trim_start().to_ascii_lowercase();
    let first = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    if !matches!(first, "select" | "with" | "explain" | "values") {
        return Err(Refusal::NotSelect);
    }
    if several {
        return Err(Refusal::SeveralStatements);
    }
    Ok(())
}

/// The `:named` parameters of `sql` in order of first use, as Datasette
/// finds them: outside comments, strings and quoted identifiers.
pub fn named_parameters(sql: &str) -> Vec<String> {
    let (text, _) = scan(sql, false);
    let mut found: Vec<String> = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(':') {
        rest = &rest[at + 1..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if !name.is_empty() && !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
    }
    found
}

/// Whether `sql` ends where it starts: parentheses balanced outside quotes
/// and comments, and no quote or comment left open.
pub fn self_contained(sql: &str) -> bool {
    let mut depth = 0usize;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        // Whether what `c` opens is closed inside the fragment.
        let closed = match c {
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                // A doubled quote closes and reopens: the same as skipping it.
                chars.by_ref().any(|d| d == close)
            }
            '-' if chars.peek() == Some(&'-') => chars.by_ref().any(|d| d == '\n'),
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                chars
                    .by_ref()
                    .any(|d| std::mem::replace(&mut prev, d) == '*' && d == '/')
            }
            '(' => {
                depth += 1;
                true
            }
            ')' => depth.checked_sub(1).map(|d| depth = d).is_some(),
            _ => true,
        };
        if !closed {
            return false;
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_contained_fragments() {
        for ok in ["(a) = ')'", "f(x) -- )\n", "\"a(\" /* ) */ = [)]"] {
            assert!(self_contained(ok), "{ok}");
        }
        for bad in ["1) or (1", ")(", "a = 'x", "1 -- )", "1 /* )", "(("] {
            assert!(!self_contained(bad), "{bad}");
        }
    }

    #[test]
    fn read_only_checks() {
        let ok = [
            "select 1",
            "  SELECT * from t",
            "with t(a) as (values (1)) select * from t",
            "-- comment\nselect 1",
            "/* c */ select 1;",
            "select 'a;b' as x",
            "select \"x;y\" from t;  ",
            "explain query plan select 1",
        ];
        for sql in ok {
            assert_eq!(check_read_only(sql), Ok(()), "{sql}");
        }
        let not_select = [
            "update t set x = 1",
            "attach database ':memory:' as x",
            "pragma table_info(t)",
            "drop table t",
            "",
        ];
        for sql in not_select {
            assert_eq!(check_read_only(sql), Err(Refusal::NotSelect), "{sql}");
        }
        assert_eq!(
            check_read_only("select 1; select 2"),
            Err(Refusal::SeveralStatements)
        );
        assert_eq!(check_read_only("select 1; -- trailing"), Ok(()));
    }

    #[test]
    fn named_parameters_outside_literals() {
        let sql = "select * from t where a = :a and b > :b_2 and c = :a -- :nope\n\
                   and d = ':no' and [x:y] = \"q:z\" and e = :é /* :gone */";
        assert_eq!(named_parameters(sql), ["a", "b_2", "é"]);
        assert_eq!(named_parameters("select 1"), Vec::<String>::new());
        assert_eq!(named_parameters("select :_magic, a::b"), ["_magic", "b"]);
    }
}
