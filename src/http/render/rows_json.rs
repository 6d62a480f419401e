//! Rows serialised straight from their SQLite values, without building a
//! `serde_json::Value` tree first: the hot part of every table and query
//! answer. Cells with labels or `_json` parsing take the general path.

use libsql::Value;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
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

struct RowJson<'a> {
    list: &'a RowsJson<'a>,
    row: &'a [Value],
}

struct CellJson<'a> {
    output: &'a Output,
    column: &'a str,
    value: &'a Value,
}

impl Serialize for BodyJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.body.len()))?;
        for (key, value) in self.body {
            if key == "rows" {
                map.serialize_entry(key, &self.rows)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Serialize for RowsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in self.rows {
            seq.serialize_element(&RowJson { list: self, row })?;
        }
        seq.end()
    }
}

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let cells = self
            .list
            .columns
            .iter()
            .zip(self.row)
            .map(|(column, value)| {
                let cell = CellJson {
                    output: self.list.output,
                    column,
                    value,
                };
                (column, cell)
            });
        if self.list.arrays {
            let mut seq = serializer.serialize_seq(Some(self.list.columns.len()))?;
            for (_, cell) in cells {
                seq.serialize_element(&cell)?;
            }
            seq.end()
        } else {
            let mut map = serializer.serialize_map(Some(self.list.columns.len()))?;
            for (column, cell) in cells {
                map.serialize_entry(column, &cell)?;
            }
            map.end()
        }
    }
}

impl Serialize for CellJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.output.rewrites(self.column) {
            return self
                .output
                .cell(self.column, self.value)
                .serialize(serializer);
        }
        match self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Integer(i) => serializer.serialize_i64(*i),
            Value::Real(f) if f.is_finite() => serializer.serialize_f64(*f),
            Value::Text(text) => serializer.serialize_str(text),
            // Infinities and blobs have their own JSON forms.
            other => to_json(other, self.output.infinity).serialize(serializer),
        }
    }
}
