//! Integration tests of every command strata implements, through a real client
//! (redis-rs 0.27, sync and async) against an in-process server: success and error
//! replies exactly as Redis 7.0.15 gives them. With `COMMANDS_AGAINST_REDIS=1` the same
//! tests run against a real `redis-server` instead (one per test, same directives),
//! which is how every expected value here was checked. Subject files live in
//! `tests/commands/`; this is one test binary: `cargo test --test commands`.

mod common;

#[path = "commands/support.rs"]
mod support;

#[path = "commands/strings.rs"]
mod strings;

#[path = "commands/keys.rs"]
mod keys;

#[path = "commands/server.rs"]
mod server;

#[path = "commands/protocol.rs"]
mod protocol;

#[path = "commands/acl.rs"]
mod acl;
