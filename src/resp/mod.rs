//! RESP2/RESP3 protocol: the incremental request decoder (multibulk and inline), the
//! `Reply` value every command returns, and its encoder for either protocol version.
//! This module imports nothing else from the crate.

pub mod decode;
pub mod encode;
pub mod error;
pub mod reply;

pub use decode::{decode, decode_all, Limits};
pub use encode::encode;
pub use error::ProtoError;
pub use reply::Reply;
