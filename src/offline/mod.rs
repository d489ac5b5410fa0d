//! Offline tools that work on a data directory without a running server (no tokio, no
//! network): `fsck` today; `dump`, `restore` and `compact` belong here too.

pub mod fsck;
