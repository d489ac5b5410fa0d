//! ACL users as Redis 7.0 has them: the user table (`default` plus those ACL SETUSER
//! creates; in memory only, never in the data log), each user's flags, password hashes and
//! selectors (commands by id and category, first arguments, key patterns with read/write
//! permissions, channel patterns), the permission check dispatch runs for a restricted
//! user, the ACL LOG of denials, and the ACL command itself (SETUSER, GETUSER, DELUSER,
//! LIST, USERS, WHOAMI, CAT, LOG, DRYRUN, GENPASS, SAVE/LOAD with `aclfile`, HELP).
//! Rule descriptions (ACL LIST / GETUSER) are rebuilt from the permission bits the way
//! Redis 7.0 does (best-fitting categories first, then single commands).

use std::collections::{BTreeMap, VecDeque};
use std::sync::LazyLock;

use bytes::Bytes;

use super::cmdmeta::{self, KeyFlags};
use super::exec::{arg_i64, is, lossy, Exec};
use super::introspect::{categories, CATEGORIES};
use super::registry::COMMANDS;
use super::server::help_reply;
use super::{cmd, container, CmdError, CommandSpec, Flags, Group};
use crate::resp::Reply;

/// Register the ACL container.
#[rustfmt::skip]
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let srv = |name, arity, flags, handler, summary, since| {
        cmd(name, arity, flags, handler).group(Group::Server).doc(summary, since)
    };
    let help = F::LOADING | F::STALE;
    let admin = F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE;
    let acl_f = F::NOSCRIPT | F::LOADING | F::STALE;
    let acl = vec![
        srv("whoami", 2, acl_f, acl_whoami, "Return the name of the user associated to the current connection", "6.0.0"),
        srv("users", 2, admin, acl_users, "List the username of all the configured ACL rules", "6.0.0"),
        srv("list", 2, admin, acl_list, "List the current ACL rules in ACL config file format", "6.0.0"),
        srv("cat", -2, acl_f, acl_cat, "List the ACL categories or the commands inside a category", "6.0.0"),
        srv("getuser", 3, admin, acl_getuser, "Get the rules for a specific ACL user", "6.0.0"),
        srv("log", -2, admin, acl_log, "List latest events denied because of ACLs in place", "6.0.0"),
        srv("genpass", -2, acl_f, acl_genpass, "Generate a pseudorandom secure password to use for ACL users", "6.0.0"),
        srv("setuser", -3, admin, acl_setuser, "Modify or create the rules for a specific ACL user", "6.0.0"),
        srv("deluser", -3, admin, acl_deluser, "Remove the specified ACL users and the associated rules", "6.0.0"),
        srv("dryrun", -4, admin, acl_dryrun, "Returns whether the user can execute the given command without executing the command.", "7.0.0"),
        srv("save", 2, admin, acl_save, "Save the current ACL rules in the configured ACL file", "6.0.0"),
        srv("load", 2, admin, acl_load, "Reload the ACLs from the configured ACL file", "6.0.0"),
        srv("help", 2, help, acl_help, "Show helpful text about the different subcommands", "6.0.0"),
    ];
    t.push(container("acl", -2, F::empty(), acl).group(Group::Server).doc("A container for Access List Control commands", "6.0.0"));
}

// ---------------------------------------------------------------------------------------
// The model

/// Key permissions of a pattern.
const READ: u8 = 1;
const WRITE: u8 = 2;
const RW: u8 = READ | WRITE;

/// Per command id (as the registry numbers commands and subcommands): its ACL categories
/// as bits over `CATEGORIES`.
static CMD_CATS: LazyLock<Vec<u32>> = LazyLock::new(|| {
    COMMANDS
        .all_with_parent()
        .map(|(s, p)| {
            categories(s, p)
                .iter()
                .fold(0, |m, c| m | category_bit(c.as_bytes()).unwrap_or(0))
        })
        .collect()
});

fn category_bit(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// Why a SETUSER modifier was refused (Redis's errno values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    /// ENOENT.
    UnknownCommand,
    /// EINVAL.
    Syntax,
    /// EEXIST.
    AfterAllKeys,
    /// EISDIR.
    AfterAllChannels,
    /// ENODEV.
    NoSuchPassword,
    /// EBADMSG.
    BadHash,
    /// ECHILD.
    SubcommandFirstArg,
}

impl OpError {
    fn text(self) -> &'static str {
        match self {
            OpError::UnknownCommand => "Unknown command or category name in ACL",
            OpError::Syntax => "Syntax error",
            OpError::AfterAllKeys => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            OpError::AfterAllChannels => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            OpError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            OpError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            OpError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// What a check refused, in Redis's order of relevance (a later kind wins when no selector
/// allows the command), and the argument it refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    /// The command.
    Command,
    /// A key.
    Key,
    /// A channel.
    Channel,
}

/// One selector: what commands, keys and channels it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// Allowed command ids.
    allowed: Vec<bool>,
    /// Set only by `+@all`/`allcommands`: commands added later are allowed too.
    future: bool,
    /// Every command allowed (cleared by any removal).
    all_commands: bool,
    /// Command id → first arguments allowed although the command is not.
    firstargs: Vec<(usize, Vec<Vec<u8>>)>,
    all_keys: bool,
    /// Key patterns with their permissions, in order.
    keys: Vec<(Vec<u8>, u8)>,
    all_channels: bool,
    channels: Vec<Vec<u8>>,
}

impl Default for Selector {
    fn default() -> Self {
        Selector {
            allowed: vec![false; COMMANDS.stat_slots],
            future: false,
            all_commands: false,
            firstargs: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }
}

/// `name` or `name|sub` as ACL rules name commands: the spec and whether it is a
/// subcommand.
fn lookup(name: &[u8]) -> Option<(&'static CommandSpec, bool)> {
    let registry: &'static super::Registry = &COMMANDS;
    let mut parts = name.split(|&c| c == b'|');
    let first = parts.next()?;
    let base = registry.get(first)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some((base, false)),
        (Some(sub), None) => base
            .subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub))
            .map(|s| (s, true)),
        _ => None,
    }
}

impl Selector {
    fn set_bit(&mut self, id: usize, allow: bool) {
        if let Some(b) = self.allowed.get_mut(id) {
            *b = allow;
        }
        if !allow {
            self.all_commands = false;
        }
    }

    /// Allow or deny a command (a container: with all its subcommands).
    fn change(&mut self, spec: &CommandSpec, allow: bool) {
        self.set_bit(spec.id, allow);
        self.firstargs.retain(|(id, _)| *id != spec.id);
        for s in &spec.subcommands {
            self.set_bit(s.id, allow);
        }
    }

    fn set_category(&mut self, bit: u32, allow: bool) {
        let registry: &'static super::Registry = &COMMANDS;
        for spec in registry.all() {
            if CMD_CATS.get(spec.id).is_some_and(|c| c & bit != 0) {
                self.change(spec, allow);
            }
        }
    }

    fn all_on(&mut self) {
        self.allowed.iter_mut().for_each(|b| *b = true);
        self.future = true;
        self.all_commands = true;
        self.firstargs.clear();
    }

    fn all_off(&mut self) {
        self.allowed.iter_mut().for_each(|b| *b = false);
        self.future = false;
        self.all_commands = false;
        self.firstargs.clear();
    }

    /// True when it allows everything (the hot path skips the check for such users).
    fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }

    /// Apply one selector rule (Redis `ACLSetSelector`).
    fn apply(&mut self, op: &[u8]) -> Result<(), OpError> {
        let low = op.to_ascii_lowercase();
        let low = low.as_slice();
        if low == b"allkeys" || op == b"~*" {
            self.all_keys = true;
            self.keys.clear();
        } else if low == b"resetkeys" {
            self.all_keys = false;
            self.keys.clear();
        } else if low == b"allchannels" || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if low == b"resetchannels" {
            self.all_channels = false;
            self.channels.clear();
        } else if low == b"allcommands" || low == b"+@all" {
            self.all_on();
        } else if low == b"nocommands" || low == b"-@all" {
            self.all_off();
        } else if op.first() == Some(&b'~') || op.first() == Some(&b'%') {
            if self.all_keys {
                return Err(OpError::AfterAllKeys);
            }
            let (flags, offset) = if op[0] == b'%' {
                let mut flags = 0u8;
                let mut offset = 1;
                while offset < op.len() {
                    let c = op[offset].to_ascii_uppercase();
                    if c == b'R' && flags & READ == 0 {
                        flags |= READ;
                    } else if c == b'W' && flags & WRITE == 0 {
                        flags |= WRITE;
                    } else if op[offset] == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(OpError::Syntax);
                    }
                    offset += 1;
                }
                (flags, offset)
            } else {
                (RW, 1)
            };
            if flags == 0 {
                return Err(OpError::Syntax);
            }
            let pattern = op[offset.min(op.len())..].to_vec();
            match self.keys.iter_mut().find(|(p, _)| *p == pattern) {
                Some((_, f)) => *f |= flags,
                None => self.keys.push((pattern, flags)),
            }
            self.all_keys = false;
        } else if op.first() == Some(&b'&') {
            if self.all_channels {
                return Err(OpError::AfterAllChannels);
            }
            let pattern = op[1..].to_vec();
            if !self.channels.contains(&pattern) {
                self.channels.push(pattern);
            }
            self.all_channels = false;
        } else if (op.first() == Some(&b'+') || op.first() == Some(&b'-'))
            && op.get(1) == Some(&b'@')
        {
            let bit = category_bit(&op[2..]).ok_or(OpError::UnknownCommand)?;
            self.set_category(bit, op[0] == b'+');
        } else if op.first() == Some(&b'+') {
            let name = &op[1..];
            match name.iter().rposition(|&c| c == b'|') {
                None => {
                    let (spec, _) = lookup(name).ok_or(OpError::UnknownCommand)?;
                    self.change(spec, true);
                }
                Some(p) => {
                    let (base, sub) = (&name[..p], &name[p + 1..]);
                    let (spec, is_sub) = lookup(base).ok_or(OpError::UnknownCommand)?;
                    if is_sub {
                        return Err(OpError::SubcommandFirstArg);
                    }
                    if sub.is_empty() {
                        return Err(OpError::Syntax);
                    }
                    if spec.subcommands.is_empty() {
                        self.add_firstarg(spec.id, sub);
                    } else {
                        let (s, _) = lookup(name).ok_or(OpError::UnknownCommand)?;
                        self.change(s, true);
                    }
                }
            }
        } else if op.first() == Some(&b'-') {
            let (spec, _) = lookup(&op[1..]).ok_or(OpError::UnknownCommand)?;
            self.change(spec, false);
        } else {
            return Err(OpError::Syntax);
        }
        Ok(())
    }

    fn add_firstarg(&mut self, id: usize, arg: &[u8]) {
        let i = match self.firstargs.iter().position(|(c, _)| *c == id) {
            Some(i) => i,
            None => {
                self.firstargs.push((id, Vec::new()));
                self.firstargs.len() - 1
            }
        };
        let list = &mut self.firstargs[i].1;
        if !list.iter().any(|a| a.eq_ignore_ascii_case(arg)) {
            list.push(arg.to_vec());
        }
    }

    /// Check one command line (Redis `ACLSelectorCheckCmd`); `keys` caches the key
    /// positions across selectors.
    fn check(
        &self,
        spec: &CommandSpec,
        argv: &[Bytes],
        keys: &mut Option<Vec<cmdmeta::KeyRef>>,
    ) -> Result<(), (Denied, usize)> {
        if !self.all_commands
            && !spec.flags.contains(Flags::NO_AUTH)
            && !self.allowed.get(spec.id).copied().unwrap_or(false)
        {
            let first = self
                .firstargs
                .iter()
                .find(|(id, _)| *id == spec.id)
                .map(|(_, l)| l);
            let ok = match (first, argv.get(1)) {
                (Some(list), Some(arg)) => list.iter().any(|a| a.eq_ignore_ascii_case(arg)),
                _ => false,
            };
            if !ok {
                return Err((Denied::Command, 0));
            }
        }
        if !self.all_keys {
            if let Some(meta) = spec.meta {
                if cmdmeta::has_keys(&spec.full_name, meta) {
                    let found =
                        keys.get_or_insert_with(|| cmdmeta::keys_of(&spec.full_name, meta, argv));
                    for k in found.iter() {
                        if let Some(key) = argv.get(k.pos) {
                            if !self.key_allowed(key, k.flags) {
                                return Err((Denied::Key, k.pos));
                            }
                        }
                    }
                }
            }
        }
        if !self.all_channels {
            for (pos, pattern) in channels_of(spec, argv) {
                if !self.channel_allowed(&argv[pos], pattern) {
                    return Err((Denied::Channel, pos));
                }
            }
        }
        Ok(())
    }

    fn key_allowed(&self, key: &[u8], flags: KeyFlags) -> bool {
        if self.all_keys {
            return true;
        }
        let mut need = 0;
        if flags.contains(KeyFlags::ACCESS) {
            need |= READ;
        }
        if flags.intersects(KeyFlags::INSERT | KeyFlags::DELETE | KeyFlags::UPDATE) {
            need |= WRITE;
        }
        self.keys
            .iter()
            .any(|(p, f)| f & need == need && crate::glob::glob_match(p, key, false))
    }

    fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels || channel_in(&self.channels, channel, is_pattern)
    }

    /// Key patterns as rules (`~a %R~b`), each followed by a space.
    fn describe_keys(&self, out: &mut String) {
        if self.all_keys {
            out.push_str("~* ");
            return;
        }
        for (p, f) in &self.keys {
            out.push_str(match *f {
                READ => "%R~",
                WRITE => "%W~",
                _ => "~",
            });
            out.push_str(&String::from_utf8_lossy(p));
            out.push(' ');
        }
    }

    /// Command rules as Redis 7.0 rebuilds them from the bits: `+@all`/`-@all`, the
    /// categories that fit best, then single commands and first arguments.
    fn describe_commands(&self) -> String {
        let mut rules = String::new();
        let mut fake = Selector::default();
        let additive = !self.future;
        if additive {
            rules.push_str("-@all ");
            fake.all_off();
        } else {
            rules.push_str("+@all ");
            fake.all_on();
        }
        let mut temp = self.clone();
        let mut applied = vec![false; CATEGORIES.len()];
        loop {
            // The category with the fewest differences, more commands in common breaking
            // ties, as long as it has more in common than different.
            let mut best = None;
            let (mut mindiff, mut maxsame) = (u64::MAX, 0u64);
            for (j, _) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let bit = 1u32 << j;
                let (mut on, mut off) = (0u64, 0u64);
                for (id, cats) in CMD_CATS.iter().enumerate() {
                    if cats & bit != 0 {
                        if temp.allowed[id] {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let bit = 1u32 << j;
            fake.set_category(bit, additive);
            temp.set_category(bit, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(CATEGORIES[j]);
            rules.push(' ');
            applied[j] = true;
        }
        for spec in &COMMANDS.commands {
            self.describe_single(&mut fake, spec, &mut rules);
        }
        rules.pop();
        rules
    }

    fn describe_single(&self, fake: &mut Selector, spec: &CommandSpec, rules: &mut String) {
        let mine = self.allowed[spec.id];
        if mine != fake.allowed[spec.id] {
            rules.push(if mine { '+' } else { '-' });
            rules.push_str(&spec.full_name);
            rules.push(' ');
            fake.change(spec, mine);
        }
        for s in &spec.subcommands {
            self.describe_single(fake, s, rules);
        }
        if !mine {
            if let Some((_, list)) = self.firstargs.iter().find(|(id, _)| *id == spec.id) {
                for a in list {
                    rules.push_str(&format!(
                        "+{}|{} ",
                        spec.full_name,
                        String::from_utf8_lossy(a)
                    ));
                }
            }
        }
    }

    /// The selector as rules (Redis `ACLDescribeSelector`).
    fn describe(&self) -> String {
        let mut out = String::new();
        self.describe_keys(&mut out);
        if self.all_channels {
            out.push_str("&* ");
        } else {
            out.push_str("resetchannels ");
            for c in &self.channels {
                out.push('&');
                out.push_str(&String::from_utf8_lossy(c));
                out.push(' ');
            }
        }
        out.push_str(&self.describe_commands());
        out
    }

    fn keys_field(&self) -> String {
        let mut s = String::new();
        self.describe_keys(&mut s);
        s.pop();
        s
    }

    fn channels_field(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Channels of a command line that ACLs check: (argument index, is a pattern).
fn channels_of(spec: &CommandSpec, argv: &[Bytes]) -> Vec<(usize, bool)> {
    match spec.full_name.as_str() {
        "publish" | "spublish" if argv.len() > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argv.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argv.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// A channel against a list of channel patterns: a subscription pattern must be listed
/// literally, a channel must match one.
fn channel_in(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p.as_slice() == channel
        } else {
            crate::glob::glob_match(p, channel, false)
        }
    })
}

/// One user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Its name.
    pub name: Bytes,
    enabled: bool,
    nopass: bool,
    /// Some(true) = sanitize-payload, Some(false) = skip-sanitize-payload.
    sanitize: Option<bool>,
    /// SHA-256 hex of each password.
    passwords: Vec<String>,
    /// The root selector first.
    selectors: Vec<Selector>,
}

impl User {
    /// A new user: off, no passwords, nothing allowed.
    pub fn new(name: &[u8]) -> User {
        User {
            name: Bytes::copy_from_slice(name),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::default()],
        }
    }

    /// A new user under `acl-pubsub-default allchannels` (`all_channels`) or
    /// `resetchannels`.
    pub fn with_pubsub_default(name: &[u8], all_channels: bool) -> User {
        let mut u = User::new(name);
        u.selectors[0].all_channels = all_channels;
        u
    }

    /// Apply one SETUSER modifier (Redis `ACLSetUser`); selectors come merged (`(a b)`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), OpError> {
        self.apply_op(op, false)
    }

    /// [`User::apply`] under `acl-pubsub-default allchannels` (`all_channels`): new
    /// selectors and `reset` allow every channel.
    pub fn apply_op(&mut self, op: &[u8], all_channels: bool) -> Result<(), OpError> {
        let low = op.to_ascii_lowercase();
        match low.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            b"sanitize-payload" => self.sanitize = Some(true),
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"reset" => {
                for r in [
                    &b"resetpass"[..],
                    b"resetkeys",
                    b"resetchannels",
                    b"off",
                    b"sanitize-payload",
                    b"clearselectors",
                    b"-@all",
                ] {
                    self.apply(r)?;
                }
                if all_channels {
                    self.apply(b"allchannels")?;
                }
            }
            b"clearselectors" => self.selectors.truncate(1),
            _ => match op.first() {
                Some(b'>') | Some(b'#') => {
                    let hash = if op[0] == b'>' {
                        sha256_hex(&op[1..])
                    } else {
                        valid_hash(&op[1..])?
                    };
                    if !self.passwords.contains(&hash) {
                        self.passwords.push(hash);
                    }
                    self.nopass = false;
                }
                Some(b'<') | Some(b'!') => {
                    let hash = if op[0] == b'<' {
                        sha256_hex(&op[1..])
                    } else {
                        valid_hash(&op[1..])?
                    };
                    let i = self
                        .passwords
                        .iter()
                        .position(|p| *p == hash)
                        .ok_or(OpError::NoSuchPassword)?;
                    self.passwords.remove(i);
                }
                Some(b'(') if op.len() >= 2 && op.ends_with(b")") => {
                    let mut s = Selector {
                        all_channels,
                        ..Selector::default()
                    };
                    for part in op[1..op.len() - 1]
                        .split(|c| c.is_ascii_whitespace())
                        .filter(|p| !p.is_empty())
                    {
                        s.apply(part)?;
                    }
                    self.selectors.push(s);
                }
                _ => self.selectors[0].apply(op)?,
            },
        }
        Ok(())
    }

    /// True when nothing is ever refused to it (the dispatcher then skips the check).
    pub fn unrestricted(&self) -> bool {
        self.selectors[0].unrestricted()
    }

    /// Check a command line against every selector (Redis
    /// `ACLCheckAllUserCommandPerm`): allowed if one selector allows it, else the most
    /// relevant refusal.
    pub fn check(&self, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), (Denied, usize)> {
        let mut keys = None;
        let mut worst = (Denied::Command, 0);
        for s in &self.selectors {
            match s.check(spec, argv, &mut keys) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if e.0 > worst.0 || (e.0 == worst.0 && e.1 > worst.1) {
                        worst = e;
                    }
                }
            }
        }
        Err(worst)
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let hash = sha256_hex(pass);
        // Compare every stored hash whole, without stopping early.
        self.passwords
            .iter()
            .fold(false, |ok, p| secret_eq(p.as_bytes(), hash.as_bytes()) | ok)
    }

    fn flag_names(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// The user as one ACL LIST / ACL file line.
    pub fn describe(&self) -> String {
        let mut out = format!("user {}", String::from_utf8_lossy(&self.name));
        for f in self.flag_names() {
            out.push(' ');
            out.push_str(f);
        }
        for p in &self.passwords {
            out.push_str(" #");
            out.push_str(p);
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if i == 0 {
                out.push(' ');
                out.push_str(&s.describe());
            } else {
                out.push_str(&format!(" ({})", s.describe()));
            }
        }
        out
    }

    fn channels_all(&self) -> Vec<&[u8]> {
        self.selectors
            .iter()
            .flat_map(|s| s.channels.iter().map(Vec::as_slice))
            .collect()
    }
}

fn valid_hash(h: &[u8]) -> Result<String, OpError> {
    if h.len() != 64 || !h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(OpError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// Constant-time comparison, so a secret cannot be guessed byte by byte from timing.
pub fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Join `(`…`)` selector arguments spread over several SETUSER arguments (Redis
/// `ACLMergeSelectorArguments`); Err(index) of an unclosed one.
fn merge_selectors(args: &[Bytes]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.ends_with(b")") {
                let (_, sel) = open.take().unwrap_or_default();
                out.push(sel);
            }
            continue;
        }
        if op.first() == Some(&b'(') && !op.ends_with(b")") || op.as_ref() == b"(" {
            open = Some((j, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
struct LogEntry {
    count: u64,
    reason: &'static str,
    context: &'static str,
    object: Bytes,
    username: Bytes,
    ctime_ms: i64,
    client_info: String,
}

/// The users, the ACL LOG, and what the hot path needs to know about the default user.
#[derive(Debug)]
pub struct Acl {
    /// Users by name (sorted, as Redis lists them).
    users: BTreeMap<Bytes, User>,
    /// Newest first.
    log: VecDeque<LogEntry>,
    /// The `requirepass` last applied to the default user.
    applied_requirepass: Option<String>,
    /// A client not yet authenticated must AUTH (the default user has a password or is
    /// off).
    pub auth_required: bool,
    /// `acl-pubsub-default allchannels`: new users and selectors allow every channel.
    pub pubsub_all: bool,
}

impl Default for Acl {
    fn default() -> Self {
        let mut d = User::new(b"default");
        for op in [&b"+@all"[..], b"~*", b"&*", b"on", b"nopass"] {
            let _ = d.apply(op);
        }
        let mut users = BTreeMap::new();
        users.insert(Bytes::from_static(b"default"), d);
        Acl {
            users,
            log: VecDeque::new(),
            applied_requirepass: None,
            auth_required: false,
            pubsub_all: false,
        }
    }
}

/// Redis's grouping window for repeated ACL LOG entries.
const LOG_GROUP_MS: i64 = 60_000;

impl Acl {
    /// Follow the config (startup, CONFIG SET): `acl-pubsub-default`, and `requirepass`,
    /// which replaces the default user's passwords (or makes it `nopass` when empty).
    pub fn configure(&mut self, config: &crate::config::Config) {
        self.pubsub_all = config.get("acl-pubsub-default").as_deref() == Some("allchannels");
        if self.applied_requirepass.as_deref() == Some(config.requirepass.as_str()) {
            return;
        }
        self.applied_requirepass = Some(config.requirepass.clone());
        if let Some(d) = self.users.get_mut(&b"default"[..]) {
            let _ = d.apply(b"resetpass");
            if config.requirepass.is_empty() {
                let _ = d.apply(b"nopass");
            } else {
                let op = [b">", config.requirepass.as_bytes()].concat();
                let _ = d.apply(&op);
            }
        }
        self.refresh_default();
    }

    fn refresh_default(&mut self) {
        self.auth_required = self
            .users
            .get(&b"default"[..])
            .is_none_or(|d| !d.nopass || !d.enabled);
    }

    /// The user named `name`.
    pub fn user(&self, name: &[u8]) -> Option<&User> {
        self.users.get(name)
    }

    /// Whether a new (or RESET) connection starts authenticated as `default`.
    pub fn default_authenticated(&self) -> bool {
        !self.auth_required
    }

    /// Whether `name` is allowed everything (clients of such a user skip the check).
    pub fn unrestricted(&self, name: &[u8]) -> bool {
        self.users.get(name).is_some_and(User::unrestricted)
    }

    /// Check credentials (Redis `ACLCheckUserCredentials`).
    pub fn credentials_ok(&self, user: &[u8], pass: &[u8]) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.enabled && u.password_ok(pass))
    }

    /// Whether the default user is `nopass` (AUTH with one argument needs a password).
    pub fn default_nopass(&self) -> bool {
        self.users.get(&b"default"[..]).is_some_and(|d| d.nopass)
    }

    /// Record a denial, grouping it with a recent equal one (Redis `addACLLogEntry`).
    #[allow(clippy::too_many_arguments)]
    pub fn log_denial(
        &mut self,
        reason: &'static str,
        context: &'static str,
        object: &[u8],
        username: &[u8],
        now_ms: i64,
        client_info: String,
        max_len: usize,
    ) {
        let found = self.log.iter().take(10).position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now_ms - e.ctime_ms <= LOG_GROUP_MS
        });
        if let Some(i) = found {
            if let Some(mut e) = self.log.remove(i) {
                e.count += 1;
                e.ctime_ms = now_ms;
                e.client_info = client_info;
                self.log.push_front(e);
            }
            return;
        }
        self.log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object: Bytes::copy_from_slice(object),
            username: Bytes::copy_from_slice(username),
            ctime_ms: now_ms,
            client_info,
        });
        self.log.truncate(max_len);
    }
}

// ---------------------------------------------------------------------------------------
// Enforcement (called by dispatch, scripts, AUTH)

/// The NOPERM text a client gets (Redis 7.0 `processCommand`).
fn noperm_text(kind: Denied, spec: &CommandSpec) -> String {
    match kind {
        Denied::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            spec.full_name
        ),
        Denied::Key => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    }
}

/// Where a denial happened (ACL LOG `context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// A command sent by the client.
    Toplevel,
    /// Queued in MULTI, or run by EXEC.
    Multi,
    /// redis.call / redis.pcall.
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

fn acllog_max_len(x: &Exec<'_>) -> usize {
    x.st.config
        .get("acllog-max-len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// Check the calling client's user for `argv` (resolved to `spec`); on a denial log it
/// and return what refused it.
pub fn check(
    x: &mut Exec<'_>,
    spec: &CommandSpec,
    argv: &[Bytes],
    context: Context,
) -> Result<(), (Denied, usize)> {
    let user_name = x.client().user.clone();
    let verdict = match x.st.acl.users.get(&user_name) {
        Some(u) => u.check(spec, argv),
        None => Err((Denied::Command, 0)),
    };
    let Err((kind, pos)) = verdict else {
        return Ok(());
    };
    let object = match kind {
        Denied::Command => Bytes::from(spec.full_name.clone()),
        _ => argv.get(pos).cloned().unwrap_or_default(),
    };
    let reason = match kind {
        Denied::Command => "command",
        Denied::Key => "key",
        Denied::Channel => "channel",
    };
    let now = x.now_ms;
    let name = COMMANDS.name_of(spec.id);
    if context != Context::Lua {
        x.client().last_cmd = name;
    }
    let info = super::connection::own_info_line(x);
    let max = acllog_max_len(x);
    x.st.acl
        .log_denial(reason, context.name(), &object, &user_name, now, info, max);
    Err((kind, pos))
}

/// The dispatcher's check for a client whose user is restricted: the NOPERM error (the
/// EXEC-time text inside EXEC), or Ok.
pub fn admit(x: &mut Exec<'_>, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), CmdError> {
    let context = if x.in_exec || x.client().multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    match check(x, spec, argv, context) {
        Ok(()) => Ok(()),
        Err((kind, _)) if x.in_exec => {
            let why = match kind {
                Denied::Command => "no permission to execute the command or subcommand",
                Denied::Key => "no permission to touch the specified keys",
                Denied::Channel => "no permission to access one of the channels used as arguments",
            };
            Err(CmdError::Raw(format!(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {why}"
            )))
        }
        Err((kind, _)) => Err(CmdError::Raw(noperm_text(kind, spec))),
    }
}

/// The check for redis.call / redis.pcall: the error text a script gets.
pub fn admit_script(x: &mut Exec<'_>, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), String> {
    if x.client().acl_free {
        return Ok(());
    }
    check(x, spec, argv, Context::Lua).map_err(|(kind, _)| {
        match kind {
            Denied::Command => "ERR The user executing the script can't run this command or subcommand",
            Denied::Key => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
            Denied::Channel => "ERR The user executing the script can't publish to the channel mentioned in the command",
        }
        .to_string()
    })
}

/// `redis.acl_check_cmd`: None for an unknown command, else whether the calling client's
/// user may run it (nothing is logged).
pub fn may_run(x: &mut Exec<'_>, argv: &[Bytes]) -> Option<bool> {
    let spec = lookup_argv(argv)?;
    let name = x.client().user.clone();
    Some(
        x.st.acl
            .users
            .get(&name)
            .is_some_and(|u| u.check(spec, argv).is_ok()),
    )
}

/// Whether the calling client's user may read every key with this command (Redis
/// `ACLUserCheckCmdWithUnrestrictedKeyAccess`): SORT's BY and GET read keys no ACL check
/// sees, so Redis allows them only then.
pub fn full_key_read(x: &mut Exec<'_>, argv: &[Bytes]) -> bool {
    if x.caller != super::Caller::Client || x.client().acl_free {
        return true;
    }
    let name = x.client().user.clone();
    let (Some(spec), Some(u)) = (lookup_argv(argv), x.st.acl.users.get(&name)) else {
        return false;
    };
    let mut keys = None;
    u.selectors.iter().any(|s| {
        s.check(spec, argv, &mut keys).is_ok()
            && (s.all_keys || s.keys.iter().any(|(p, f)| f & READ != 0 && p == b"*"))
    })
}

/// Redis `lookupCommand`: the command, or its subcommand when it has them and one is
/// given (an unknown subcommand is no command); arity is not checked.
fn lookup_argv(argv: &[Bytes]) -> Option<&'static CommandSpec> {
    let registry: &'static super::Registry = &COMMANDS;
    let base = registry.get(argv.first()?)?;
    if base.subcommands.is_empty() || argv.len() < 2 {
        return Some(base);
    }
    base.subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(&argv[1]))
}

/// AUTH / HELLO AUTH: authenticate the calling client as `user`, or log the failure
/// (reason `auth`, object the command name as sent) and return false.
pub fn authenticate(x: &mut Exec<'_>, command: &[u8], user: &[u8], pass: &[u8]) -> bool {
    if x.st.acl.credentials_ok(user, pass) {
        let free = x.st.acl.unrestricted(user);
        let c = x.client();
        c.authenticated = true;
        c.user = Bytes::copy_from_slice(user);
        c.acl_free = free;
        return true;
    }
    let context = if x.client().multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let now = x.now_ms;
    let info = super::connection::own_info_line(x);
    let max = acllog_max_len(x);
    x.st.acl
        .log_denial("auth", context.name(), command, user, now, info, max);
    false
}

/// Back to the default user (RESET): authenticated only if it needs no password.
pub fn reset_client(x: &mut Exec<'_>) {
    let auth = x.st.acl.default_authenticated();
    let free = x.st.acl.unrestricted(b"default");
    let c = x.client();
    c.user = Bytes::from_static(b"default");
    c.authenticated = auth;
    c.acl_free = free;
}

/// After a user changed: refresh its clients' fast-path flag.
fn refresh_clients(x: &mut Exec<'_>, name: &[u8]) {
    let free = x.st.acl.unrestricted(name);
    for c in x.st.clients.map.values_mut() {
        if c.user == name {
            c.acl_free = free;
        }
    }
    if name == b"default" {
        x.st.acl.refresh_default();
    }
}

/// Disconnect the clients of `name` that `keep` rejects (the calling client after its
/// reply).
fn kill_clients(x: &mut Exec<'_>, name: &[u8], keep: impl Fn(&super::Client) -> bool) {
    let me = x.client_id;
    for c in x.st.clients.map.values_mut() {
        if c.user != name || keep(c) {
            continue;
        }
        c.acl_free = false;
        c.authenticated = false;
        if c.id == me {
            c.close_after_reply = true;
        } else if let Some(k) = &c.kill {
            k();
        }
    }
}

// ---------------------------------------------------------------------------------------
// ACL subcommands

fn acl_whoami(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::bulk(&x.client().user.clone()))
}

fn acl_users(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        x.st.acl.users.keys().map(|n| Reply::bulk(n)).collect(),
    ))
}

fn acl_list(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        x.st.acl
            .users
            .values()
            .map(|u| Reply::bulk_string(u.describe()))
            .collect(),
    ))
}

fn acl_getuser(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(u) = x.st.acl.users.get(&a[2]) else {
        return Ok(Reply::Null);
    };
    let field = |s: &str| Reply::bulk(s.as_bytes());
    let root = &u.selectors[0];
    let selectors = u.selectors[1..]
        .iter()
        .map(|s| {
            Reply::Map(vec![
                (field("commands"), Reply::bulk_string(s.describe_commands())),
                (field("keys"), Reply::bulk_string(s.keys_field())),
                (field("channels"), Reply::bulk_string(s.channels_field())),
            ])
        })
        .collect();
    Ok(Reply::Map(vec![
        (
            field("flags"),
            Reply::Set(u.flag_names().into_iter().map(field).collect()),
        ),
        (
            field("passwords"),
            Reply::Array(u.passwords.iter().map(|p| field(p)).collect()),
        ),
        (
            field("commands"),
            Reply::bulk_string(root.describe_commands()),
        ),
        (field("keys"), Reply::bulk_string(root.keys_field())),
        (field("channels"), Reply::bulk_string(root.channels_field())),
        (field("selectors"), Reply::Array(selectors)),
    ]))
}

fn acl_setuser(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let name = &a[2];
    if name.iter().any(|&c| c == b' ' || c == b'\0') {
        return Err(CmdError::err(
            "Usernames can't contain spaces or null characters",
        ));
    }
    let ops = merge_selectors(&a[3..]).map_err(|j| {
        CmdError::err(format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            lossy(&a[3 + j])
        ))
    })?;
    let old = x.st.acl.users.get(name).cloned();
    let all = x.st.acl.pubsub_all;
    let mut user = old
        .clone()
        .unwrap_or_else(|| User::with_pubsub_default(name, all));
    for op in &ops {
        user.apply_op(op, all).map_err(|e| {
            CmdError::err(format!(
                "Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(op),
                e.text()
            ))
        })?;
    }
    let revoked = old
        .as_ref()
        .is_some_and(|o| channels_revoked(&user, o, !pubsub_empty(x)));
    x.st.acl.users.insert(name.clone(), user.clone());
    refresh_clients(x, name);
    if revoked {
        let upcoming: Vec<Vec<u8>> = user
            .channels_all()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        kill_clients(x, name, |c| {
            c.patterns.iter().all(|p| channel_in(&upcoming, p, true))
                && c.channels.iter().all(|ch| channel_in(&upcoming, ch, false))
                && c.shard_channels
                    .iter()
                    .all(|ch| channel_in(&upcoming, ch, false))
        });
    }
    Ok(Reply::ok())
}

/// Whether the new rules may refuse a channel the old ones allowed (Redis
/// `ACLKillPubsubClientsIfNeeded`'s shortcuts): never when some selector allows all
/// channels or every old pattern is still listed.
fn channels_revoked(new: &User, old: &User, any_subscribers: bool) -> bool {
    if !any_subscribers || new.selectors.iter().any(|s| s.all_channels) {
        return false;
    }
    if old.selectors.iter().any(|s| s.all_channels) {
        return true;
    }
    let upcoming = new.channels_all();
    !old.channels_all().iter().all(|p| upcoming.contains(p))
}

fn pubsub_empty(x: &Exec<'_>) -> bool {
    let p = &x.st.pubsub;
    p.channels.is_empty() && p.patterns.is_empty() && p.shard_channels.is_empty()
}

fn acl_deluser(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a[2..].iter().any(|u| &u[..] == b"default") {
        return Err(CmdError::err("The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for name in &a[2..] {
        if x.st.acl.users.remove(name).is_some() {
            deleted += 1;
            kill_clients(x, name, |_| false);
        }
    }
    Ok(Reply::Int(deleted))
}

fn acl_cat(_x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    match a.len() {
        2 => Ok(Reply::Array(
            CATEGORIES
                .iter()
                .map(|c| Reply::bulk(c.as_bytes()))
                .collect(),
        )),
        3 => {
            let bit = category_bit(&a[2])
                .ok_or_else(|| CmdError::err(format!("Unknown category '{}'", lossy(&a[2]))))?;
            let registry: &'static super::Registry = &COMMANDS;
            Ok(Reply::Array(
                registry
                    .all()
                    .filter(|s| CMD_CATS.get(s.id).is_some_and(|c| c & bit != 0))
                    .map(|s| Reply::bulk(s.full_name.as_bytes()))
                    .collect(),
            ))
        }
        _ => Err(CmdError::bad_subcommand(&a[1], "ACL")),
    }
}

fn acl_log(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let count = match a.len() {
        2 => 10,
        3 if is(&a[2], "reset") => {
            x.st.acl.log.clear();
            return Ok(Reply::ok());
        }
        3 => arg_i64(&a[2])?.max(0),
        _ => return Err(CmdError::bad_subcommand(&a[1], "ACL")),
    };
    let now = x.now_ms;
    let field = |s: &str| Reply::bulk(s.as_bytes());
    let entries =
        x.st.acl
            .log
            .iter()
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .map(|e| {
                #[allow(clippy::cast_precision_loss)]
                let age = (now - e.ctime_ms).max(0) as f64 / 1000.0;
                // (Shortest form, as Redis prints it: 0.003, not 0.0030000000000000001.)
                Reply::Map(vec![
                    (
                        field("count"),
                        Reply::Int(i64::try_from(e.count).unwrap_or(i64::MAX)),
                    ),
                    (field("reason"), field(e.reason)),
                    (field("context"), field(e.context)),
                    (field("object"), Reply::bulk(&e.object)),
                    (field("username"), Reply::bulk(&e.username)),
                    (field("age-seconds"), Reply::DoubleText(format!("{age}"))),
                    (
                        field("client-info"),
                        Reply::bulk_string(e.client_info.clone()),
                    ),
                ])
            })
            .collect();
    Ok(Reply::Array(entries))
}

fn acl_dryrun(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(user) = x.st.acl.users.get(&a[2]) else {
        return Err(CmdError::err(format!("User '{}' not found", lossy(&a[2]))));
    };
    let argv = &a[3..];
    let Some(spec) = lookup_argv(argv) else {
        return Err(CmdError::err(format!(
            "Command '{}' not found",
            lossy(&a[3])
        )));
    };
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{}' command",
            spec.full_name
        )));
    }
    Ok(match user.check(spec, argv) {
        Ok(()) => Reply::ok(),
        Err((kind, pos)) => {
            let what = lossy(&argv[pos]);
            Reply::bulk_string(match kind {
                Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    spec.full_name
                ),
                Denied::Key => format!("This user has no permissions to access the '{what}' key"),
                Denied::Channel => {
                    format!("This user has no permissions to access the '{what}' channel")
                }
            })
        }
    })
}

fn acl_genpass(_x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let bits = match a.get(2) {
        None => 256,
        Some(b) => {
            let n = arg_i64(b)?;
            if !(1..=4096).contains(&n) {
                return Err(CmdError::err(
                    "ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
                ));
            }
            n
        }
    };
    let chars = usize::try_from((bits + 3) / 4).unwrap_or(64);
    let mut out = String::with_capacity(chars + 16);
    let mut buf = [0u8; 32];
    while out.len() < chars {
        getrandom_fill(&mut buf);
        for b in buf {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out.truncate(chars);
    Ok(Reply::bulk_string(out))
}

const NO_ACL_FILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// The `aclfile` directive: its name as configured and its path (relative to `dir`).
fn acl_file(config: &crate::config::Config) -> Option<(String, std::path::PathBuf)> {
    let name = config.get("aclfile").filter(|f| !f.is_empty())?;
    let path = std::path::Path::new(&name);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        config.dir.join(path)
    };
    Some((name, path))
}

/// Read an ACL file into a user table (Redis `ACLLoadFromFile`): every line `user <name>
/// <rule> ...` (blank lines skipped; 7.0 has no comments); Err(the errors found).
fn parse_acl_file(
    name: &str,
    text: &str,
    pubsub_all: bool,
) -> Result<BTreeMap<Bytes, User>, String> {
    let mut users: BTreeMap<Bytes, User> = BTreeMap::new();
    let mut errors = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = line.trim_matches([' ', '\t', '\r', '\n']);
        if line.is_empty() {
            continue;
        }
        // (A line with unbalanced quotes is skipped, as Redis 7.0.15 does.)
        let Some(argv) = crate::resp::decode::split_args(line.as_bytes()) else {
            continue;
        };
        let argv: Vec<Bytes> = argv.into_iter().map(Bytes::from).collect();
        if argv.is_empty() {
            continue;
        }
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{name}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let uname = &argv[1];
        if uname.iter().any(|&c| c == b' ' || c == b'\0') {
            errors.push_str(&format!(
                "'{name}:{n}: username '{}' contains invalid characters. ",
                lossy(uname)
            ));
            continue;
        }
        if users.contains_key(uname) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {n}. ",
                lossy(uname)
            ));
            continue;
        }
        let Ok(ops) = merge_selectors(&argv[2..]) else {
            errors.push_str(&format!(
                "{name}:{n}: Unmatched parenthesis in selector definition."
            ));
            continue;
        };
        let mut user = User::with_pubsub_default(uname, pubsub_all);
        let mut syntax_error = false;
        for op in &ops {
            let op = String::from_utf8_lossy(op);
            let op = op.trim_matches(['\t', '\r', '\n']);
            match user.apply_op(op.as_bytes(), pubsub_all) {
                Ok(()) => {}
                Err(OpError::UnknownCommand) => errors.push_str(&format!(
                    "{name}:{n}: Error in applying operation '{op}': {}. ",
                    OpError::UnknownCommand.text()
                )),
                Err(e) if !syntax_error => {
                    errors.push_str(&format!("{name}:{n}: {}. ", e.text()));
                    syntax_error = true;
                }
                Err(_) => {}
            }
        }
        users.insert(uname.clone(), user);
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    // A file without the default user gets a fresh one (everything allowed, no password).
    if !users.contains_key(&b"default"[..]) {
        let d = Acl::default().users.remove(&b"default"[..]);
        users.extend(d.map(|d| (Bytes::from_static(b"default"), d)));
    }
    Ok(users)
}

impl Acl {
    /// Replace the users with the file's (ACL LOAD, startup).
    fn load_file(&mut self, name: &str, path: &std::path::Path) -> Result<(), String> {
        let text = std::fs::read(path).map_err(|e| {
            // strerror's text, without Rust's "(os error N)".
            let why = e.to_string();
            let why = why.split(" (os error").next().unwrap_or_default();
            format!("Error loading ACLs, opening file '{name}': {why}")
        })?;
        self.users = parse_acl_file(name, &String::from_utf8_lossy(&text), self.pubsub_all)?;
        self.refresh_default();
        Ok(())
    }
}

/// Create the users the config declares (`user` lines), or load the `aclfile`, into a
/// fresh state (server startup; Redis refuses both at once).
pub fn load_at_startup(st: &mut super::State) -> Result<(), String> {
    let file = acl_file(&st.config);
    if !st.config.users.is_empty() {
        if file.is_some() {
            return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
        }
        let lines = st.config.users.clone();
        return st.acl.load_config_users(&lines);
    }
    match file {
        Some((name, path)) => st.acl.load_file(&name, &path),
        None => Ok(()),
    }
}

impl Acl {
    /// The config's `user` lines (Redis `ACLLoadConfiguredUsers`): the default user, when
    /// declared, is reset first; a rule that fails stops startup.
    fn load_config_users(&mut self, lines: &[String]) -> Result<(), String> {
        let mut declared: Vec<Bytes> = Vec::new();
        for line in lines {
            let argv = crate::resp::decode::split_args(line.as_bytes())
                .ok_or_else(|| format!("Error in user declaration '{line}': unbalanced quotes"))?;
            let Some((name, rules)) = argv.split_first() else {
                return Err("Error in user declaration: a user name is needed".into());
            };
            let name = Bytes::copy_from_slice(name);
            if name.iter().any(|&c| c == b' ' || c == b'\0') {
                return Err("Spaces not allowed in ACL usernames".into());
            }
            if declared.contains(&name) {
                return Err(format!(
                    "Error in user declaration '{}': {}",
                    lossy(&name),
                    "Duplicate user found. A user can only be defined once in config files"
                ));
            }
            declared.push(name.clone());
            let mut user = match self.users.remove(&name) {
                Some(mut d) => {
                    let _ = d.apply(b"reset");
                    d
                }
                None => User::with_pubsub_default(&name, self.pubsub_all),
            };
            let rules: Vec<Bytes> = rules.iter().map(|r| Bytes::copy_from_slice(r)).collect();
            let ops = merge_selectors(&rules).map_err(|_| {
                format!(
                    "Unmatched parenthesis in acl selector of the user named '{}'",
                    lossy(&name)
                )
            })?;
            for op in &ops {
                user.apply_op(op, self.pubsub_all).map_err(|e| {
                    format!(
                        "Error loading ACL rule '{}' for the user named '{}': {}",
                        String::from_utf8_lossy(op),
                        lossy(&name),
                        e.text()
                    )
                })?;
            }
            self.users.insert(name, user);
        }
        self.refresh_default();
        Ok(())
    }
}

fn acl_save(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some((_, path)) = acl_file(&x.st.config) else {
        return Err(CmdError::err(NO_ACL_FILE));
    };
    let mut text = String::new();
    for u in x.st.acl.users.values() {
        text.push_str(&u.describe());
        text.push('\n');
    }
    // Written aside, synced, then renamed over the file: never half a file.
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        super::server::sync_parent_dir(&path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return Err(CmdError::err(
            "There was an error trying to save the ACLs. Please check the server logs for more information",
        ));
    }
    Ok(Reply::ok())
}

fn acl_load(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some((name, path)) = acl_file(&x.st.config) else {
        return Err(CmdError::err(NO_ACL_FILE));
    };
    x.st.acl.load_file(&name, &path).map_err(CmdError::err)?;
    // Every user but `default` is a new user now: Redis disconnects the old ones' clients.
    let names: Vec<Bytes> =
        x.st.clients
            .map
            .values()
            .map(|c| c.user.clone())
            .filter(|u| u != "default")
            .collect();
    for n in names {
        kill_clients(x, &n, |_| false);
    }
    refresh_clients(x, b"default");
    Ok(Reply::ok())
}

fn acl_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Fill `buf` from the kernel's random source (ACL GENPASS, replication ids).
pub fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf));
    if ok.is_err() {
        // No /dev/urandom: fall back to the clock and a counter mixed (never fails).
        let mut z = u64::try_from(crate::clock::now_us()).unwrap_or(0);
        for b in buf.iter_mut() {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut v = z;
            v = (v ^ (v >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            v = (v ^ (v >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *b = (v ^ (v >> 31)).to_le_bytes()[0];
        }
    }
}

/// SHA-256 (FIPS 180-4) of `data`, lowercase hex: how ACL LIST/GETUSER show a password.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend((0..8).rev().map(|i| (bit_len >> (8 * i)) as u8));
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = word.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(v);
        }
    }
    h.iter().map(|v| format!("{v:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // What redis-server 7.0 lists for `requirepass foo`.
        assert_eq!(
            sha256_hex(b"foo"),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
        assert_eq!(
            sha256_hex(&[b'a'; 1000]),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
