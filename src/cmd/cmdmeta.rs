//! Command metadata beyond what a `CommandSpec` declares: Redis's key specifications,
//! command tips and documentation (summary, since, group, complexity, doc flags, history,
//! argument tree). The data for commands Redis 7.0 has is generated into `meta.rs` by
//! `tools/gen-command-meta.py`; commands strata implements that Redis 7.0 lacks carry
//! hand-written metadata here (`EXTRA`). The registry attaches each command's entry at
//! build time. This file also owns key extraction as Redis does it for COMMAND GETKEYS /
//! GETKEYSANDFLAGS: key specs first, and the per-command key finders Redis falls back to
//! (numkeys commands, SORT, SET, BITFIELD, XREAD, GEORADIUS).

use bytes::Bytes;

use super::meta::META;
use crate::db::strnum::parse_i64;

bitflags::bitflags! {
    /// Key specification flags, in the order COMMAND INFO lists them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct KeyFlags: u16 {
        /// Read-only access to the key's value.
        const RO = 1 << 0;
        /// Read-write access.
        const RW = 1 << 1;
        /// Overwrite: the value is replaced without being read.
        const OW = 1 << 2;
        /// Removes the key.
        const RM = 1 << 3;
        /// Returns, copies or uses the user data.
        const ACCESS = 1 << 4;
        /// Updates data in the value.
        const UPDATE = 1 << 5;
        /// Adds data to the value.
        const INSERT = 1 << 6;
        /// Deletes data from the value.
        const DELETE = 1 << 7;
        /// Not a key (a shard channel).
        const NOT_KEY = 1 << 8;
        /// The spec may not find every key.
        const INCOMPLETE = 1 << 9;
        /// The flags depend on other arguments.
        const VARIABLE_FLAGS = 1 << 10;
    }
}

impl KeyFlags {
    /// The flag names COMMAND INFO / GETKEYSANDFLAGS print, in Redis's order.
    pub fn names(self) -> Vec<&'static str> {
        const NAMES: [(KeyFlags, &str); 11] = [
            (KeyFlags::RO, "RO"),
            (KeyFlags::RW, "RW"),
            (KeyFlags::OW, "OW"),
            (KeyFlags::RM, "RM"),
            (KeyFlags::ACCESS, "access"),
            (KeyFlags::UPDATE, "update"),
            (KeyFlags::INSERT, "insert"),
            (KeyFlags::DELETE, "delete"),
            (KeyFlags::NOT_KEY, "not_key"),
            (KeyFlags::INCOMPLETE, "incomplete"),
            (KeyFlags::VARIABLE_FLAGS, "variable_flags"),
        ];
        NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Where a key spec starts looking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the end, backwards).
    Keyword(&'static str, i32),
    /// Cannot be described (SORT's BY/GET/STORE).
    Unknown,
}

/// How a key spec finds its keys once it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Find {
    /// `lastkey` relative to the start (negative: from the end), every `keystep`; with a
    /// `limit`, only 1/limit of the remaining arguments.
    Range {
        /// Last key, relative.
        lastkey: i32,
        /// Distance between keys.
        keystep: i32,
        /// Divisor of the remaining arguments (0 = none).
        limit: i32,
    },
    /// The key count is the argument `keynumidx` after the start; keys begin `firstkey`
    /// after the start.
    Keynum {
        /// Offset of the count.
        keynumidx: i32,
        /// Offset of the first key.
        firstkey: i32,
        /// Distance between keys.
        keystep: i32,
    },
    /// Cannot be described.
    Unknown,
}

/// One key specification.
#[derive(Clone, Copy, Debug)]
pub struct KeySpecMeta {
    /// Free-text notes ("" = none).
    pub notes: &'static str,
    /// Flags.
    pub flags: KeyFlags,
    /// Begin search.
    pub begin: Begin,
    /// Find keys.
    pub find: Find,
}

/// A documented argument's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `double`.
    Double,
    /// `key` (with a key spec index).
    Key,
    /// `pattern`.
    Pattern,
    /// `unix-time`.
    UnixTime,
    /// `pure-token`.
    PureToken,
    /// `oneof` (nested arguments, one of which).
    Oneof,
    /// `block` (nested arguments, all of them).
    Block,
}

impl ArgType {
    /// The name COMMAND DOCS prints.
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::Oneof => "oneof",
            ArgType::Block => "block",
        }
    }
}

/// Argument flag: optional.
pub const OPT: u8 = 1;
/// Argument flag: may repeat.
pub const MULTI: u8 = 2;
/// Argument flag: repeats with its token.
pub const MULTI_TOKEN: u8 = 4;

/// One documented argument.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    /// Name.
    pub name: &'static str,
    /// Type.
    pub kind: ArgType,
    /// Index of the key spec for `key` arguments (-1 = none).
    pub key_spec: i32,
    /// Token ("" = none).
    pub token: &'static str,
    /// Summary ("" = none).
    pub summary: &'static str,
    /// Version that added it ("" = none).
    pub since: &'static str,
    /// Version that deprecated it ("" = none).
    pub deprecated_since: &'static str,
    /// `OPT | MULTI | MULTI_TOKEN` (0: COMMAND DOCS prints no `flags` field).
    pub flags: u8,
    /// Nested arguments (`oneof`, `block`).
    pub args: &'static [Arg],
}

/// Defaults for `Arg { .., ..A }`.
pub const A: Arg = Arg {
    name: "",
    kind: ArgType::String,
    key_spec: -1,
    token: "",
    summary: "",
    since: "",
    deprecated_since: "",
    flags: 0,
    args: &[],
};

/// A command's (or subcommand's) metadata, as Redis reports it.
#[derive(Clone, Copy, Debug)]
pub struct CommandMeta {
    /// Full name (`get`, `config|get`).
    pub name: &'static str,
    /// Summary.
    pub summary: &'static str,
    /// Version that introduced it.
    pub since: &'static str,
    /// Group name as COMMAND DOCS prints it.
    pub group: &'static str,
    /// Complexity ("" = none).
    pub complexity: &'static str,
    /// Doc flags (`deprecated`, `syscmd`).
    pub doc_flags: &'static [&'static str],
    /// Deprecated since ("" = not deprecated).
    pub deprecated_since: &'static str,
    /// Replacement ("" = none).
    pub replaced_by: &'static str,
    /// History: (version, change).
    pub history: &'static [(&'static str, &'static str)],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, …).
    pub tips: &'static [&'static str],
    /// Key specifications.
    pub key_specs: &'static [KeySpecMeta],
    /// Argument tree.
    pub args: &'static [Arg],
}

/// Defaults for `CommandMeta { .., ..M }`.
pub const M: CommandMeta = CommandMeta {
    name: "",
    summary: "",
    since: "",
    group: "",
    complexity: "",
    doc_flags: &[],
    deprecated_since: "",
    replaced_by: "",
    history: &[],
    tips: &[],
    key_specs: &[],
    args: &[],
};

/// Metadata of the commands strata implements that Redis 7.0 lacks, as Redis 7.2 reports
/// them, sorted by name.
pub static EXTRA: &[CommandMeta] = &[
    CommandMeta {
        name: "client|no-touch",
        summary:
            "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        since: "7.2.0",
        group: "connection",
        complexity: "O(1)",
        args: &[Arg {
            name: "enabled",
            kind: ArgType::Oneof,
            flags: 0,
            args: &[
                Arg {
                    name: "on",
                    kind: ArgType::PureToken,
                    token: "ON",
                    ..A
                },
                Arg {
                    name: "off",
                    kind: ArgType::PureToken,
                    token: "OFF",
                    ..A
                },
            ],
            ..A
        }],
        tips: &[],
        ..M
    },
    CommandMeta {
        name: "client|setinfo",
        summary: "Sets information specific to the client or connection.",
        since: "7.2.0",
        group: "connection",
        complexity: "O(1)",
        args: &[Arg {
            name: "attr",
            kind: ArgType::Oneof,
            flags: 0,
            args: &[
                Arg {
                    name: "libname",
                    kind: ArgType::String,
                    token: "lib-name",
                    ..A
                },
                Arg {
                    name: "libver",
                    kind: ArgType::String,
                    token: "lib-ver",
                    ..A
                },
            ],
            ..A
        }],
        ..M
    },
];

/// The metadata of a full command name (`get`, `config|get`).
pub fn lookup(full_name: &str) -> Option<&'static CommandMeta> {
    [META, EXTRA].into_iter().find_map(|table| {
        table
            .binary_search_by(|m| m.name.cmp(full_name))
            .ok()
            .map(|i| &table[i])
    })
}

/// The legacy (first, last, step) triple and the `movablekeys` flag Redis derives from a
/// command's key specs.
pub fn legacy_range(specs: &[KeySpecMeta]) -> (i32, i32, i32, bool) {
    if specs.is_empty() {
        return (0, 0, 0, false);
    }
    if let [s] = specs {
        if let (
            Begin::Index(pos),
            Find::Range {
                lastkey, keystep, ..
            },
        ) = (s.begin, s.find)
        {
            let movable = s.flags.contains(KeyFlags::INCOMPLETE);
            return (pos, lastkey_abs(pos, lastkey), keystep, movable);
        }
    }
    let mut movable = false;
    let (mut first, mut last, mut prev_last) = (i32::MAX, 0i32, 0i32);
    for s in specs {
        let (
            Begin::Index(pos),
            Find::Range {
                lastkey, keystep, ..
            },
        ) = (s.begin, s.find)
        else {
            movable = true;
            continue;
        };
        if keystep != 1 || (prev_last != 0 && prev_last != pos - 1) {
            movable = true;
            continue;
        }
        if s.flags.contains(KeyFlags::INCOMPLETE) {
            movable = true;
        }
        first = first.min(pos);
        let abs = if lastkey >= 0 { lastkey + pos } else { lastkey };
        // Negative (from the end) compares as larger, as Redis compares unsigned.
        if (abs as u32) > (last as u32) {
            last = abs;
        }
        prev_last = last;
    }
    if first == i32::MAX {
        return (0, 0, 0, true);
    }
    (first, last, 1, movable)
}

fn lastkey_abs(pos: i32, lastkey: i32) -> i32 {
    if lastkey >= 0 {
        pos + lastkey
    } else {
        lastkey
    }
}

/// A key found in a command line: its argument index and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    /// Index in argv (0 = the command name).
    pub pos: usize,
    /// Flags.
    pub flags: KeyFlags,
}

/// True if COMMAND GETKEYS can find keys for this command (a key spec that is a key, or a
/// key finder).
pub fn has_keys(full_name: &str, meta: &CommandMeta) -> bool {
    finder(full_name).is_some()
        || meta
            .key_specs
            .iter()
            .any(|s| !s.flags.contains(KeyFlags::NOT_KEY))
}

/// The keys of `argv` (name first) as Redis finds them: by the key specs when they are
/// reliable and match, else by the command's key finder, else none.
pub fn keys_of(full_name: &str, meta: &CommandMeta, argv: &[Bytes]) -> Vec<KeyRef> {
    let specs = meta.key_specs;
    let real = specs.iter().any(|s| !s.flags.contains(KeyFlags::NOT_KEY));
    let variable = specs
        .iter()
        .any(|s| s.flags.contains(KeyFlags::VARIABLE_FLAGS));
    // (Movable-key commands with a key finder use it, as Redis's getkeys_proc.)
    if real && !variable && full_name != "migrate" {
        if let Ok(k) = keys_by_specs(specs, argv) {
            return k;
        }
    }
    finder(full_name).map_or_else(Vec::new, |f| f(argv))
}

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Redis's key-spec walk (`getKeysUsingKeySpecs`).
fn keys_by_specs(specs: &[KeySpecMeta], argv: &[Bytes]) -> Result<Vec<KeyRef>, ()> {
    let argc = i64::try_from(argv.len()).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    for s in specs {
        if s.flags.contains(KeyFlags::NOT_KEY) {
            continue;
        }
        let first: i64 = match s.begin {
            Begin::Index(p) => i64::from(p),
            Begin::Keyword(kw, from) => {
                let from = i64::from(from);
                let start = if from > 0 { from } else { argc + from };
                let end = if from > 0 { argc - 1 } else { 1 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if eq(&argv[idx(i)], kw) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return Err(()),
        };
        let (first, last, step) = match s.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let lastkey = i64::from(lastkey);
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / i64::from(limit) + lastkey)
                };
                (first, last, i64::from(keystep))
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let at = first + i64::from(keynumidx);
                if at >= argc {
                    return Err(());
                }
                let n = parse_i64(&argv[idx(at)]).filter(|n| *n >= 0).ok_or(())?;
                let first = first + i64::from(firstkey);
                (first, first + n - 1, i64::from(keystep))
            }
            Find::Unknown => return Err(()),
        };
        if last >= argc || last < first || first >= argc {
            return Err(());
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef {
                pos: idx(i),
                flags: s.flags,
            });
            i += step.max(1);
        }
        if s.flags.contains(KeyFlags::INCOMPLETE) {
            return Err(());
        }
    }
    Ok(out)
}

fn idx(i: i64) -> usize {
    usize::try_from(i).unwrap_or(0)
}

type Finder = fn(&[Bytes]) -> Vec<KeyRef>;

/// The key finder Redis falls back to for a command (`getkeys_proc`).
fn finder(full_name: &str) -> Option<Finder> {
    Some(match full_name {
        "zunionstore" | "zinterstore" | "zdiffstore" => |a| numkeys(a, 1, 2, 3),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "lmpop" | "zmpop" | "sintercard" => {
            |a| numkeys(a, 0, 1, 2)
        }
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
        | "bzmpop" => |a| numkeys(a, 0, 2, 3),
        "sort" => sort_keys,
        "sort_ro" => |_| {
            vec![KeyRef {
                pos: 1,
                flags: KeyFlags::RO | KeyFlags::ACCESS,
            }]
        },
        "set" => set_keys,
        "bitfield" => bitfield_keys,
        "xread" | "xreadgroup" => xread_keys,
        "georadius" | "georadiusbymember" => georadius_keys,
        "migrate" => migrate_keys,
        _ => return None,
    })
}

/// Redis's `migrateGetKeys`: argv[3], or the keys after KEYS (none if argv[3] is not
/// empty then), skipping AUTH's and AUTH2's arguments.
fn migrate_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let (mut first, mut num) = (3usize, 1usize);
    let mut i = 6;
    while i < a.len() {
        if eq(&a[i], "keys") {
            if !a.get(3).is_some_and(|k| k.is_empty()) {
                return Vec::new();
            }
            first = i + 1;
            num = a.len() - first;
            break;
        }
        if eq(&a[i], "auth") {
            i += 1;
        } else if eq(&a[i], "auth2") {
            i += 2;
        }
        i += 1;
    }
    (first..first + num)
        .filter(|&pos| pos < a.len())
        .map(|pos| KeyRef {
            pos,
            flags: KeyFlags::RW | KeyFlags::ACCESS | KeyFlags::DELETE,
        })
        .collect()
}

/// C `atoi`: optional sign and leading digits, 0 when none.
fn atoi(b: &[u8]) -> i64 {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let b = &b[s..];
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut n: i64 = 0;
    for c in b.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// `numkeys` commands: the count at `count_at`, keys from `first`, then the store key.
fn numkeys(a: &[Bytes], store: usize, count_at: usize, first: usize) -> Vec<KeyRef> {
    let Some(count) = a.get(count_at) else {
        return Vec::new();
    };
    let n = atoi(count);
    let room = i64::try_from(a.len().saturating_sub(first)).unwrap_or(i64::MAX);
    if n < 1 || n > room {
        return Vec::new();
    }
    let n = usize::try_from(n).unwrap_or(0);
    let flags = KeyFlags::empty();
    let mut out: Vec<KeyRef> = (0..n)
        .map(|i| KeyRef {
            pos: first + i,
            flags,
        })
        .collect();
    if store > 0 {
        out.push(KeyRef { pos: store, flags });
    }
    out
}

fn sort_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let mut out = vec![KeyRef {
        pos: 1,
        flags: KeyFlags::RO | KeyFlags::ACCESS,
    }];
    let mut store = None;
    let mut i = 2;
    while i < a.len() {
        if eq(&a[i], "limit") {
            i += 2;
        } else if eq(&a[i], "get") || eq(&a[i], "by") {
            i += 1;
        } else if eq(&a[i], "store") && i + 1 < a.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    out.extend(store.map(|pos| KeyRef {
        pos,
        flags: KeyFlags::OW | KeyFlags::UPDATE,
    }));
    out
}

fn set_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let get = a.iter().skip(3).any(|x| eq(x, "get"));
    let flags = if get {
        KeyFlags::RW | KeyFlags::ACCESS | KeyFlags::UPDATE
    } else {
        KeyFlags::OW | KeyFlags::UPDATE
    };
    vec![KeyRef { pos: 1, flags }]
}

fn bitfield_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let mut readonly = true;
    let mut i = 2;
    while i < a.len() {
        let rem = a.len() - i - 1;
        if eq(&a[i], "get") && rem >= 2 {
            i += 3;
        } else if (eq(&a[i], "set") || eq(&a[i], "incrby")) && rem >= 3 {
            readonly = false;
            break;
        } else if eq(&a[i], "overflow") && rem >= 1 {
            i += 2;
        } else {
            readonly = false;
            break;
        }
    }
    let flags = if readonly {
        KeyFlags::RO | KeyFlags::ACCESS
    } else {
        KeyFlags::RW | KeyFlags::ACCESS | KeyFlags::UPDATE
    };
    vec![KeyRef { pos: 1, flags }]
}

fn xread_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let mut streams = None;
    let mut i = 1;
    while i < a.len() {
        if eq(&a[i], "block") || eq(&a[i], "count") {
            i += 2;
        } else if eq(&a[i], "group") {
            i += 3;
        } else if eq(&a[i], "noack") {
            i += 1;
        } else {
            if eq(&a[i], "streams") {
                streams = Some(i);
            }
            break;
        }
    }
    let Some(s) = streams else {
        return Vec::new();
    };
    let n = a.len() - s - 1;
    if n == 0 || !n.is_multiple_of(2) {
        return Vec::new();
    }
    (s + 1..s + 1 + n / 2)
        .map(|pos| KeyRef {
            pos,
            flags: KeyFlags::empty(),
        })
        .collect()
}

fn georadius_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let flags = KeyFlags::empty();
    let mut out = vec![KeyRef { pos: 1, flags }];
    let mut stored = None;
    let mut i = 5;
    while i < a.len() {
        if (eq(&a[i], "store") || eq(&a[i], "storedist")) && i + 1 < a.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    out.extend(stored.map(|pos| KeyRef { pos, flags }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_sorted_and_unique() {
        for t in [META, EXTRA] {
            assert!(t.windows(2).all(|w| w[0].name < w[1].name));
        }
        assert!(EXTRA
            .iter()
            .all(|e| META.binary_search_by(|m| m.name.cmp(e.name)).is_err()));
        assert_eq!(lookup("get").map(|m| m.since), Some("1.0.0"));
        assert!(lookup("nosuch").is_none());
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(b"2x"), 2);
        assert_eq!(atoi(b" -3"), -3);
        assert_eq!(atoi(b"x"), 0);
    }
}
