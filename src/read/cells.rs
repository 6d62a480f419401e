//! A result's rows held compactly: every cell in one list and every text or
//! blob in one buffer, rather than a `Vec` per row and a `String` per text
//! cell. A 100-row page was 700 allocations, each freed again after the
//! answer was written; here it is a handful, read back in the order written.

use libsql::Value;

use crate::sqlite::ValueRef;

/// A cell as held: text and blobs by their place in the buffers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    /// Where its text starts in `Rows::text`, and its length.
    Text(usize, usize),
    /// Where its bytes start in `Rows::blobs`, and their length.
    Blob(usize, usize),
}

/// Rows of `width` cells each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    width: usize,
    count: usize,
    cells: Vec<Cell>,
    text: String,
    blobs: Vec<u8>,
}

impl Rows {
    pub fn new(width: usize) -> Rows {
        Rows {
            width,
            ..Rows::default()
        }
    }

    /// Rows from owned values (each row as long as the first).
    pub fn from_values(rows: Vec<Vec<Value>>) -> Rows {
        let mut out = Rows::new(rows.first().map_or(0, Vec::len));
        for row in &rows {
            out.push_row(row.iter().map(ValueRef::from));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds one cell to the row being built; [`Rows::end_row`] ends it
    /// after `width` cells.
    #[inline]
    pub fn push(&mut self, value: ValueRef<'_>) {
        let cell = match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Integer(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(text) => {
                let at = self.text.len();
                self.text.push_str(text);
                Cell::Text(at, text.len())
            }
            ValueRef::Blob(bytes) => {
                let at = self.blobs.len();
                self.blobs.extend_from_slice(bytes);
                Cell::Blob(at, bytes.len())
            }
        };
        self.cells.push(cell);
    }

    /// Ends a row of `width` cells pushed one by one.
    #[inline]
    pub fn end_row(&mut self) {
        self.count += 1;
        debug_assert_eq!(self.cells.len(), self.count * self.width);
    }

    /// Adds a whole row of `width` cells.
    pub fn push_row<'v>(&mut self, row: impl IntoIterator<Item = ValueRef<'v>>) {
        for value in row {
            self.push(value);
        }
        self.end_row();
    }

    /// Room for about `rows` more rows of `text` bytes of text each, at
    /// most 64K cells and 1 MB of text: a guess from a first row must not
    /// allocate for a thousand copies of one large cell.
    pub fn reserve(&mut self, rows: usize, text: usize) {
        self.cells
            .reserve(rows.saturating_mul(self.width).min(1 << 16));
        self.text.reserve(rows.saturating_mul(text).min(1 << 20));
    }

    pub fn get(&self, r: usize) -> Option<Row<'_>> {
        (r < self.count).then(|| self.row(r))
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.get(0)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        (0..self.count).map(|r| self.row(r))
    }

    /// Row `r`, which must be below `count`.
    fn row(&self, r: usize) -> Row<'_> {
        Row {
            rows: self,
            cells: &self.cells[r * self.width..(r + 1) * self.width],
        }
    }

    /// Keeps the first `count` rows.
    pub fn truncate(&mut self, count: usize) {
        if count < self.count {
            self.count = count;
            self.cells.truncate(count * self.width);
        }
    }

    /// Keeps the first `width` cells of each row.
    pub fn keep_columns(&mut self, width: usize) {
        if width >= self.width {
            return;
        }
        let old = self.width;
        let mut r = 0;
        self.cells.retain(|_| {
            let keep = r % old < width;
            r += 1;
            keep
        });
        self.width = width;
    }

    /// The rows as owned values, for the answers that are not hot.
    pub fn to_values(&self) -> Vec<Vec<Value>> {
        self.iter().map(|row| row.to_values()).collect()
    }

    fn value(&self, cell: Cell) -> ValueRef<'_> {
        match cell {
            Cell::Null => ValueRef::Null,
            Cell::Integer(i) => ValueRef::Integer(i),
            Cell::Real(f) => ValueRef::Real(f),
            Cell::Text(at, len) => ValueRef::Text(&self.text[at..at + len]),
            Cell::Blob(at, len) => ValueRef::Blob(&self.blobs[at..at + len]),
        }
    }
}

/// One row of [`Rows`].
#[derive(Clone, Copy)]
pub struct Row<'a> {
    rows: &'a Rows,
    cells: &'a [Cell],
}

impl<'a> Row<'a> {
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Cell `i`; `Null` past the row's end.
    pub fn get(&self, i: usize) -> ValueRef<'a> {
        self.cells
            .get(i)
            .map_or(ValueRef::Null, |&cell| self.rows.value(cell))
    }

    pub fn first(&self) -> Option<ValueRef<'a>> {
        (!self.cells.is_empty()).then(|| self.get(0))
    }

    /// Cell `i` as an owned value.
    pub fn value(&self, i: usize) -> Value {
        self.get(i).to_value()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = ValueRef<'a>> + 'a {
        let rows = self.rows;
        self.cells.iter().map(move |&cell| rows.value(cell))
    }

    pub fn to_values(&self) -> Vec<Value> {
        self.iter().map(ValueRef::to_value).collect()
    }
}

impl std::fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_every_kind_of_value_and_give_them_back() {
        let values = vec![
            vec![
                Value::Integer(-1),
                Value::Text("é\u{0}x".into()),
                Value::Blob(vec![0, 255]),
            ],
            vec![Value::Null, Value::Real(2.5), Value::Text(String::new())],
            vec![Value::Text("z".into()), Value::Blob(vec![]), Value::Null],
        ];
        let mut rows = Rows::from_values(values.clone());
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.to_values(), values);
        assert_eq!(rows.get(2).unwrap().get(0), ValueRef::Text("z"));
        assert_eq!(rows.first().unwrap().get(7), ValueRef::Null);
        rows.keep_columns(2);
        assert_eq!(
            rows.to_values(),
            values.iter().map(|r| r[..2].to_vec()).collect::<Vec<_>>()
        );
        rows.truncate(1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.to_values(), vec![values[0][..2].to_vec()]);
        assert!(rows.get(1).is_none());
    }

    /// The room guessed from a first row is bounded, whatever its size.
    #[test]
    fn room_guessed_from_a_large_first_row_is_bounded() {
        let mut rows = Rows::new(3);
        rows.reserve(1000, 10 << 20);
        assert!(rows.text.capacity() <= 1 << 20);
        rows.reserve(usize::MAX, usize::MAX);
        assert!(rows.cells.capacity() <= 1 << 16);
    }
}
