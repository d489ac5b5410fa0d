//! COMMAND and its subcommands (COUNT, INFO, LIST, GETKEYS, DOCS, HELP): the command
//! table described to clients, in Redis 7.0's reply shapes. Everything here is read from
//! the one table (`COMMANDS`): names, arity, flags, key positions, group, ACL categories
//! and docs; nothing is declared twice.

use bytes::Bytes;

use super::exec::{is, Exec};
use super::registry::COMMANDS;
use super::server::help_reply;
use super::{cmd, CmdError, CommandSpec, Flags, Group};
use crate::db::glob::glob_match;
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
    (Flags::FAST, "fast"),
    (Flags::NO_AUTH, "no_auth"),
    (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (Flags::NO_ASYNC_LOADING, "no_async_loading"),
    (Flags::NO_MULTI, "no_multi"),
    (Flags::ALLOW_BUSY, "allow_busy"),
    (Flags::MOVABLE_KEYS, "movablekeys"),
];

/// ACL categories in Redis's order.
const CATEGORIES: &[&str] = &[
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
    let subs = spec
        .subcommands
        .iter()
        .map(|s| describe(s, Some(spec)))
        .collect();
    Reply::Array(vec![
        Reply::bulk(spec.full_name.as_bytes()),
        Reply::Int(i64::from(spec.arity)),
        set_of(flags),
        Reply::Int(i64::from(spec.keys.first)),
        Reply::Int(i64::from(spec.keys.last)),
        Reply::Int(i64::from(spec.keys.step)),
        set_of(cats),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(subs),
    ])
}

/// Resolve a name as COMMAND INFO/DOCS take it: `get`, `config|get` (any case).
fn find(name: &[u8]) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    let mut parts = name.splitn(2, |&c| c == b'|');
    let top = COMMANDS.get(parts.next()?)?;
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
            .map(|n| find(n).map_or(Reply::Null, |(s, p)| describe(s, p)))
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
    let argv = &a[2..];
    let spec = COMMANDS
        .lookup(argv)
        .map_err(|_| CmdError::err("Invalid command specified"))?;
    if spec.keys.first <= 0 {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = spec.key_positions(argv.len());
    if keys.is_empty() {
        if spec.flags.contains(Flags::NO_MANDATORY_KEYS) {
            return Ok(Reply::Array(Vec::new()));
        }
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(Reply::Array(
        keys.into_iter().map(|i| Reply::bulk(&argv[i])).collect(),
    ))
}

/// One COMMAND DOCS entry: summary, since, group, and the subcommands' docs.
fn doc(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let bulk = |s: &str| Reply::bulk(s.as_bytes());
    let mut m = vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk(spec.since)),
        (
            bulk("group"),
            bulk(parent.map_or(spec.group, |p| p.group).name()),
        ),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| (bulk(&s.full_name), doc(s, Some(spec))))
            .collect();
        m.push((bulk("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(m)
}

fn docs(_x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let entries = if a.len() == 2 {
        COMMANDS
            .commands
            .iter()
            .map(|c| (Reply::bulk(c.full_name.as_bytes()), doc(c, None)))
            .collect()
    } else {
        a[2..]
            .iter()
            .filter_map(|n| find(n))
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
            Reply::Array(vec![]),
            Reply::Array(vec![]),
            Reply::Array(vec![]),
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
            let (s, p) = find(n.as_bytes()).unwrap();
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
            COMMAND GETKEYS get => -ERR wrong number of arguments for 'command|getkeys' command",
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
        ]);
        assert_eq!(m[0], (bulk("ping"), ping));
        assert_eq!(m[1].0, bulk("client|id"));
        let Reply::Map(c) = t.run("COMMAND DOCS config") else {
            panic!()
        };
        let Reply::Map(fields) = &c[0].1 else {
            panic!()
        };
        assert_eq!(fields[3].0, bulk("subcommands"));
        let Reply::Map(all) = t.run("COMMAND DOCS") else {
            panic!()
        };
        assert_eq!(all.len(), COMMANDS.commands.len());
    }
}
