//! COMMAND and its subcommands (COUNT, INFO, LIST, GETKEYS, GETKEYSANDFLAGS, DOCS, HELP):
//! the command table described to clients, in Redis 7.0's reply shapes. Everything here is
//! read from the one table (`COMMANDS`): names, arity, flags, key positions, group, ACL
//! categories, and the metadata the registry attached to each command (`cmdmeta`: key
//! specs, tips, docs with argument trees); nothing is declared twice. Keys for GETKEYS are
//! found as Redis finds them (`cmdmeta::keys_of`).

use bytes::Bytes;

use super::cmdmeta::{self, Arg, Begin, Find, KeyFlags, KeySpecMeta};
use super::exec::{is, Exec};
use super::registry::COMMANDS;
use super::server::help_reply;
use super::{cmd, CmdError, CommandSpec, Flags, Group};
use crate::glob::glob_match;
use crate::resp::Reply;

/// Register COMMAND.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Server;
    let f = F::LOADING | F::STALE;
    let conn: &'static [&'static str] = &["connection"];
    let subs = vec![
        cmd("count", 2, f, count)
            .group(g)
            .acl(conn)
            .doc("Get total number of Redis commands", "2.8.13"),
        cmd("info", -2, f, info).group(g).acl(conn).doc(
            "Get array of specific Redis command details, or all when no argument is given.",
            "2.8.13",
        ),
        cmd("list", -2, f, list)
            .group(g)
            .acl(conn)
            .doc("Get an array of Redis command names", "7.0.0"),
        cmd("getkeys", -4, f, getkeys)
            .group(g)
            .acl(conn)
            .doc("Extract keys given a full Redis command", "2.8.13"),
        cmd("getkeysandflags", -4, f, getkeysandflags)
            .group(g)
            .acl(conn)
            .doc(
                "Extract keys and access flags given a full Redis command",
                "7.0.0",
            ),
        cmd("docs", -2, f, docs)
            .group(g)
            .acl(conn)
            .doc("Get array of specific Redis command documentation", "7.0.0"),
        cmd("help", 2, f, help)
            .group(g)
            .acl(conn)
            .doc("Show helpful text about the different subcommands", "5.0.0"),
    ];
    let mut c = cmd("command", -1, f, all)
        .group(g)
        .acl(conn)
        .doc("Get array of Redis command details", "2.8.13");
    c.subcommands = subs;
    t.push(c);
}

/// Flag names in the order COMMAND INFO lists them (MAY_REPLICATE and SENTINEL are
/// hidden, as in Redis; `movablekeys` is declared per command, as its keys follow `numkeys`).
const FLAG_NAMES: &[(Flags, &str)] = &[
    (Flags::WRITE, "write"),
    (Flags::READONLY, "readonly"),
    (Flags::DENYOOM, "denyoom"),
    (Flags::ADMIN, "admin"),
    (Flags::PUBSUB, "pubsub"),
    (Flags::NOSCRIPT, "noscript"),
    (Flags::BLOCKING, "blocking"),
    (Flags::LOADING, "loading"),
    (Flags::STALE, "stale"),
    (Flags::SKIP_MONITOR, "skip_monitor"),
    (Flags::SKIP_SLOWLOG, "skip_slowlog"),
    (Flags::ASKING, "asking"),
    (Flags::FAST, "fast"),
    (Flags::NO_AUTH, "no_auth"),
    (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (Flags::NO_ASYNC_LOADING, "no_async_loading"),
    (Flags::NO_MULTI, "no_multi"),
    (Flags::ALLOW_BUSY, "allow_busy"),
    (Flags::MOVABLE_KEYS, "movablekeys"),
];

/// ACL categories in Redis's order.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The category a group implies when a command declares none.
fn group_category(g: Group) -> Option<&'static str> {
    match g.name() {
        "generic" => Some("keyspace"),
        "sorted_set" | "sorted-set" => Some("sortedset"),
        "transactions" => Some("transaction"),
        "server" | "cluster" | "sentinel" => None,
        other => CATEGORIES.iter().copied().find(|c| *c == other),
    }
}

/// A spec's ACL categories (without `@`): declared or group-derived, plus those its flags
/// imply (Redis `setImplicitACLCategories`). A pure container gets only the implied ones.
pub fn categories(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Vec<&'static str> {
    let mut cats: Vec<&'static str> = spec.acl.to_vec();
    if cats.is_empty() && spec.handler.is_some() {
        cats.extend(group_category(parent.map_or(spec.group, |p| p.group)));
    }
    let f = spec.flags;
    let implied = [
        (f.contains(Flags::WRITE), "write"),
        (
            f.contains(Flags::READONLY) && !cats.contains(&"scripting"),
            "read",
        ),
        (f.contains(Flags::ADMIN), "admin"),
        (f.contains(Flags::ADMIN), "dangerous"),
        (f.contains(Flags::PUBSUB), "pubsub"),
        (f.contains(Flags::FAST), "fast"),
        (f.contains(Flags::BLOCKING), "blocking"),
        (!f.contains(Flags::FAST) && !cats.contains(&"fast"), "slow"),
    ];
    cats.extend(implied.iter().filter(|(on, _)| *on).map(|(_, c)| *c));
    CATEGORIES
        .iter()
        .copied()
        .filter(|c| cats.contains(c))
        .collect()
}

fn set_of(items: Vec<Reply>) -> Reply {
    Reply::Set(items)
}

/// One COMMAND INFO entry: name, arity, flags, first, last, step, ACL categories, tips,
/// key specs, subcommands.
fn describe(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let flags = FLAG_NAMES
        .iter()
        .filter(|(f, _)| spec.flags.contains(*f))
        .map(|(_, n)| Reply::Simple((*n).into()))
        .collect();
    let cats = categories(spec, parent)
        .into_iter()
        .map(|c| Reply::Simple(format!("@{c}")))
        .collect();
    let subs: Vec<Reply> = spec
        .subcommands
        .iter()
        .map(|s| describe(s, Some(spec)))
        .collect();
    let (tips, specs) = spec
        .meta
        .map_or((&[][..], &[][..]), |m| (m.tips, m.key_specs));
    Reply::Array(vec![
        Reply::bulk(spec.full_name.as_bytes()),
        Reply::Int(i64::from(spec.arity)),
        set_of(flags),
        Reply::Int(i64::from(spec.keys.first)),
        Reply::Int(i64::from(spec.keys.last)),
        Reply::Int(i64::from(spec.keys.step)),
        set_of(cats),
        set_of(tips.iter().map(|t| Reply::bulk(t.as_bytes())).collect()),
        set_of(specs.iter().map(key_spec).collect()),
        // Redis replies an empty set for no subcommands, else an array.
        if subs.is_empty() {
            set_of(subs)
        } else {
            Reply::Array(subs)
        },
    ])
}

fn bs(s: &str) -> Reply {
    Reply::bulk(s.as_bytes())
}

fn int(n: i32) -> Reply {
    Reply::Int(i64::from(n))
}

fn key_flags(f: KeyFlags) -> Reply {
    set_of(
        f.names()
            .into_iter()
            .map(|n| Reply::Simple(n.into()))
            .collect(),
    )
}

/// One key specification as COMMAND INFO shows it.
fn key_spec(k: &KeySpecMeta) -> Reply {
    let typed = |t: &str, spec: Vec<(Reply, Reply)>| {
        Reply::Map(vec![(bs("type"), bs(t)), (bs("spec"), Reply::Map(spec))])
    };
    let begin = match k.begin {
        Begin::Index(i) => typed("index", vec![(bs("index"), int(i))]),
        Begin::Keyword(kw, from) => typed(
            "keyword",
            vec![(bs("keyword"), bs(kw)), (bs("startfrom"), int(from))],
        ),
        Begin::Unknown => typed("unknown", Vec::new()),
    };
    let find = match k.find {
        Find::Range {
            lastkey,
            keystep,
            limit,
        } => typed(
            "range",
            vec![
                (bs("lastkey"), int(lastkey)),
                (bs("keystep"), int(keystep)),
                (bs("limit"), int(limit)),
            ],
        ),
        Find::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => typed(
            "keynum",
            vec![
                (bs("keynumidx"), int(keynumidx)),
                (bs("firstkey"), int(firstkey)),
                (bs("keystep"), int(keystep)),
            ],
        ),
        Find::Unknown => typed("unknown", Vec::new()),
    };
    let mut m = Vec::with_capacity(4);
    if !k.notes.is_empty() {
        m.push((bs("notes"), bs(k.notes)));
    }
    m.push((bs("flags"), key_flags(k.flags)));
    m.push((bs("begin_search"), begin));
    m.push((bs("find_keys"), find));
    Reply::Map(m)
}

/// Resolve a name as COMMAND INFO/DOCS take it: `get`, `config|get` (any case), a
/// command by the name `rename-command` gave it (not by its old one), as Redis.
fn find(
    renames: &super::registry::Renames,
    name: &[u8],
) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    let mut parts = name.splitn(2, |&c| c == b'|');
    let called = parts.next()?;
    let top = match renames.resolve(called) {
        super::registry::Renamed::Same => COMMANDS.get(called)?,
        super::registry::Renamed::To(own) => COMMANDS.get(own.as_bytes())?,
        super::registry::Renamed::Gone => return None,
    };
    match parts.next() {
        None => Some((top, None)),
        Some(sub) => top
            .subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub))
            .map(|s| (s, Some(top))),
    }
}

fn all(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        COMMANDS
            .commands
            .iter()
            .map(|c| describe(c, None))
            .collect(),
    ))
}

fn count(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        i64::try_from(COMMANDS.commands.len()).unwrap_or(i64::MAX),
    ))
}

fn info(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() == 2 {
        return all(x, a);
    }
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|n| find(&x.st.renames, n).map_or(Reply::Null, |(s, p)| describe(s, p)))
            .collect(),
    ))
}

/// Every spec with its parent, commands first then each one's subcommands.
fn every() -> impl Iterator<Item = (&'static CommandSpec, Option<&'static CommandSpec>)> {
    COMMANDS.commands.iter().flat_map(|c| {
        std::iter::once((c, None)).chain(c.subcommands.iter().map(move |s| (s, Some(c))))
    })
}

fn list(_x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let names = |keep: &dyn Fn(&CommandSpec, Option<&CommandSpec>) -> bool| {
        Reply::Array(
            every()
                .filter(|(s, p)| keep(s, *p))
                .map(|(s, _)| Reply::bulk(s.full_name.as_bytes()))
                .collect(),
        )
    };
    if a.len() == 2 {
        return Ok(names(&|_, _| true));
    }
    if a.len() != 5 || !is(&a[2], "filterby") {
        return Err(CmdError::Syntax);
    }
    let arg = &a[4];
    if is(&a[3], "module") {
        Ok(Reply::Array(Vec::new()))
    } else if is(&a[3], "aclcat") {
        Ok(names(&|s, p| categories(s, p).iter().any(|c| is(arg, c))))
    } else if is(&a[3], "pattern") {
        Ok(names(&|s, _| glob_match(arg, s.full_name.as_bytes(), true)))
    } else {
        Err(CmdError::Syntax)
    }
}

fn getkeys(_x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    keys_reply(a, false)
}

fn getkeysandflags(_x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    keys_reply(a, true)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the keys of the command line after the subcommand,
/// found as Redis finds them (key specs, else the command's key finder).
fn keys_reply(a: &[Bytes], with_flags: bool) -> Result<Reply, CmdError> {
    let argv = &a[2..];
    let spec = COMMANDS
        .lookup(argv)
        .map_err(|_| CmdError::err("Invalid command specified"))?;
    let meta = spec.meta.unwrap_or(&cmdmeta::M);
    if !cmdmeta::has_keys(&spec.full_name, meta) {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = cmdmeta::keys_of(&spec.full_name, meta, argv);
    if keys.is_empty() {
        if spec.flags.contains(Flags::NO_MANDATORY_KEYS) {
            return Ok(Reply::Array(Vec::new()));
        }
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|k| {
                let key = Reply::bulk(&argv[k.pos]);
                if with_flags {
                    Reply::Array(vec![key, key_flags(k.flags)])
                } else {
                    key
                }
            })
            .collect(),
    ))
}

/// One COMMAND DOCS entry, in Redis's field order: summary, since, group, complexity,
/// doc_flags, deprecated_since, replaced_by, history, arguments, subcommands.
fn doc(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let group = parent.map_or(spec.group, |p| p.group).name();
    let meta = spec.meta.copied().unwrap_or(cmdmeta::CommandMeta {
        summary: spec.summary,
        since: spec.since,
        group,
        ..cmdmeta::M
    });
    let mut m = Vec::new();
    let mut text = |k: &str, v: &str| {
        if !v.is_empty() {
            m.push((bs(k), bs(v)));
        }
    };
    text("summary", meta.summary);
    text("since", meta.since);
    text("group", meta.group);
    text("complexity", meta.complexity);
    if !meta.doc_flags.is_empty() {
        let f = meta.doc_flags.iter().map(|f| Reply::Simple((*f).into()));
        m.push((bs("doc_flags"), set_of(f.collect())));
    }
    let mut text = |k: &str, v: &str| {
        if !v.is_empty() {
            m.push((bs(k), bs(v)));
        }
    };
    text("deprecated_since", meta.deprecated_since);
    text("replaced_by", meta.replaced_by);
    if !meta.history.is_empty() {
        let h = meta
            .history
            .iter()
            .map(|(v, what)| Reply::Array(vec![bs(v), bs(what)]));
        m.push((bs("history"), set_of(h.collect())));
    }
    if !meta.args.is_empty() {
        m.push((bs("arguments"), args_doc(meta.args)));
    }
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| (bs(&s.full_name), doc(s, Some(spec))))
            .collect();
        m.push((bs("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(m)
}

/// A documented argument list: each argument's name, type, key_spec_index, token, summary,
/// since, deprecated_since, flags and nested arguments.
fn args_doc(args: &[Arg]) -> Reply {
    Reply::Array(
        args.iter()
            .map(|a| {
                let mut m = vec![(bs("name"), bs(a.name)), (bs("type"), bs(a.kind.name()))];
                if a.key_spec >= 0 {
                    m.push((bs("key_spec_index"), int(a.key_spec)));
                }
                for (k, v) in [
                    ("token", a.token),
                    ("summary", a.summary),
                    ("since", a.since),
                    ("deprecated_since", a.deprecated_since),
                ] {
                    // A pure token is shown even when empty (MIGRATE's "" key).
                    let pure = k == "token" && matches!(a.kind, cmdmeta::ArgType::PureToken);
                    if !v.is_empty() || pure {
                        m.push((bs(k), bs(v)));
                    }
                }
                if a.flags != 0 {
                    let f = [
                        (cmdmeta::OPT, "optional"),
                        (cmdmeta::MULTI, "multiple"),
                        (cmdmeta::MULTI_TOKEN, "multiple_token"),
                    ]
                    .iter()
                    .filter(|(bit, _)| a.flags & bit != 0)
                    .map(|(_, n)| Reply::Simple((*n).into()))
                    .collect();
                    m.push((bs("flags"), set_of(f)));
                }
                if !a.args.is_empty() {
                    m.push((bs("arguments"), args_doc(a.args)));
                }
                Reply::Map(m)
            })
            .collect(),
    )
}

fn docs(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let entries = if a.len() == 2 {
        COMMANDS
            .commands
            .iter()
            .map(|c| (Reply::bulk(c.full_name.as_bytes()), doc(c, None)))
            .collect()
    } else {
        a[2..]
            .iter()
            .filter_map(|n| find(&x.st.renames, n))
            .map(|(s, p)| (Reply::bulk(s.full_name.as_bytes()), doc(s, p)))
            .collect()
    };
    Ok(Reply::Map(entries))
}

fn help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::super::server::testkit::*;
    use super::*;

    fn simples(v: &[&str]) -> Reply {
        Reply::Set(v.iter().map(|s| simple(s)).collect())
    }

    #[test]
    fn info_get_shape() {
        let mut t = Tk::new();
        let get = Reply::Array(vec![
            bulk("get"),
            Reply::Int(2),
            simples(&["readonly", "fast"]),
            Reply::Int(1),
            Reply::Int(1),
            Reply::Int(1),
            simples(&["@read", "@string", "@fast"]),
            Reply::Set(vec![]),
            Reply::Set(vec![Reply::Map(vec![
                (bulk("flags"), simples(&["RO", "access"])),
                (
                    bulk("begin_search"),
                    Reply::Map(vec![
                        (bulk("type"), bulk("index")),
                        (
                            bulk("spec"),
                            Reply::Map(vec![(bulk("index"), Reply::Int(1))]),
                        ),
                    ]),
                ),
                (
                    bulk("find_keys"),
                    Reply::Map(vec![
                        (bulk("type"), bulk("range")),
                        (
                            bulk("spec"),
                            Reply::Map(vec![
                                (bulk("lastkey"), Reply::Int(0)),
                                (bulk("keystep"), Reply::Int(1)),
                                (bulk("limit"), Reply::Int(0)),
                            ]),
                        ),
                    ]),
                ),
            ])]),
            Reply::Set(vec![]),
        ]);
        assert_eq!(
            t.run("COMMAND INFO GET nosuch"),
            Reply::Array(vec![get, Reply::Null])
        );
        let Reply::Array(v) = t.run("COMMAND INFO config|get") else {
            panic!()
        };
        let Reply::Array(e) = &v[0] else { panic!() };
        assert_eq!(e[0], bulk("config|get"));
        assert_eq!(e[2], simples(&["admin", "noscript", "loading", "stale"]));
        assert_eq!(e[6], simples(&["@admin", "@slow", "@dangerous"]));
    }

    #[test]
    fn categories_like_redis() {
        let cats = |n: &str| {
            let (s, p) = find(&Default::default(), n.as_bytes()).unwrap();
            categories(s, p).join(" ")
        };
        assert_eq!(cats("ping"), "fast connection");
        assert_eq!(cats("set"), "write string slow");
        assert_eq!(cats("del"), "keyspace write slow");
        assert_eq!(cats("lastsave"), "admin fast dangerous");
        assert_eq!(cats("info"), "slow dangerous");
        assert_eq!(cats("time"), "fast");
        assert_eq!(cats("config"), "slow");
        assert_eq!(cats("client"), "slow");
        assert_eq!(cats("client|kill"), "admin slow dangerous connection");
        assert_eq!(cats("command"), "slow connection");
        assert_eq!(cats("command|docs"), "slow connection");
    }

    #[test]
    fn count_list_and_bare_command() {
        let mut t = Tk::new();
        let n = COMMANDS.commands.len();
        assert_eq!(t.run("COMMAND COUNT"), Reply::Int(n as i64));
        let Reply::Array(all) = t.run("COMMAND") else {
            panic!()
        };
        assert_eq!(all.len(), n);
        let want = Reply::Array(vec![bulk("config|get")]);
        assert_eq!(t.run("COMMAND LIST FILTERBY PATTERN CONFIG|g*"), want);
        let Reply::Array(conn) = t.run("COMMAND LIST FILTERBY ACLCAT Connection") else {
            panic!()
        };
        assert!(conn.contains(&bulk("client|id")) && conn.contains(&bulk("auth")));
        assert!(!conn.contains(&bulk("get")));
        t.script(
            "COMMAND LIST FILTERBY foo x => -ERR syntax error
            COMMAND LIST FILTERBY PATTERN => -ERR syntax error
            COMMAND COUNT x => -ERR wrong number of arguments for 'command|count' command
            COMMAND foo => -ERR unknown subcommand 'foo'. Try COMMAND HELP.",
        );
        assert_eq!(
            t.run("COMMAND LIST FILTERBY MODULE x"),
            Reply::Array(vec![])
        );
    }

    #[test]
    fn getkeys() {
        let mut t = Tk::new();
        let keys = |k: &[&str]| Reply::Array(k.iter().map(|k| bulk(k)).collect());
        assert_eq!(t.run("COMMAND GETKEYS get a"), keys(&["a"]));
        assert_eq!(t.run("COMMAND GETKEYS SET a b EX 1"), keys(&["a"]));
        assert_eq!(t.run("COMMAND GETKEYS del a b c"), keys(&["a", "b", "c"]));
        t.script(
            "COMMAND GETKEYS nosuch a => -ERR Invalid command specified
            COMMAND GETKEYS config nosuch => -ERR Invalid command specified
            COMMAND GETKEYS config get x => -ERR The command has no key arguments
            COMMAND GETKEYS set a => -ERR Invalid number of arguments specified for command
            COMMAND GETKEYS get => -ERR wrong number of arguments for 'command|getkeys' command
            COMMAND GETKEYS zunionstore d 0 a => -ERR Invalid arguments specified for command
            COMMAND GETKEYS pfmerge d => -ERR Invalid arguments specified for command
            COMMAND GETKEYS spublish ch m => -ERR The command has no key arguments",
        );
        assert_eq!(
            t.run("COMMAND GETKEYS zunionstore d 2 a b WEIGHTS 1 2"),
            keys(&["d", "a", "b"])
        );
        // A count that only C's atoi accepts: Redis's key finder puts the destination last.
        assert_eq!(
            t.run("COMMAND GETKEYS zunionstore d 2x a b"),
            keys(&["a", "b", "d"])
        );
        assert_eq!(t.run("COMMAND GETKEYS eval s 0"), keys(&[]));
        assert_eq!(
            t.run("COMMAND GETKEYS xread COUNT 1 STREAMS a b 0 0"),
            keys(&["a", "b"])
        );
        assert_eq!(
            t.run("COMMAND GETKEYS sort a BY x LIMIT 0 1 STORE d"),
            keys(&["a", "d"])
        );
        let kf = |k: &str, f: &[&str]| Reply::Array(vec![Reply::Array(vec![bulk(k), simples(f)])]);
        assert_eq!(
            t.run("COMMAND GETKEYSANDFLAGS set a b"),
            kf("a", &["OW", "update"])
        );
        assert_eq!(
            t.run("COMMAND GETKEYSANDFLAGS set a b get"),
            kf("a", &["RW", "access", "update"])
        );
        assert_eq!(
            t.run("COMMAND GETKEYSANDFLAGS bitfield a GET u8 0"),
            kf("a", &["RO", "access"])
        );
    }

    #[test]
    fn docs_shape() {
        let mut t = Tk::new();
        let Reply::Map(m) = t.run("COMMAND DOCS ping nosuch client|id") else {
            panic!()
        };
        assert_eq!(m.len(), 2);
        let ping = Reply::Map(vec![
            (bulk("summary"), bulk("Ping the server")),
            (bulk("since"), bulk("1.0.0")),
            (bulk("group"), bulk("connection")),
            (bulk("complexity"), bulk("O(1)")),
            (
                bulk("arguments"),
                Reply::Array(vec![Reply::Map(vec![
                    (bulk("name"), bulk("message")),
                    (bulk("type"), bulk("string")),
                    (bulk("flags"), simples(&["optional"])),
                ])]),
            ),
        ]);
        assert_eq!(m[0], (bulk("ping"), ping));
        assert_eq!(m[1].0, bulk("client|id"));
        let Reply::Map(c) = t.run("COMMAND DOCS config") else {
            panic!()
        };
        let Reply::Map(fields) = &c[0].1 else {
            panic!()
        };
        assert_eq!(fields[4].0, bulk("subcommands"));
        let Reply::Map(all) = t.run("COMMAND DOCS") else {
            panic!()
        };
        assert_eq!(all.len(), COMMANDS.commands.len());
    }
}
