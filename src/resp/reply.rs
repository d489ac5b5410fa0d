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
    /// RESP3 `(digits`; RESP2 bulk string of the digits.
    BigNumber(String),
    /// RESP3 `|n` attribute map followed by the reply it describes; RESP2 the reply alone.
    Attribute(Vec<(Reply, Reply)>, Box<Reply>),
    /// RESP3 `>n` push; RESP2 array.
    Push(Vec<Reply>),
    /// Several top-level replies to one command, written back to back (SUBSCRIBE to
    /// several channels answers once per channel).
    Many(Vec<Reply>),
    /// An array of bulk strings held in one buffer (same bytes in RESP2 and RESP3): what
    /// range commands return, built without one allocation per element.
    Bulks(Bulks),
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

    /// The same reply with every `Bulks` (at any depth) spelled out as an array of bulk
    /// strings: what code that inspects a reply's shape should look at.
    pub fn expand_bulks(self) -> Reply {
        let all = |v: Vec<Reply>| v.into_iter().map(Reply::expand_bulks).collect();
        match self {
            Reply::Bulks(b) => b.to_array(),
            Reply::Array(v) => Reply::Array(all(v)),
            Reply::Set(v) => Reply::Set(all(v)),
            Reply::Push(v) => Reply::Push(all(v)),
            Reply::Many(v) => Reply::Many(all(v)),
            Reply::Map(v) => Reply::Map(
                v.into_iter()
                    .map(|(k, v)| (k.expand_bulks(), v.expand_bulks()))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// Many bulk strings copied into one buffer, then handed out as slices of it: a reply of
/// N elements (ZRANGE, LRANGE, MGET …) costs two allocations instead of N, and dropping it
/// N reference-count decrements instead of N frees. An element may be nil (MGET of a
/// missing key).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Bulks {
    buf: Vec<u8>,
    /// Where each element ends in `buf`; `NIL` marks a nil element.
    ends: Vec<usize>,
}

/// The `ends` entry of a nil element.
const NIL: usize = usize::MAX;

impl Bulks {
    /// Room for `n` elements of about `avg` bytes.
    pub fn with_capacity(n: usize, avg: usize) -> Self {
        Bulks {
            buf: Vec::with_capacity(n.saturating_mul(avg)),
            ends: Vec::with_capacity(n),
        }
    }

    /// Append one element.
    pub fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        self.ends.push(self.buf.len());
    }

    /// Append a nil element.
    pub fn push_nil(&mut self) {
        self.ends.push(NIL);
    }

    /// About the bytes of the elements' encoding: each element's bytes plus 8 for its
    /// header and CRLF (enough below 1000 bytes), 5 for a nil.
    pub fn weight(&self) -> usize {
        let nils = self.ends.iter().filter(|&&e| e == NIL).count();
        self.buf.len() + 8 * (self.ends.len() - nils) + 5 * nils
    }

    /// Bytes of the elements together.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Elements pushed so far.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The elements, in order (None = nil).
    pub fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            if end == NIL {
                return None;
            }
            let b = &self.buf[start..end];
            start = end;
            Some(b)
        })
    }

    /// The elements, in order, as `Reply::Bulk`s sharing one buffer (`Reply::Null` for nil).
    pub fn into_replies(self) -> impl Iterator<Item = Reply> {
        let all = Bytes::from(self.buf);
        let mut start = 0;
        self.ends.into_iter().map(move |end| {
            if end == NIL {
                return Reply::Null;
            }
            let r = Reply::Bulk(all.slice(start..end));
            start = end;
            r
        })
    }

    /// The same reply as an array of separate bulk strings (and nulls).
    pub fn to_array(&self) -> Reply {
        Reply::Array(
            self.iter()
                .map(|e| e.map_or(Reply::Null, Reply::bulk))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulks_share_one_buffer_and_keep_order() {
        let mut b = Bulks::with_capacity(2, 4);
        for e in [&b"alpha"[..], b"", b"c\r\n", b"delta"] {
            b.push(e);
        }
        assert_eq!(b.len(), 4);
        let mut enc = Vec::new();
        crate::resp::encode(&Reply::Bulks(b.clone()), 2, &mut enc);
        assert_eq!(
            enc,
            b"*4\r\n$5\r\nalpha\r\n$0\r\n\r\n$3\r\nc\r\n\r\n$5\r\ndelta\r\n"
        );
        let mut enc3 = Vec::new();
        crate::resp::encode(&Reply::Bulks(b.clone()), 3, &mut enc3);
        assert_eq!(enc3, enc);
        let split: Vec<Reply> = b.clone().into_replies().collect();
        assert_eq!(Reply::Array(split), b.to_array());
        assert_eq!(
            b.to_array(),
            Reply::Array(vec![
                Reply::bulk(b"alpha"),
                Reply::bulk(b""),
                Reply::bulk(b"c\r\n"),
                Reply::bulk(b"delta"),
            ])
        );
        assert_eq!(Bulks::default().to_array(), Reply::Array(vec![]));
        // A nil element: each protocol's null, and Reply::Null when spelled out.
        let mut n = Bulks::with_capacity(3, 1);
        n.push(b"a");
        n.push_nil();
        n.push(b"");
        let (mut e2, mut e3) = (Vec::new(), Vec::new());
        crate::resp::encode(&Reply::Bulks(n.clone()), 2, &mut e2);
        crate::resp::encode(&Reply::Bulks(n.clone()), 3, &mut e3);
        assert_eq!(e2, b"*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n");
        assert_eq!(e3, b"*3\r\n$1\r\na\r\n_\r\n$0\r\n\r\n");
        let spelled = Reply::Array(vec![Reply::bulk(b"a"), Reply::Null, Reply::bulk(b"")]);
        assert_eq!(n.to_array(), spelled);
        assert_eq!(Reply::Array(n.into_replies().collect()), spelled);
    }
}
