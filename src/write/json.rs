//! Request bodies parsed as Datasette parses them: JSON whatever the
//! Content-Type, with Python's `json` module's error text, which clients
//! and Datasette's tests show to users.

use serde_json::Value;

/// Parses `body` as JSON; the error is Datasette's whole message
/// (`Invalid JSON: Expecting value: line 1 column 1 (char 0)`).
pub fn parse(body: &[u8]) -> Result<Value, String> {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            return Err(format!(
                "Invalid JSON: 'utf-8' codec can't decode byte at position {}",
                e.valid_up_to()
            ));
        }
    };
    serde_json::from_str(text).map_err(|e| format!("Invalid JSON: {}", python_message(text, &e)))
}

/// Python's wording and position for a serde_json error.
fn python_message(text: &str, err: &serde_json::Error) -> String {
    let message = err.to_string();
    let eof = err.is_eof();
    if message.starts_with("EOF while parsing a string")
        && let Some(start) = unterminated_string(text)
    {
        // Python points at the string's opening quote.
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        return format!(
            "Unterminated string starting at: line {line} column {} (char {})",
            before[line_start..].chars().count() + 1,
            before.chars().count()
        );
    }
    let what = if message.starts_with("key must be a string") {
        "Expecting property name enclosed in double quotes"
    } else if message.starts_with("trailing characters") {
        "Extra data"
    } else if message.starts_with("expected `:`") {
        "Expecting ':' delimiter"
    } else if message.starts_with("expected `,`") {
        "Expecting ',' delimiter"
    } else if message.starts_with("control character") {
        "Invalid control character at"
    } else if message.starts_with("invalid escape") || message.starts_with("invalid unicode") {
        "Invalid \\escape"
    } else {
        "Expecting value"
    };
    // serde's column is where it noticed the problem (1-based, 0 at EOF of an
    // empty line); Python points at the start of the offending token.
    // serde counts the bytes of the line, Python its characters.
    let line = err.line().max(1);
    let line_text = text.split('\n').nth(line - 1).unwrap_or_default();
    let mut column = line_text
        .char_indices()
        .take_while(|(at, _)| *at < err.column())
        .count();
    if eof {
        column += 1;
    }
    let chars: Vec<char> = line_text.chars().collect();
    let mut index = column.max(1) - 1;
    if what == "Expecting value" && !eof {
        while index > 0
            && chars
                .get(index - 1)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        {
            index -= 1;
        }
    }
    let before: usize = text
        .split('\n')
        .take(line - 1)
        .map(|l| l.chars().count() + 1)
        .sum();
    format!(
        "{what}: line {line} column {} (char {})",
        index + 1,
        before + index
    )
}

/// The byte offset of the opening quote of the string `text` ends inside.
fn unterminated_string(text: &str) -> Option<usize> {
    let (mut open, mut escaped) = (None, false);
    for (at, byte) in text.bytes().enumerate() {
        match (open, byte) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), b'\\') => escaped = true,
            (Some(_), b'"') => open = None,
            (None, b'"') => open = Some(at),
            _ => {}
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_error_messages() {
        for (input, expected) in [
            (
                "{not json",
                "Invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            (
                "nope",
                "Invalid JSON: Expecting value: line 1 column 1 (char 0)",
            ),
            (
                "row=x",
                "Invalid JSON: Expecting value: line 1 column 1 (char 0)",
            ),
            (
                "",
                "Invalid JSON: Expecting value: line 1 column 1 (char 0)",
            ),
            ("{} x", "Invalid JSON: Extra data: line 1 column 4 (char 3)"),
            // Positions count characters, not bytes.
            (
                "[\"é\", x]",
                "Invalid JSON: Expecting value: line 1 column 7 (char 6)",
            ),
            // A body cut short inside a string: where the string began.
            (
                "\"\u{800}",
                "Invalid JSON: Unterminated string starting at: line 1 column 1 (char 0)",
            ),
            (
                "[\"é\", \"b",
                "Invalid JSON: Unterminated string starting at: line 1 column 7 (char 6)",
            ),
            (
                "{\"k\": \"v\\\"",
                "Invalid JSON: Unterminated string starting at: line 1 column 7 (char 6)",
            ),
            (
                "\"\\",
                "Invalid JSON: Unterminated string starting at: line 1 column 1 (char 0)",
            ),
            (
                "[\"a\",\n \"b",
                "Invalid JSON: Unterminated string starting at: line 2 column 2 (char 7)",
            ),
        ] {
            assert_eq!(parse(input.as_bytes()).unwrap_err(), expected, "{input}");
        }
        assert!(parse(b"{\"a\": [1, 2]}").is_ok());
    }

    /// A number is stored as the nearest double to what the client sent, as
    /// Python's parser gives Datasette: serde_json's default fast path was
    /// one unit in the last place off for some (a subnormal here).
    #[test]
    fn numbers_parse_to_the_nearest_double() {
        for text in [
            "2.3533398719228e-309",
            "2.2250738585072011e-308",
            "4.9406564584124654e-324",
            "0.30000000000000004",
            "1.7976931348623157e308",
            "9007199254740993.0",
        ] {
            let parsed = parse(format!("[{text}]").as_bytes()).unwrap();
            let got = parsed[0].as_f64().unwrap();
            assert_eq!(
                got.to_bits(),
                text.parse::<f64>().unwrap().to_bits(),
                "{text}"
            );
        }
    }
}
