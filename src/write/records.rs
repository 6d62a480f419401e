//! Records of an uploaded file, read one at a time from a reader (constant
//! memory): CSV and TSV (RFC 4180 quoting, a header line naming the
//! columns) and JSON (one array of objects, or objects one after another,
//! as newline-delimited JSON). Each record carries the line it starts on;
//! a record that cannot be read is a [`Bad`] row, and reading goes on.

use std::io::{BufRead, Read};

use serde_json::{Map, Value as Json};

/// A row that was not written: the line it starts on and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Bad {
    pub line: u64,
    pub reason: String,
}

/// One record: its first line and its values by column.
pub type Record = Result<(u64, Map<String, Json>), Bad>;

/// What an upload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Json,
}

impl Format {
    /// `csv`, `tsv`, `json` (or `jsonl`, `ndjson`), from a form or a file name.
    pub fn named(name: &str) -> Option<Format> {
        let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            _ => None,
        }
    }

    /// A guess from the first bytes: JSON opens with `[` or `{`; a first
    /// line with tabs and no commas is TSV; anything else CSV.
    pub fn sniff(start: &[u8]) -> Format {
        let text = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
        if let Some(b'[' | b'{') = text.iter().find(|b| !b.is_ascii_whitespace()) {
            return Format::Json;
        }
        let line = text.split(|b| *b == b'\n').next().unwrap_or(b"");
        if line.contains(&b'\t') && !line.contains(&b',') {
            Format::Tsv
        } else {
            Format::Csv
        }
    }
}

/// The records of `input` (`max` caps one record's bytes).
pub fn reader<R: BufRead + 'static>(
    input: R,
    format: Format,
    max: usize,
) -> Result<Box<dyn Iterator<Item = Record>>, String> {
    Ok(match format {
        Format::Json => Box::new(JsonRecords {
            input,
            line: 1,
            array: None,
            done: false,
            max,
        }),
        Format::Csv | Format::Tsv => {
            let sep = if format == Format::Tsv { b'\t' } else { b',' };
            let mut records = CsvRecords {
                input,
                sep,
                line: 1,
                header: Vec::new(),
                max,
                buf: Vec::new(),
            };
            let header = match records.fields() {
                Some(Ok((_, fields))) => fields,
                Some(Err(bad)) => return Err(format!("The header: {}", bad.reason)),
                None => return Err("The file is empty".into()),
            };
            check_header(&header)?;
            records.header = header;
            Box::new(records)
        }
    })
}

/// Header names must be there and differ.
fn check_header(header: &[String]) -> Result<(), String> {
    for (i, name) in header.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(format!("Column {} of the header has no name", i + 1));
        }
        if header[..i].contains(name) {
            return Err(format!("Column {name} appears twice in the header"));
        }
    }
    Ok(())
}

struct CsvRecords<R> {
    input: R,
    sep: u8,
    /// The line the next record starts on.
    line: u64,
    header: Vec<String>,
    max: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> CsvRecords<R> {
    /// The next record's fields, read line by line until its quotes close;
    /// blank lines are skipped.
    fn fields(&mut self) -> Option<Result<(u64, Vec<String>), Bad>> {
        loop {
            let start = self.line;
            self.buf.clear();
            let fields = loop {
                let room = (self.max + 1).saturating_sub(self.buf.len()) as u64;
                let read = (&mut self.input)
                    .take(room)
                    .read_until(b'\n', &mut self.buf);
                let n = match read {
                    Ok(n) => n,
                    Err(e) => return Some(Err(bad(start, format!("Reading the file: {e}")))),
                };
                if self.buf.len() > self.max {
                    self.skip_line();
                    return Some(Err(bad(start, format!("Longer than {} bytes", self.max))));
                }
                if n == 0 && self.buf.is_empty() {
                    return None;
                }
                if self.buf.ends_with(b"\n") {
                    self.line += 1;
                }
                match split_fields(&self.buf, self.sep) {
                    Some(fields) => break fields,
                    None if n == 0 => {
                        return Some(Err(bad(start, "A quoted value is never closed".into())));
                    }
                    None => {}
                }
            };
            if fields.len() == 1 && fields[0].is_empty() {
                continue;
            }
            return Some(Ok((start, fields)));
        }
    }

    /// Skips the rest of an over-long line.
    fn skip_line(&mut self) {
        let mut sink = Vec::new();
        loop {
            sink.clear();
            match (&mut self.input).take(1 << 16).read_until(b'\n', &mut sink) {
                Ok(0) | Err(_) => return,
                Ok(_) if sink.ends_with(b"\n") => {
                    self.line += 1;
                    return;
                }
                Ok(_) => {}
            }
        }
    }
}

impl<R: BufRead> Iterator for CsvRecords<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let (line, fields) = match self.fields()? {
            Ok(found) => found,
            Err(bad) => return Some(Err(bad)),
        };
        if fields.len() != self.header.len() {
            return Some(Err(bad(
                line,
                format!(
                    "Expected {} values, found {}",
                    self.header.len(),
                    fields.len()
                ),
            )));
        }
        let row = self
            .header
            .iter()
            .cloned()
            .zip(fields.into_iter().map(Json::String))
            .collect();
        Some(Ok((line, row)))
    }
}

fn bad(line: u64, reason: String) -> Bad {
    Bad { line, reason }
}

/// The fields of a record's text, or `None` while a quoted value is open.
fn split_fields(text: &[u8], sep: u8) -> Option<Vec<String>> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut quoted = false;
    let mut at_start = true;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if quoted {
            if b == b'"' {
                if text.get(i + 1) == Some(&b'"') {
                    field.push(b'"');
                    i += 1;
                } else {
                    quoted = false;
                }
            } else {
                field.push(b);
            }
        } else if b == sep {
            fields.push(String::from_utf8_lossy(&field).into_owned());
            field.clear();
            at_start = true;
            i += 1;
            continue;
        } else if b == b'"' && at_start {
            quoted = true;
        } else {
            field.push(b);
        }
        at_start = false;
        i += 1;
    }
    if quoted {
        return None;
    }
    fields.push(String::from_utf8_lossy(&field).into_owned());
    Some(fields)
}

struct JsonRecords<R> {
    input: R,
    line: u64,
    /// Whether the values are inside one array (known at the first one).
    array: Option<bool>,
    done: bool,
    max: usize,
}

impl<R: BufRead> JsonRecords<R> {
    fn peek(&mut self) -> Option<u8> {
        self.input.fill_buf().ok()?.first().copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.input.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    /// Skips whitespace, and the commas and brackets between values.
    fn skip_between(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'\xEF' | b'\xBB' | b'\xBF' if self.array.is_none() => {}
                b'[' if self.array.is_none() => self.array = Some(true),
                b',' if self.array == Some(true) => {}
                b']' if self.array == Some(true) => self.done = true,
                _ => {
                    if self.array.is_none() {
                        self.array = Some(false);
                    }
                    return;
                }
            }
            self.bump();
        }
    }

    /// The bytes of one value, through its closing bracket (or, for a
    /// scalar, up to the next separator).
    fn value(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        while let Some(b) = self.peek() {
            if !in_string && depth == 0 && !out.is_empty() && b",]\n\r\t ".contains(&b) {
                break;
            }
            self.bump();
            if out.len() < self.max {
                out.push(b);
            }
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        if out.len() >= self.max {
            return Err(format!("Longer than {} bytes", self.max));
        }
        Ok(out)
    }
}

impl<R: BufRead> Iterator for JsonRecords<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        self.skip_between();
        if self.done || self.peek().is_none() {
            return None;
        }
        let line = self.line;
        let bytes = match self.value() {
            Ok(bytes) => bytes,
            Err(reason) => return Some(Err(bad(line, reason))),
        };
        Some(match serde_json::from_slice::<Json>(&bytes) {
            Ok(Json::Object(row)) => Ok((line, row)),
            Ok(_) => Err(bad(line, "Not a JSON object".into())),
            Err(e) => Err(bad(line, format!("Invalid JSON: {e}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: Format) -> Vec<Record> {
        let input = std::io::Cursor::new(text.as_bytes().to_vec());
        reader(input, format, 1000).unwrap().collect()
    }

    #[test]
    fn csv_records_keep_their_lines() {
        let rows = read(
            "id,name\n1,\"a, \"\"b\"\"\"\n2,\"two\nlines\"\n\n3\n4,d\r\n",
            Format::Csv,
        );
        assert_eq!(rows.len(), 4);
        let (line, row) = rows[0].clone().unwrap();
        assert_eq!((line, row["name"].as_str()), (2, Some("a, \"b\"")));
        let (line, row) = rows[1].clone().unwrap();
        assert_eq!((line, row["name"].as_str()), (3, Some("two\nlines")));
        assert_eq!(rows[2].clone().unwrap_err().line, 6);
        let (line, row) = rows[3].clone().unwrap();
        assert_eq!((line, row["name"].as_str()), (7, Some("d")));
    }

    #[test]
    fn tsv_and_sniffing() {
        assert_eq!(Format::sniff(b"a\tb\n1\t2"), Format::Tsv);
        assert_eq!(Format::sniff(b"a,b\n"), Format::Csv);
        assert_eq!(Format::sniff(b"  [{}]"), Format::Json);
        let rows = read("a\tb\n1\t2\n", Format::Tsv);
        assert_eq!(rows[0].clone().unwrap().1["b"], Json::from("2"));
        assert!(reader(std::io::Cursor::new(b"a,a\n".to_vec()), Format::Csv, 100).is_err());
    }

    #[test]
    fn json_arrays_and_lines() {
        let rows = read(
            "[\n {\"a\": 1},\n {\"a\": \"x]\"}, 5,\n {\"a\": }\n]",
            Format::Json,
        );
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].clone().unwrap(), (2, json_map(r#"{"a":1}"#)));
        assert_eq!(rows[1].clone().unwrap().1["a"], Json::from("x]"));
        assert_eq!(rows[2].clone().unwrap_err().line, 3);
        assert_eq!(rows[3].clone().unwrap_err().line, 4);
        let rows = read("{\"a\": 1}\n{\"a\": [2, 3]}\nnope\n", Format::Json);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].clone().unwrap().0, 2);
        assert_eq!(rows[2].clone().unwrap_err().line, 3);
    }

    fn json_map(text: &str) -> Map<String, Json> {
        serde_json::from_str(text).unwrap()
    }
}
