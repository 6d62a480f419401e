//! How data answers are written: Datasette's JSON shapes, rows straight to
//! JSON bytes, CSV.

pub(crate) mod csv;
pub(crate) mod rows_json;
pub(crate) mod shape;
