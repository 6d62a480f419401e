//! Reading tenant databases: checking user SQL, running statements under a
//! time limit (in place when short, else on the blocking pool), and building the SQL of table views
//! (filters, sort, keyset pagination, search, facets, labels).

pub mod args;
pub mod cells;
pub mod exec;
pub mod facets;
pub mod filters;
pub mod in_place;
pub mod labels;
pub mod links;
pub mod md5;
mod rows;
pub mod search;
pub mod sql_text;
pub mod table_sql;
pub mod trace;
pub mod values;
