//! Instance and space meta endpoints: health, actor, versions, settings,
//! threads, the space index, the audit log and the tokens API.

pub(crate) mod api_tokens;
pub(crate) mod audit;
pub(crate) mod instance;
pub(crate) mod space;
