//! strata: a durable, Redis-compatible key-value server.
//!
//! # Layout
//! - `resp`: the RESP2/RESP3 codec (requests in, replies out). Imports nothing else in the crate.
//! - `db`: the in-memory keyspace and the semantics of each value type. No RESP, no I/O.
//! - `script`: the Lua 5.1 sandbox, the script cache and Lua ↔ reply conversions (imports only `resp`;
//!   `redis.call` reaches commands through a callback `cmd` passes in).
//! - `cmd`: the one command table, the one dispatch path, and every command handler.
//! - `persist`: the segmented, checksummed log, its manifest and recovery (see `format/`).
//! - `server`: the tokio listener, connections, the engine lock and group-commit waits.
//! - `rdb`: Redis's RDB format (DUMP/RESTORE payloads and RDB files), over byte buffers;
//!   imports only `db`.
//! - `offline`: tools that work on a data directory without a server (`fsck`).
//! - `config`: directives (redis.conf names), their defaults and CONFIG GET/SET.
//! - `clock`: the only reader of the wall clock.
//! - `alloc`: the global allocator (jemalloc) and its statistics.
//!
//! Import rules: `resp` → nothing; `db` → `clock`; `persist` → nothing above it;
//! `cmd` → `db`, `resp`, `clock`, `config`; `server` → everything below it.
//! `tests/layering.rs` enforces them.

pub mod alloc;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod db;
pub mod glob;
pub mod int;
pub mod offline;
pub mod persist;
pub mod rdb;
pub mod resp;
pub mod script;
pub mod server;

/// Our own version, reported as `strata_version` in INFO.
pub const STRATA_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version whose semantics we follow (clients gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";
