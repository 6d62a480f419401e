//! Rows written straight from their held cells into the answer's bytes,
//! without a `serde_json::Value` tree or a serializer call per cell: the hot
//! part of every table and query answer. Each column's key is escaped once
//! per answer; text is copied as it is unless it needs escapes, which are
//! written as serde_json writes them, and integers by `itoa`; floats, blobs
//! and cells with labels or `_json` parsing go through serde_json. The
//! bytes are those serde_json writes (the tests compare them).

use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::http::render::shape::Output;
use crate::read::cells::Rows;
use crate::read::values::to_json;
use crate::sqlite::ValueRef;

/// A list of rows, each an object keyed by column or (`arrays`) a list.
pub struct RowsJson<'a> {
    pub output: &'a Output,
    pub columns: &'a [String],
    pub rows: &'a Rows,
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

/// For each byte, the escape JSON needs for it: 0 for none, `u` for
/// `\u00XX`, else the letter after the backslash (as serde_json writes them).
const ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Whether any of the eight bytes of `chunk` needs an escape: a control
/// character, `"` or `\\`. Each test is exact for "some byte is": a byte
/// borrows from the next only where an earlier byte already matched.
#[inline]
fn escapes_in(chunk: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let below_space = chunk.wrapping_sub(ONES * 0x20) & !chunk & HIGH != 0;
    below_space || zero_in(chunk ^ (ONES * b'"' as u64)) || zero_in(chunk ^ (ONES * b'\\' as u64))
}

/// Appends `text` as a JSON string, byte for byte as serde_json writes it:
/// text is checked eight bytes at a time and, when nothing in it needs an
/// escape (nearly every cell), copied whole.
fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let word = |chunk: &[u8]| u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
    let plain = if bytes.len() >= 8 {
        // Whole chunks, then the last eight bytes (overlapping the tail).
        bytes.chunks_exact(8).all(|c| !escapes_in(word(c)))
            && !escapes_in(word(&bytes[bytes.len() - 8..]))
    } else {
        // Short text shifted into a word padded with a byte needing no
        // escape (the test does not care where a byte sits). Not copied
        // into a padded buffer: a wide read of narrow writes stalls.
        let padded = bytes
            .iter()
            .fold(u64::from_ne_bytes([b'a'; 8]), |w, &b| (w << 8) | b as u64);
        !escapes_in(padded)
    };
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = ESCAPES[b as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
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
        // Per column, once: what goes before each of its cells (the comma
        // and, for objects, its key as written), and whether its cells are
        // written other than as their plain value.
        let before: Vec<Vec<u8>> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let mut key = Vec::with_capacity(column.len() + 4);
                key.push(match (i, self.arrays) {
                    (0, true) => b'[',
                    (0, false) => b'{',
                    _ => b',',
                });
                if !self.arrays {
                    write_str(&mut key, column);
                    key.push(b':');
                }
                key
            })
            .collect();
        let rewrites: Vec<bool> = self
            .columns
            .iter()
            .map(|c| self.output.rewrites(c))
            .collect();
        let (empty, close) = match self.arrays {
            true => (b'[', b']'),
            false => (b'{', b'}'),
        };
        out.push(b'[');
        for (r, row) in self.rows.iter().enumerate() {
            if r > 0 {
                out.push(b',');
            }
            let cells = row.iter().take(self.columns.len());
            if cells.len() == 0 {
                out.push(empty);
            }
            for (i, value) in cells.enumerate() {
                out.extend_from_slice(&before[i]);
                if rewrites[i] {
                    let value = value.to_value();
                    write_serde(out, &self.output.cell(&self.columns[i], &value));
                } else {
                    self.write_cell(out, value);
                }
            }
            out.push(close);
        }
        out.push(b']');
    }

    fn write_cell(&self, out: &mut Vec<u8>, value: ValueRef<'_>) {
        match value {
            ValueRef::Null => out.extend_from_slice(b"null"),
            ValueRef::Integer(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            ValueRef::Real(f) if f.is_finite() => write_serde(out, &f),
            ValueRef::Text(text) => write_str(out, text),
            // Infinities and blobs have their own JSON forms.
            other => write_serde(out, &to_json(&other.to_value(), self.output.infinity)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::args::Args;
    use libsql::Value;

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
                Value::Text("quote \" back \\ nl \n nul \0 é \x08\x0c\r\t\x1f\x1b end".into()),
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
            vec![
                Value::Integer(i64::MIN),
                Value::Text((0u8..0x80).map(char::from).collect()),
                Value::Text("\\\"\"\\".into()),
                Value::Real(-0.0),
                Value::Integer(0),
            ],
        ];
        let held = Rows::from_values(rows.clone());
        for arrays in [false, true] {
            let list = RowsJson {
                output: &output,
                columns: &columns,
                rows: &held,
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
                rows: &Rows::from_values(vec![vec![Value::Integer(1)]]),
                arrays: false,
            },
        }
        .write(&mut written);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            r#"{"ok":true,"rows":[{"id":1}],"next":"a\"b"}"#
        );
    }

    /// Eight bytes at a time: an escape at any place of any chunk or of
    /// the tail is found, and text with none (ASCII or not) is copied.
    #[test]
    fn an_escape_anywhere_in_text_is_written_as_serde_json_writes_it() {
        let same = |text: &str| {
            let mut out = Vec::new();
            write_str(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
        };
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..=17 {
                for at in 0..len {
                    let mut text = vec![b'x'; len];
                    text[at] = special;
                    same(&String::from_utf8(text).unwrap());
                }
            }
        }
        // Pairs, where a byte right after one that needs an escape could be
        // marked falsely (a space after a control character borrows).
        let near: Vec<u8> = (0u8..=0x22).chain([b'\\', b'a', 0x7f]).collect();
        for &first in &near {
            for &second in &near {
                for at in 0..10 {
                    let mut text = vec![b'x'; 11];
                    text[at] = first;
                    text[at + 1] = second;
                    same(&String::from_utf8(text).unwrap());
                }
            }
        }
        for len in 0..=17 {
            same(&"é~\u{7f}\u{2028}ÿ".repeat(len));
            same(&"a".repeat(len));
        }
    }
}
