//! `Reply`: the RESP3-shaped value every command handler returns. The encoder downgrades
//! RESP3-only shapes (maps, sets, doubles, booleans, verbatim) for RESP2 clients.

use bytes::Bytes;

/// One reply to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`
    Simple(String),
    /// `-text`: the full text, prefix word first (e.g. `ERR syntax error`).
    Error(String),
    /// `:n`
    Int(i64),
    /// `$len` bulk string.
    Bulk(Bytes),
    /// RESP2 `$-1`, RESP3 `_`.
    Null,
    /// RESP2 `*-1`, RESP3 `_`.
    NullArray,
    /// `*n`
    Array(Vec<Reply>),
    /// RESP3 `%n`; RESP2 flat array of 2n.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~n`; RESP2 array.
    Set(Vec<Reply>),
    /// RESP3 `,d`; RESP2 bulk string.
    Double(f64),
    /// RESP3 `,text` with the text given (Redis's human long-double form, e.g. GEOPOS's
    /// `13.36138933897018433`); RESP2 bulk string of the text.
    DoubleText(String),
    /// RESP3 `#t/#f`; RESP2 `:1/:0`.
    Bool(bool),
    /// RESP3 `=len\r\nfmt:text`; RESP2 bulk string of the text.
    Verbatim(&'static str, Bytes),
    /// RESP3 `>n` push; RESP2 array.
    Push(Vec<Reply>),
    /// Several top-level replies to one command, written back to back (SUBSCRIBE to
    /// several channels answers once per channel).
    Many(Vec<Reply>),
}

impl Reply {
    /// `+OK`
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
    /// A bulk string copied from a byte slice.
    pub fn bulk(b: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }
    /// A bulk string from an owned string.
    pub fn bulk_string(s: String) -> Reply {
        Reply::Bulk(Bytes::from(s.into_bytes()))
    }
    /// An error reply with the full text (first word is the error code).
    pub fn err(s: impl Into<String>) -> Reply {
        Reply::Error(s.into())
    }
    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
