//! `CmdError`: every error a client can see from a command. `Display` is the exact wire
//! text without the leading `-`; the first word is the error code clients match on.

use crate::db::strnum::DomainError;
use crate::resp::Reply;

/// Redis's reply to a command refused while the dataset is loading (startup recovery).
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// An error reply. Never closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// Unknown command name.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand {
        /// The name as sent.
        name: String,
        /// The first arguments, each quoted and followed by a space.
        args: String,
    },
    /// Unknown subcommand.
    #[error("ERR unknown subcommand '{sub}'. Try {cmd} HELP.")]
    UnknownSubcommand {
        /// The subcommand as sent.
        sub: String,
        /// The parent, uppercase.
        cmd: String,
    },
    /// Wrong argument count.
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    /// Syntax error.
    #[error("ERR syntax error")]
    Syntax,
    /// Wrong type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// Not an integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// Not a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// Overflow.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// Authentication needed.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// Log latched after an I/O failure.
    #[error("MISCONF Errors writing to the AOF file: {0}")]
    Misconf(String),
    /// Any other error with its own code: the full text, code first.
    #[error("{0}")]
    Raw(String),
}

impl CmdError {
    /// `ERR <text>`.
    pub fn err(text: impl std::fmt::Display) -> CmdError {
        CmdError::Raw(format!("ERR {text}"))
    }
    /// Redis's error for a subcommand a handler does not know or got with the wrong
    /// arguments: `unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`
    pub fn bad_subcommand(sub: &[u8], cmd: &str) -> CmdError {
        CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
            String::from_utf8_lossy(sub)
        ))
    }
    /// The first word (the error code).
    pub fn code(&self) -> String {
        self.to_string()
            .split_whitespace()
            .next()
            .unwrap_or("ERR")
            .to_string()
    }
    /// The unknown-command error with Redis's argument preview.
    pub fn unknown(argv: &[bytes::Bytes]) -> CmdError {
        let name = String::from_utf8_lossy(argv.first().map_or(&b""[..], |b| &b[..]));
        let mut args = String::new();
        for a in argv.iter().skip(1) {
            if args.len() >= 128 {
                break;
            }
            let s = String::from_utf8_lossy(a);
            let s: String = s.chars().take(128 - args.len().min(128)).collect();
            args.push_str(&format!("'{s}' "));
        }
        CmdError::UnknownCommand {
            name: name.chars().take(128).collect(),
            args,
        }
    }
}

impl From<DomainError> for CmdError {
    fn from(e: DomainError) -> Self {
        CmdError::Raw(e.to_string())
    }
}

impl From<CmdError> for Reply {
    fn from(e: CmdError) -> Reply {
        Reply::Error(e.to_string())
    }
}
