//! Protocol errors: malformed requests. Each is answered with `-ERR Protocol error: …`
//! and the connection is closed, as Redis does.

/// A request the decoder cannot accept. `Display` is the exact text after `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("ERR Protocol error: expected '$', got '{0}'")]
    ExpectedDollar(char),
    #[error("ERR Protocol error: too big inline request")]
    TooBigInline,
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("ERR Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulk,
    #[error("ERR Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulk,
}
