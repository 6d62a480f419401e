//! libsette: a multi-tenant, Datasette-compatible data server on libSQL.
//!
//! A guided tour, in the order a request meets the code:

/// Who is asking: anonymous, a user, a user through a restricted token.
pub mod actor;
/// Shared server state and the short-lived caches in front of the catalog.
pub mod app;
/// `libsette backup` and `restore`: consistent copies while the server runs.
pub mod backup;
/// The result cache, keyed by each database's file stamp.
pub mod cache;
/// The internal database: spaces, users, tokens, grants, audit log, schema mirror.
pub mod catalog;
/// Catalog answers reused for a second, or while the catalog is unchanged.
pub mod catalog_cache;
/// The command line: `serve`, `space`, `db`, `user`, `token`, `migrate`.
pub mod cli;
/// The accept loop: timeouts and connection caps, so no client starves the rest.
pub mod conn;
/// The `demo` space a new data folder starts with.
pub mod demo;
/// The one HTTP error type.
pub mod error;
/// `libsette healthcheck`: is the server up, for container healthchecks.
pub mod healthcheck;
/// The HTTP layer, in rooms by resource; `http/routes.rs` is the URL table.
pub mod http;
/// Importing and replacing tenant database files.
pub mod import;
/// What a request's reads cost, and whether their answer may be reused.
pub mod meter;
/// Prometheus metrics with bounded labels.
pub mod metrics;
/// Validated names, tilde-encoding, identifier quoting.
pub mod names;
/// Web origins: the public URL answers are built on, CORS allowlist entries.
pub mod origin;
/// Permissions as one SQL query over the catalog.
pub mod permissions;
/// Requests per minute per token, user and client address.
pub mod rate_limit;
/// Reading tenant databases: user SQL checks, time-limited execution, table SQL.
pub mod read;
/// Embedded replicas of a sqld primary: namespaces, sync, the admin API.
pub mod replica;
/// `libsette serve`: binding, start-up and shutdown.
pub mod server;
/// Signed session cookies, CSRF tokens and the login rate limiter.
pub mod session;
/// Datasette's settings, validated, per instance and per space.
pub mod settings;
/// A space's shares: concurrent reads, their wait, database size.
pub mod space_gate;
/// Synchronous libsql helpers and the blocking-pool bridge.
pub mod sqlite;
/// SQLite's length limit on a connection, through its raw handle.
pub mod sqlite_limit;
/// File stamps: has a database changed, without opening it.
pub mod stamp;
/// Open tenant databases, cached and bounded.
pub mod tenant;
/// The write API's logic: validation, write SQL, schema text, execute-write analysis.
pub mod write;

/// The Datasette release whose JSON API libsette speaks.
pub const DATASETTE_API_VERSION: &str = "1.0a41";
