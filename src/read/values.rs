//! SQLite values as Datasette writes them in JSON: blobs as
//! `{"$base64": true, "encoded": …}`, infinities as `null` unless asked for.

use base64::Engine;
use libsql::Value;
use serde_json::{Value as Json, json};

use crate::sqlite::ValueRef;

/// How a float that is not finite is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Infinity {
    /// `null`, Datasette's default.
    Null,
    /// `Infinity`/`-Infinity`, with `_json_infinity=on` (not strict JSON).
    Literal,
}

/// Marks an infinite float inside a `serde_json::Value`; replaced in the
/// final text by [`finish`]. The NUL bytes cannot come from a real string
/// unescaped, so the marker can't be forged by data.
const POS_INF: &str = "\u{0}+Infinity\u{0}";
const NEG_INF: &str = "\u{0}-Infinity\u{0}";

pub fn to_json(value: &Value, infinity: Infinity) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(f) if f.is_finite() => json!(f),
        Value::Real(f) => match infinity {
            Infinity::Null => Json::Null,
            Infinity::Literal if *f > 0.0 => json!(POS_INF),
            Infinity::Literal => json!(NEG_INF),
        },
        Value::Text(s) => json!(s),
        Value::Blob(b) => json!({
            "$base64": true,
            "encoded": base64::engine::general_purpose::STANDARD.encode(b),
        }),
    }
}

/// About how many bytes `value` takes in a JSON answer, with its column's
/// name (`_shape=objects` repeats it in every row).
pub fn answer_bytes(column: &str, value: ValueRef<'_>) -> u64 {
    let value = match value {
        ValueRef::Null => 4,
        ValueRef::Integer(_) | ValueRef::Real(_) => 20,
        ValueRef::Text(text) => text.len() + 2,
        // Base64 in `{"$base64": true, "encoded": …}`.
        ValueRef::Blob(bytes) => bytes.len().div_ceil(3) * 4 + 32,
    };
    (value + column.len() + 4) as u64
}

/// Serialises a body, writing marked infinities as `Infinity`.
pub fn finish(body: &impl serde::Serialize) -> String {
    // Most answers are a few kilobytes: start there rather than grow to it.
    let mut out = Vec::with_capacity(4096);
    serde_json::to_writer(&mut out, body).expect("JSON bodies always serialise");
    replace_infinity(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// Finishes a body already written as JSON bytes (see [`finish`]). Only
/// `Infinity::Literal` writes markers: otherwise the bytes are the body as
/// they are, with no scan of the whole answer for one (a tenth of the
/// work left after the rows of a 100-row page, in issue 17's profile).
pub fn finish_written(out: Vec<u8>, infinity: Infinity) -> Vec<u8> {
    match infinity {
        Infinity::Null => out,
        Infinity::Literal => {
            replace_infinity(String::from_utf8(out).expect("bodies are written as UTF-8"))
                .into_bytes()
        }
    }
}

/// Swaps the serialised infinity markers for `Infinity` / `-Infinity`.
fn replace_infinity(text: String) -> String {
    if text.contains("\\u0000") {
        text.replace("\"\\u0000+Infinity\\u0000\"", "Infinity")
            .replace("\"\\u0000-Infinity\\u0000\"", "-Infinity")
    } else {
        text
    }
}

/// JSON text as Python's `json.dumps` writes it by default: `", "` and
/// `": "` separators and non-ASCII escaped as `\uXXXX` (Datasette's `_nl`
/// lines are written this way, and clients diff them as text).
pub fn python_json(body: &Json) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    serde::Serialize::serialize(body, &mut serializer).expect("JSON values always serialise");
    replace_infinity(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        writer.write_all(float_text(value).as_bytes())
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for ch in fragment.chars() {
            if ch.is_ascii() {
                writer.write_all(&[ch as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// A value as plain text, as Datasette shows it in URLs and CSV.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => float_text(*f),
        Value::Text(s) => s.clone(),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Python's `repr(float)` (and `str`): shortest round-trip digits, `3.0`
/// not `3`, exponent form outside 1e-4..1e16 (`1e-05`, `1e+16`), `inf`.
pub fn float_text(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f.is_nan() {
        return "nan".into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let plain = format!("{f}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        assert_eq!(
            to_json(&Value::Blob(b"hello".to_vec()), Infinity::Null),
            json!({"$base64": true, "encoded": "aGVsbG8="})
        );
        assert_eq!(
            to_json(&Value::Real(f64::INFINITY), Infinity::Null),
            Json::Null
        );
        let body = json!([
            to_json(&Value::Real(f64::INFINITY), Infinity::Literal),
            to_json(&Value::Real(f64::NEG_INFINITY), Infinity::Literal),
            1.5
        ]);
        assert_eq!(finish(&body), "[Infinity,-Infinity,1.5]");
        // A string holding the marker's visible text is left alone.
        assert_eq!(
            finish(&json!(["\\u0000+Infinity\\u0000"])),
            "[\"\\\\u0000+Infinity\\\\u0000\"]"
        );
    }

    #[test]
    fn written_bodies_swap_markers_only_where_infinities_are_literal() {
        // Text holding NULs around the word serialises as the marker does.
        let text = to_json(&Value::Text("\u{0}+Infinity\u{0}".into()), Infinity::Null);
        let written = serde_json::to_vec(&json!([text])).unwrap();
        assert_eq!(finish_written(written.clone(), Infinity::Null), written);
        let marked = serde_json::to_vec(&json!([to_json(
            &Value::Real(f64::INFINITY),
            Infinity::Literal
        )]))
        .unwrap();
        assert_eq!(finish_written(marked, Infinity::Literal), b"[Infinity]");
    }

    #[test]
    fn python_style_json() {
        let row = json!({"id": 1, "name": "San Francisco", "c": "ç", "e": "😀", "l": [1, 2]});
        assert_eq!(
            python_json(&row),
            r#"{"id": 1, "name": "San Francisco", "c": "\u00e7", "e": "\ud83d\ude00", "l": [1, 2]}"#
        );
        let inf = json!({"v": to_json(&Value::Real(f64::INFINITY), Infinity::Literal)});
        assert_eq!(python_json(&inf), r#"{"v": Infinity}"#);
    }

    #[test]
    fn float_text_is_pythonic() {
        assert_eq!(float_text(3.0), "3.0");
        assert_eq!(float_text(2.25), "2.25");
        assert_eq!(float_text(-1.0), "-1.0");
        assert_eq!(float_text(614.827), "614.827");
        assert_eq!(float_text(0.0001), "0.0001");
        assert_eq!(float_text(0.00001), "1e-05");
        assert_eq!(float_text(1e16), "1e+16");
        assert_eq!(float_text(123456789012345.6), "123456789012345.6");
    }
}
