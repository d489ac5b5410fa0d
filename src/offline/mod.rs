//! Offline tools that work on a data directory without a running server (no tokio, no
//! network): `fsck`, `dump` (export as an RDB file or a RESP stream) and `restore`
//! (import one); `compact` belongs here too.

pub mod compact;
pub mod dump;
pub mod fsck;
pub mod restore;
