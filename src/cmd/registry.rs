//! The command table: built once from every group's `register`, validated, and read by
//! dispatch, COMMAND, INFO commandstats and the journal. Lookup is case-insensitive and
//! resolves subcommands (`CONFIG GET`) to their own spec.

use std::sync::LazyLock;

use bytes::Bytes;

use super::error::CmdError;
use super::{CommandSpec, Flags, Journal};

/// The table.
pub struct Registry {
    /// Top-level commands in registration order.
    pub commands: Vec<CommandSpec>,
    /// Open-addressing index of `commands` by name ([`name_hash`] of the folded name,
    /// linear probing, `u16::MAX` = empty).
    by_name: Vec<u16>,
    /// Each command's name folded ([`fold_name`]), by position in `commands`: a lookup
    /// folds the request's name the same way, a word at a time, and compares words.
    folded: Vec<FoldedName>,
    /// Number of stats slots (commands + subcommands).
    pub stat_slots: usize,
    names_by_id: Vec<String>,
}

/// Longest command name, in 8-byte words (the longest, `georadiusbymember_ro`, has 20
/// bytes; `Registry::build` refuses longer ones).
const NAME_WORDS: usize = 3;

/// A name with its ASCII capitals lowercased, in little-endian 8-byte words padded with
/// zeros, and its length (a name with trailing NULs is another name).
#[derive(Clone, Copy, PartialEq, Eq)]
struct FoldedName {
    words: [u64; NAME_WORDS],
    len: usize,
}

/// `x` with every byte `A`..=`Z` lowercased and every other byte (non-ASCII ones
/// included) kept: eight bytes at once.
fn lower_word(x: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Each byte's low seven bits plus a constant below 0x80 cannot carry into the next byte.
    let seven = x & !HI;
    let from_a = seven + LO * (0x80 - u64::from(b'A'));
    let past_z = seven + LO * (0x80 - u64::from(b'Z') - 1);
    let capital = from_a & !past_z & !x & HI;
    x | (capital >> 2)
}

/// `name` folded for lookup; None when it is longer than any command name.
fn fold_name(name: &[u8]) -> Option<FoldedName> {
    if name.len() > NAME_WORDS * 8 {
        return None;
    }
    let mut bytes = [0u8; NAME_WORDS * 8];
    bytes[..name.len()].copy_from_slice(name);
    let mut words = [0u64; NAME_WORDS];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = lower_word(u64::from_le_bytes(b));
    }
    Some(FoldedName {
        words,
        len: name.len(),
    })
}

/// The index slot hash of a folded name (a lookup still compares the whole name).
fn name_hash(f: &FoldedName) -> usize {
    let h = (f.words[0] ^ f.words[1].rotate_left(21) ^ f.words[2].rotate_left(42) ^ f.len as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as usize
}

/// The one command table.
pub static COMMANDS: LazyLock<Registry> = LazyLock::new(|| {
    let mut specs = Vec::new();
    super::string::register(&mut specs);
    super::bitmap::register(&mut specs);
    super::keys::register(&mut specs);
    super::dump::register(&mut specs);
    super::hash::register(&mut specs);
    super::list::register(&mut specs);
    super::set::register(&mut specs);
    super::zset::register(&mut specs);
    super::sort::register(&mut specs);
    super::stream::register(&mut specs);
    super::hll::register(&mut specs);
    super::geo::register(&mut specs);
    super::blocking::register(&mut specs);
    super::txn::register(&mut specs);
    super::pubsub::register(&mut specs);
    super::server::register(&mut specs);
    super::connection::register(&mut specs);
    super::info::register(&mut specs);
    super::memory::register(&mut specs);
    super::introspect::register(&mut specs);
    super::scripting::register(&mut specs);
    super::function::register(&mut specs);
    super::admin::register(&mut specs);
    super::acl::register(&mut specs);
    super::repl::register(&mut specs);
    let r = Registry::build(specs);
    if let Err(e) = r.validate() {
        panic!("invalid command table: {e}");
    }
    r
});

impl Registry {
    /// Build from specs: assign ids and full names.
    pub fn build(mut commands: Vec<CommandSpec>) -> Registry {
        let mut id = 0;
        let mut names_by_id = Vec::new();
        for c in &mut commands {
            c.id = id;
            c.full_name = c.name.to_string();
            attach_meta(c);
            names_by_id.push(c.full_name.clone());
            id += 1;
            for s in &mut c.subcommands {
                s.id = id;
                s.full_name = format!("{}|{}", c.name, s.name);
                attach_meta(s);
                names_by_id.push(s.full_name.clone());
                id += 1;
            }
        }
        let size = (commands.len() * 4).next_power_of_two().max(16);
        let mut by_name = vec![u16::MAX; size];
        let folded: Vec<FoldedName> = commands
            .iter()
            .map(|c| fold_name(c.name.as_bytes()).expect("command names fit NAME_WORDS"))
            .collect();
        for (i, f) in folded.iter().enumerate() {
            let mut at = name_hash(f) & (size - 1);
            while by_name[at] != u16::MAX {
                at = (at + 1) & (size - 1);
            }
            by_name[at] = u16::try_from(i).expect("fewer than 65535 commands");
        }
        Registry {
            commands,
            by_name,
            folded,
            stat_slots: id,
            names_by_id,
        }
    }

    /// Check the table's invariants (unit-tested).
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.commands {
            if !seen.insert(c.name) {
                return Err(format!("duplicate command {}", c.name));
            }
            check_spec(c)?;
            let mut subs = std::collections::HashSet::new();
            for s in &c.subcommands {
                if !subs.insert(s.name) {
                    return Err(format!("duplicate subcommand {}|{}", c.name, s.name));
                }
                check_spec(s)?;
            }
            if c.handler.is_none() && c.subcommands.is_empty() {
                return Err(format!("{} has neither handler nor subcommands", c.name));
            }
        }
        Ok(())
    }

    /// The command named by `name` (any case).
    pub fn get(&self, name: &[u8]) -> Option<&CommandSpec> {
        let f = fold_name(name)?;
        let mask = self.by_name.len() - 1;
        let mut at = name_hash(&f) & mask;
        loop {
            let i = usize::from(self.by_name[at]);
            // (Command names are lowercase, so a folded name equal to one is that name in
            // some case.)
            if *self.folded.get(i)? == f {
                return self.commands.get(i);
            }
            at = (at + 1) & mask;
        }
    }

    /// Resolve `argv` to a spec, descending into subcommands.
    pub fn lookup(&self, argv: &[Bytes]) -> Result<&CommandSpec, CmdError> {
        let Some(name) = argv.first() else {
            return Err(CmdError::unknown(argv));
        };
        let c = self.get(name).ok_or_else(|| CmdError::unknown(argv))?;
        if c.subcommands.is_empty() {
            return Ok(c);
        }
        let Some(sub) = argv.get(1) else {
            // A container with its own handler runs it when called bare (`COMMAND`).
            return match c.handler {
                Some(_) => Ok(c),
                None => Err(CmdError::Arity(c.name.to_string())),
            };
        };
        c.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub))
            .ok_or_else(|| CmdError::UnknownSubcommand {
                sub: String::from_utf8_lossy(sub).chars().take(128).collect(),
                cmd: c.name.to_uppercase(),
            })
    }

    /// Full name (`config|get`) for a stats id.
    pub fn name_of(&self, id: usize) -> &str {
        self.names_by_id.get(id).map_or("", String::as_str)
    }

    /// Every spec (commands and subcommands) with its parent (None for top level).
    pub fn all(&self) -> impl Iterator<Item = &CommandSpec> {
        self.commands
            .iter()
            .flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
    }

    /// Every spec with its parent (None for top level).
    pub fn all_with_parent(&self) -> impl Iterator<Item = (&CommandSpec, Option<&CommandSpec>)> {
        self.commands.iter().flat_map(|c| {
            std::iter::once((c, None)).chain(c.subcommands.iter().map(move |s| (s, Some(c))))
        })
    }
}

/// `rename-command` lines (redis.conf and the command line only, as in Redis): the names
/// clients, EXEC and scripts call commands by. A renamed command answers to its new name
/// only, one renamed to `""` to none; everything else (its stats, CLIENT LIST `cmd`,
/// COMMAND, the log) keeps its own name, as Redis keeps the command's `fullname` and
/// changes only its key in the lookup table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renames {
    /// Lowercased new name -> the command's own name.
    alias: std::collections::HashMap<Vec<u8>, &'static str>,
    /// Own names (lowercased) no longer callable by themselves.
    hidden: std::collections::HashSet<Vec<u8>>,
}

/// What a called name resolves to under [`Renames`].
pub enum Renamed {
    /// Not renamed: look it up as it is.
    Same,
    /// Another command's new name: that command's own name.
    To(&'static str),
    /// Renamed away: no such command.
    Gone,
}

impl Renames {
    /// No `rename-command` applies (the common case: one branch per command).
    pub fn is_empty(&self) -> bool {
        self.hidden.is_empty()
    }

    /// The table of a config's `rename-command` lines, applied in order; the first bad
    /// one and why (Redis refuses to start on it).
    pub fn build(
        lines: &[crate::config::RenameCommand],
    ) -> Result<Renames, (&crate::config::RenameCommand, &'static str)> {
        let mut r = Renames::default();
        for l in lines {
            r.rename(&l.from, &l.to).map_err(|why| (l, why))?;
        }
        Ok(r)
    }

    /// Apply `rename-command FROM TO` on top of the earlier ones, with Redis's checks
    /// (`FROM` is looked up by its current name; `TO` must not be a current name).
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), &'static str> {
        const NO_SUCH: &str = "No such command in rename-command";
        let from = from.to_ascii_lowercase().into_bytes();
        let to = to.to_ascii_lowercase().into_bytes();
        let own = match self.alias.get(&from) {
            Some(&own) => own,
            None if from.contains(&b'|') || self.hidden.contains(&from) => {
                return Err(NO_SUCH);
            }
            None => COMMANDS.get(&from).ok_or(NO_SUCH)?.name,
        };
        let taken = to != from
            && (self.alias.contains_key(&to)
                || (!self.hidden.contains(&to) && COMMANDS.get(&to).is_some()));
        if !to.is_empty() && taken {
            return Err("Target command name already exists");
        }
        if self.alias.remove(&from).is_none() {
            self.hidden.insert(from);
        }
        if to.is_empty() {
            return Ok(());
        }
        self.alias.insert(to, own);
        Ok(())
    }

    /// `argv` naming the command its caller means, by its own name (borrowed when no rename
    /// applies); None for a name taken away (an unknown command).
    pub fn own_argv<'a>(&self, argv: &'a [Bytes]) -> Option<std::borrow::Cow<'a, [Bytes]>> {
        let Some(name) = argv.first().filter(|_| !self.is_empty()) else {
            return Some(argv.into());
        };
        match self.resolve(name) {
            Renamed::Same => Some(argv.into()),
            Renamed::To(own) => {
                let mut v = argv.to_vec();
                v[0] = Bytes::from_static(own.as_bytes());
                Some(v.into())
            }
            Renamed::Gone => None,
        }
    }

    /// The command a client calling `name` means.
    pub fn resolve(&self, name: &[u8]) -> Renamed {
        let lower = name.to_ascii_lowercase();
        if let Some(own) = self.alias.get(&lower) {
            return Renamed::To(own);
        }
        if self.hidden.contains(&lower) {
            return Renamed::Gone;
        }
        Renamed::Same
    }
}

/// Attach Redis's metadata (`cmdmeta`) by full name; its summary and version are the ones
/// COMMAND DOCS reports.
fn attach_meta(c: &mut CommandSpec) {
    c.meta = super::cmdmeta::lookup(&c.full_name);
    if let Some(m) = c.meta {
        c.summary = m.summary;
        c.since = m.since;
    }
}

impl Registry {
    /// Check every command against its metadata (unit-tested, not at startup, so a command
    /// added without rerunning `tools/gen-command-meta.py` fails the test, not the server):
    /// metadata exists, the group agrees, (first, last, step) and `movablekeys` are what
    /// Redis derives from the key specs, and key arguments name existing key specs.
    pub fn validate_meta(&self) -> Result<(), String> {
        let mut errs = Vec::new();
        for c in &self.commands {
            for (s, group) in std::iter::once(c)
                .chain(c.subcommands.iter())
                .map(|s| (s, c.group.name()))
            {
                if let Err(e) = check_meta(s, group) {
                    errs.push(e);
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("\n"))
        }
    }
}

fn check_meta(c: &CommandSpec, group: &str) -> Result<(), String> {
    let name = &c.full_name;
    let Some(m) = c.meta else {
        return Err(format!(
            "{name}: no metadata (rerun tools/gen-command-meta.py, or add it to cmdmeta::EXTRA)"
        ));
    };
    if m.group != group {
        return Err(format!("{name}: group {group}, Redis says {}", m.group));
    }
    let (first, last, step, movable) = super::cmdmeta::legacy_range(m.key_specs);
    let k = c.keys;
    if (k.first, k.last, k.step) != (first, last, step) {
        return Err(format!(
            "{name}: keys ({}, {}, {}) but the key specs give ({first}, {last}, {step})",
            k.first, k.last, k.step
        ));
    }
    if c.flags.contains(Flags::MOVABLE_KEYS) != movable {
        return Err(format!(
            "{name}: MOVABLE_KEYS must be {movable} as the key specs say"
        ));
    }
    fn args_ok(args: &[super::cmdmeta::Arg], n: usize) -> bool {
        args.iter().all(|a| {
            (a.key_spec < 0 || usize::try_from(a.key_spec).is_ok_and(|i| i < n))
                && args_ok(a.args, n)
        })
    }
    if !args_ok(m.args, m.key_specs.len()) {
        return Err(format!("{name}: an argument names a missing key spec"));
    }
    Ok(())
}

fn check_spec(c: &CommandSpec) -> Result<(), String> {
    if c.name != c.name.to_lowercase() {
        return Err(format!("{} is not lowercase", c.name));
    }
    if c.arity == 0 {
        return Err(format!("{} has arity 0", c.name));
    }
    let has_keys = c.keys.first > 0;
    if has_keys
        && c.group != super::Group::Transactions
        && c.group != super::Group::PubSub
        && c.flags.contains(Flags::WRITE) == c.flags.contains(Flags::READONLY)
    {
        return Err(format!(
            "{} has keys but is not exactly one of WRITE/READONLY",
            c.name
        ));
    }
    let logs = c.flags.intersects(Flags::WRITE | Flags::MAY_REPLICATE);
    if (c.journal == Journal::Never) == logs && c.handler.is_some() {
        return Err(format!(
            "{}: journal Never iff not WRITE/MAY_REPLICATE",
            c.name
        ));
    }
    // ADMIN does not imply NOSCRIPT here (ARCHITECTURE.md suggests it): Redis itself lets
    // scripts call a few admin commands (PFDEBUG, PFSELFTEST) and COMMAND reports flags as
    // Redis does, so each command declares NOSCRIPT explicitly.
    if has_keys && c.arity > 0 && c.keys.first >= c.arity {
        return Err(format!("{}: first key beyond arity", c.name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    /// Redis's `rename-command` table semantics: a command is found by its current name
    /// (renamed twice, back to its own, swapped into a freed name), and a rename to a name
    /// in use fails.
    #[test]
    fn renames_follow_redis_table_semantics() {
        use super::{Renamed, Renames};
        let own = |r: &Renames, n: &str| match r.resolve(n.as_bytes()) {
            Renamed::Same => COMMANDS.get(n.as_bytes()).map(|_| n.to_string()),
            Renamed::To(o) => Some(o.to_string()),
            Renamed::Gone => None,
        };
        let mut r = Renames::default();
        assert!(r.is_empty());
        assert_eq!(own(&r, "GET"), Some("GET".into()));
        r.rename("FLUSHDB", "badger").unwrap();
        assert!(!r.is_empty());
        assert_eq!(own(&r, "flushdb"), None);
        assert_eq!(own(&r, "BADGER"), Some("flushdb".into()));
        // Found by its current name only.
        assert_eq!(
            r.rename("flushdb", "x"),
            Err("No such command in rename-command")
        );
        r.rename("badger", "mole").unwrap();
        assert_eq!(own(&r, "badger"), None);
        assert_eq!(own(&r, "mole"), Some("flushdb".into()));
        r.rename("mole", "flushdb").unwrap();
        assert_eq!(own(&r, "flushdb"), Some("flushdb".into()));
        // A name in use is refused; a freed one can be taken.
        assert_eq!(
            r.rename("get", "set"),
            Err("Target command name already exists")
        );
        r.rename("set", "").unwrap();
        assert_eq!(own(&r, "set"), None);
        r.rename("get", "set").unwrap();
        assert_eq!(own(&r, "set"), Some("get".into()));
        assert_eq!(own(&r, "get"), None);
        r.rename("ping", "ping").unwrap();
        assert_eq!(own(&r, "ping"), Some("ping".into()));
        assert_eq!(
            r.rename("config|get", "cg"),
            Err("No such command in rename-command")
        );
        assert_eq!(
            r.rename("nosuch", "x"),
            Err("No such command in rename-command")
        );
    }
    use super::*;

    #[test]
    fn table_is_valid() {
        COMMANDS.validate().unwrap();
        assert!(COMMANDS.get(b"GeT").is_some());
        assert!(COMMANDS.get(b"nope").is_none());
    }

    #[test]
    fn every_name_is_found_in_any_case_and_near_misses_are_not() {
        for c in &COMMANDS.commands {
            let lower = c.name.as_bytes().to_vec();
            let upper = c.name.to_ascii_uppercase().into_bytes();
            let mixed: Vec<u8> = lower
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        *b
                    }
                })
                .collect();
            for name in [&lower, &upper, &mixed] {
                assert_eq!(COMMANDS.get(name).map(|s| s.id), Some(c.id), "{}", c.name);
            }
            // Same hash under the case folding, different name: `_` and DEL (0x7f), a
            // letter and its control-character twin, one byte more or less.
            let mut twin = lower.clone();
            twin[0] ^= 0x20;
            if !twin[0].is_ascii_alphabetic() {
                assert!(COMMANDS.get(&twin).is_none(), "{}", c.name);
            }
            let folded: Vec<u8> = lower
                .iter()
                .map(|&b| if b == b'_' { 0x7f } else { b })
                .collect();
            if folded != lower {
                assert!(COMMANDS.get(&folded).is_none(), "{}", c.name);
            }
            assert!(COMMANDS.get(&lower[..lower.len() - 1]).map(|s| s.id) != Some(c.id));
            let mut longer = lower.clone();
            longer.push(b'x');
            assert!(COMMANDS.get(&longer).map(|s| s.id) != Some(c.id));
        }
        assert!(COMMANDS.get(b"").is_none());
        assert!(COMMANDS.get(&[0xff; 40]).is_none());
        assert!(COMMANDS.get(b"get\0").is_none());
        assert!(COMMANDS.get(b"g\xc5t").is_none());
    }

    #[test]
    fn lower_word_lowercases_ascii_capitals_only() {
        for b in 0..=255u8 {
            let word = u64::from_le_bytes([b, b'A', b, b'z', b, b'@', b, b'[']);
            let want = u64::from_le_bytes([
                b.to_ascii_lowercase(),
                b'a',
                b.to_ascii_lowercase(),
                b'z',
                b.to_ascii_lowercase(),
                b'@',
                b.to_ascii_lowercase(),
                b'[',
            ]);
            assert_eq!(lower_word(word), want, "byte {b:#x}");
        }
    }

    #[test]
    fn table_has_metadata() {
        if let Err(e) = COMMANDS.validate_meta() {
            panic!("command metadata out of date:\n{e}");
        }
    }

    #[test]
    fn subcommand_lookup() {
        let argv = [Bytes::from_static(b"config"), Bytes::from_static(b"GET")];
        assert_eq!(COMMANDS.lookup(&argv).unwrap().full_name, "config|get");
        let argv = [Bytes::from_static(b"config"), Bytes::from_static(b"x")];
        assert_eq!(
            COMMANDS.lookup(&argv).unwrap_err().to_string(),
            "ERR unknown subcommand 'x'. Try CONFIG HELP."
        );
    }
}
