//! Rows written straight from their SQLite values into the answer's bytes,
//! without a `serde_json::Value` tree or a serializer call per cell: the hot
//! part of every table and query answer. Each column's key is escaped once
//! per answer, and text that needs no escaping is copied as it is; numbers,
//! escapes, and cells with labels or `_json` parsing go through serde_json,
//! so the bytes are those serde_json writes.

use libsql::Value;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::http::render::shape::Output;
use crate::read::values::to_json;

/// A list of rows, each an object keyed by column or (`arrays`) a list.
pub struct RowsJson<'a> {
    pub output: &'a Output,
    pub columns: &'a [String],
    pub rows: &'a [Vec<Value>],
    pub arrays: bool,
}

/// A body object whose `rows` key is written from `rows`.
pub struct BodyJson<'a> {
    pub body: &'a Map<String, Json>,
    pub rows: RowsJson<'a>,
}

/// Appends `value` as serde_json writes it compactly.
fn write_serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("JSON values always serialise");
}

/// Appends `text` as a JSON string: copied when nothing in it needs an
/// escape (no quote, backslash or control character), else by serde_json.
fn write_str(out: &mut Vec<u8>, text: &str) {
    // A fold without an early exit: the compiler checks many bytes at once.
    let escapes = text.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    let plain = !escapes;
    if plain {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        write_serde(out, text);
    }
}

impl BodyJson<'_> {
    /// Appends the body object, its `rows` written from the rows.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.body.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, key);
            out.push(b':');
            if key == "rows" {
                self.rows.write(out);
            } else {
                write_serde(out, value);
            }
        }
        out.push(b'}');
    }
}

impl RowsJson<'_> {
    /// Appends the list of rows.
    pub fn write(&self, out: &mut Vec<u8>) {
        // Per column, once: its key as written, and whether its cells are
        // written other than as their plain value.
        let keys: Vec<Vec<u8>> = self
            .columns
            .iter()
            .map(|column| {
                let mut key = Vec::with_capacity(column.len() + 3);
                write_str(&mut key, column);
                key.push(b':');
                key
            })
            .collect();
        let rewrites: Vec<bool> = self
            .columns
            .iter()
            .map(|c| self.output.rewrites(c))
            .collect();
        out.push(b'[');
        for (r, row) in self.rows.iter().enumerate() {
            if r > 0 {
                out.push(b',');
            }
            out.push(if self.arrays { b'[' } else { b'{' });
            for (i, value) in row.iter().enumerate().take(self.columns.len()) {
                if i > 0 {
                    out.push(b',');
                }
                if !self.arrays {
                    out.extend_from_slice(&keys[i]);
                }
                if rewrites[i] {
                    write_serde(out, &self.output.cell(&self.columns[i], value));
                } else {
                    self.write_cell(out, value);
                }
            }
            out.push(if self.arrays { b']' } else { b'}' });
        }
        out.push(b']');
    }

    fn write_cell(&self, out: &mut Vec<u8>, value: &Value) {
        match value {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Integer(i) => write_serde(out, i),
            Value::Real(f) if f.is_finite() => write_serde(out, f),
            Value::Text(text) => write_str(out, text),
            // Infinities and blobs have their own JSON forms.
            other => write_serde(out, &to_json(other, self.output.infinity)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::args::Args;

    /// The bytes are serde_json's for the same rows built as values: keys
    /// and text that need escapes, numbers, nulls, blobs, and both shapes.
    #[test]
    fn rows_are_written_as_serde_json_writes_them() {
        let output = Output::from_args(&Args::parse(None)).unwrap();
        let columns: Vec<String> = ["id", "na\"me", "tab\tkey", "é", "x"]
            .map(String::from)
            .to_vec();
        let rows = vec![
            vec![
                Value::Integer(-3),
                Value::Text("plain".into()),
                Value::Text("quote \" back \\ nl \n nul \0 é".into()),
                Value::Real(2.5),
                Value::Null,
            ],
            vec![
                Value::Integer(i64::MAX),
                Value::Blob(vec![0, 1, 255]),
                Value::Text(String::new()),
                Value::Real(1e300),
                Value::Text("\u{7f}\u{2028}".into()),
            ],
        ];
        for arrays in [false, true] {
            let list = RowsJson {
                output: &output,
                columns: &columns,
                rows: &rows,
                arrays,
            };
            let mut written = Vec::new();
            list.write(&mut written);
            let expected: Vec<Json> = rows
                .iter()
                .map(|row| match arrays {
                    true => Json::Array(row.iter().map(|v| output.cell("", v)).collect()),
                    false => output.object(&columns, row),
                })
                .collect();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
        let mut body = Map::new();
        body.insert("ok".into(), Json::Bool(true));
        body.insert("rows".into(), Json::Null);
        body.insert("next".into(), Json::String("a\"b".into()));
        let mut written = Vec::new();
        BodyJson {
            body: &body,
            rows: RowsJson {
                output: &output,
                columns: &columns[..1],
                rows: &[vec![Value::Integer(1)]],
                arrays: false,
            },
        }
        .write(&mut written);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            r#"{"ok":true,"rows":[{"id":1}],"next":"a\"b"}"#
        );
    }
}
