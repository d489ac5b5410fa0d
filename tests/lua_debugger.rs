//! The Lua debugger (SCRIPT DEBUG YES|SYNC|NO and Redis 7.0's LDB session) over the
//! wire: stepping, breakpoints, `redis` and `eval` commands, abort, Redis's
//! protocol-parsing and stack-overflow cases, a client that disconnects mid-session,
//! other clients waiting for a session, what survives a kill -9 and restart (SYNC keeps
//! the session's writes, YES leaves no trace in memory or the log), and a differential
//! run of the same session against redis-server.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{RawClient, TestServer, V};

/// The status lines of one debugger reply.
fn lines(v: V) -> Vec<String> {
    match v {
        V::Arr(items) => items
            .into_iter()
            .map(|i| match i {
                V::Simple(s) => s,
                other => panic!("not a log line: {other:?}"),
            })
            .collect(),
        other => panic!("not a debugger reply: {other:?}"),
    }
}

fn ldb(c: &mut RawClient, args: &[&str]) -> Vec<String> {
    lines(c.cmd(args))
}

/// Start a SYNC or YES session on `c` for `script` (no keys, `args`): the first stop.
fn start(c: &mut RawClient, mode: &str, script: &str, args: &[&str]) -> Vec<String> {
    assert_eq!(c.cmd(&["SCRIPT", "DEBUG", mode]), V::Simple("OK".into()));
    let mut a = vec!["EVAL", script, "0"];
    a.extend_from_slice(args);
    ldb(c, &a)
}

/// The session's end: `<endsession>` (after any last logs), the final reply, then EOF.
fn finish(c: &mut RawClient, args: &[&str]) -> (Vec<String>, V) {
    let logs = ldb(c, args);
    assert_eq!(logs.last().map(String::as_str), Some("<endsession>"));
    let reply = c.read();
    assert!(
        c.try_read().is_none(),
        "the connection closes after a session"
    );
    (logs, reply)
}

const SCRIPT: &str = "local n = redis.call('incr', 'counter')\n\
redis.debug('n is', n, {1, 'two'})\n\
redis.call('set', 'seen', ARGV[1])\n\
return n";

#[test]
fn a_sync_session_steps_breaks_runs_commands_and_keeps_its_writes() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let stop = start(&mut c, "SYNC", SCRIPT, &["hello"]);
    assert_eq!(
        stop,
        [
            "* Stopped at 1, stop reason = step over",
            "-> 1   local n = redis.call('incr', 'counter')",
        ]
    );
    // Stepping logs the command the line ran and its reply, then the next stop.
    assert_eq!(
        ldb(&mut c, &["s"]),
        [
            "<redis> incr counter",
            "<reply> 1",
            "* Stopped at 2, stop reason = step over",
            "-> 2   redis.debug('n is', n, {1, 'two'})",
        ]
    );
    assert_eq!(ldb(&mut c, &["p", "ARGV"]), ["<value> {\"hello\"}"]);
    assert_eq!(
        ldb(&mut c, &["b", "4"]),
        [
            "   3   redis.call('set', 'seen', ARGV[1])",
            "  #4   return n"
        ]
    );
    assert_eq!(ldb(&mut c, &["b", "3"]).len(), 3);
    assert_eq!(
        ldb(&mut c, &["b"]),
        [
            "2 breakpoints set:",
            "  #4   return n",
            "  #3   redis.call('set', 'seen', ARGV[1])"
        ]
    );
    assert_eq!(ldb(&mut c, &["b", "-3"]), ["Breakpoint removed."]);
    assert_eq!(
        ldb(&mut c, &["b", "-3"]),
        ["No breakpoint in the specified line."]
    );
    assert_eq!(ldb(&mut c, &["b", "9"]), ["Wrong line number."]);
    assert_eq!(ldb(&mut c, &["e", "2 * 21"]), ["<retval> 42"]);
    assert_eq!(
        ldb(&mut c, &["r", "set", "from-debugger", "yes"]),
        ["<redis> set from-debugger yes", "<reply> \"+OK\""]
    );
    assert_eq!(
        ldb(&mut c, &["t"]),
        ["In top level:", "-> 2   redis.debug('n is', n, {1, 'two'})"]
    );
    // Continue: redis.debug logs, the breakpoint on line 4 stops (line 3 ran unlogged).
    assert_eq!(
        ldb(&mut c, &["c"]),
        [
            "<debug> line 2: \"n is\", 1, {1; \"two\"}",
            "* Stopped at 4, stop reason = break point",
            "->#4   return n"
        ]
    );
    assert_eq!(
        ldb(&mut c, &["l", "0", "1"]),
        [
            "   3   redis.call('set', 'seen', ARGV[1])",
            "->#4   return n"
        ]
    );
    let (_, reply) = finish(&mut c, &["c"]);
    assert_eq!(reply, V::Int(1));
    let mut other = server.raw();
    assert_eq!(other.cmd(&["GET", "seen"]), V::Bulk(b"hello".to_vec()));
    assert_eq!(
        other.cmd(&["GET", "from-debugger"]),
        V::Bulk(b"yes".to_vec())
    );
    assert_eq!(other.cmd(&["GET", "counter"]), V::Bulk(b"1".to_vec()));
}

#[test]
fn abort_ends_the_session_with_redis_error_and_keeps_what_ran() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    start(
        &mut c,
        "SYNC",
        "redis.call('set','a','1')\nredis.call('set','b','1')\nreturn 1",
        &[],
    );
    ldb(&mut c, &["s"]);
    let (_, reply) = finish(&mut c, &["a"]);
    let V::Err(e) = reply else {
        panic!("abort answers an error: {reply:?}")
    };
    assert!(
        e.starts_with("ERR script aborted for user request script: ")
            && e.ends_with("on @user_script:2."),
        "{e}"
    );
    let mut other = server.raw();
    assert_eq!(other.cmd(&["EXISTS", "a", "b"]), V::Int(1));
}

#[test]
fn redis_protocol_parsing_and_stack_overflow_cases() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    start(&mut c, "SYNC", "return 'hello'", &[]);
    for bad in ["'hello\0world'", "'hello\0'", "'\0hello'", "'\0hello\0'"] {
        assert_eq!(
            ldb(&mut c, &[bad]),
            ["<error> Unknown Redis Lua debugger command or wrong number of arguments."]
        );
    }
    // SCRIPT DEBUG and EVAL are debugger commands now (the suite sends them).
    assert_eq!(
        ldb(&mut c, &["script", "debug", "sync"]),
        ["<error> Unknown Redis Lua debugger command or wrong number of arguments."]
    );
    assert_eq!(
        ldb(&mut c, &["eval", "return 'hello'", "0"]),
        ["<error> ldb_eval:1: '<eof>' expected near '0'"]
    );
    let mut big = b"*101\r\n$5\r\nredis\r\n".to_vec();
    for _ in 0..100 {
        big.extend_from_slice(b"$4\r\ntest\r\n");
    }
    c.send_raw(&big);
    let logs = lines(c.read());
    assert_eq!(
        logs,
        [
            "<redis> test test test test test test test test test test ... (89 more)",
            "<error> Unknown Redis command called from script"
        ]
    );
    // Not multibulk: the session ends with Redis's protocol error.
    c.send_raw(b"PING\r\n");
    assert_eq!(lines(c.read()), ["<endsession>"]);
    let V::Err(e) = c.read() else {
        panic!("an error")
    };
    assert!(e.starts_with("ERR protocol error script: "), "{e}");
    assert!(c.try_read().is_none());
    assert_eq!(server.raw().cmd(&["PING"]), V::Simple("PONG".into()));
}

#[test]
fn others_wait_for_a_session_and_a_disconnect_ends_it_cleanly() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    start(
        &mut c,
        "SYNC",
        "redis.call('set','d','1')\nredis.breakpoint()\nredis.call('set','d','2')\nreturn 1",
        &[],
    );
    // Another client waits while the session holds the server (Redis is blocked in it).
    let mut other = server.raw();
    other.send(&[b"GET".as_slice(), b"d".as_slice()]);
    std::thread::sleep(Duration::from_millis(200));
    ldb(&mut c, &["s"]);
    std::thread::sleep(Duration::from_millis(100));
    // Gone mid-session: the script runs to its end without stopping (breakpoint
    // included), and the server serves on.
    drop(c);
    assert_eq!(other.read(), V::Bulk(b"2".to_vec()));
    assert_eq!(other.cmd(&["PING"]), V::Simple("PONG".into()));
    // The next session works as the first.
    let mut c = server.raw();
    start(&mut c, "SYNC", "return 7", &[]);
    assert_eq!(finish(&mut c, &["c"]).1, V::Int(7));
}

#[test]
fn a_script_running_past_the_threshold_stops_with_timeout_reason() {
    let server = TestServer::start(&[("busy-reply-threshold", "100")]);
    let mut c = server.raw();
    start(
        &mut c,
        "SYNC",
        "local i = 0\nwhile true do\ni = i + 1\nend",
        &[],
    );
    let stop = ldb(&mut c, &["c"]);
    assert_eq!(
        stop[0].split(", stop reason = ").nth(1),
        Some("timeout reached, infinite loop?"),
        "{stop:?}"
    );
    let (_, reply) = finish(&mut c, &["a"]);
    assert!(matches!(reply, V::Err(e) if e.starts_with("ERR script aborted")));
}

#[test]
fn what_debug_mode_changes_and_refuses() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let sha = c.cmd(&["SCRIPT", "LOAD", "return 1"]).text();
    assert_eq!(c.cmd(&["SCRIPT", "DEBUG", "SYNC"]), V::Simple("OK".into()));
    assert_eq!(
        c.cmd(&["EVALSHA", &sha, "0"]),
        V::Err("ERR Please use EVAL instead of EVALSHA for debugging".into())
    );
    c.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=lib\nredis.register_function('f', function() return 7 end)",
    ]);
    assert_eq!(
        c.cmd(&["FCALL", "f", "0"]),
        V::Int(7),
        "FCALL is not debugged"
    );
    assert_eq!(c.cmd(&["SCRIPT", "DEBUG", "NO"]), V::Simple("OK".into()));
    assert_eq!(c.cmd(&["EVAL", "return 2", "0"]), V::Int(2));
    assert_eq!(
        c.cmd(&["SCRIPT", "DEBUG", "MAYBE"]),
        V::Err("ERR Use SCRIPT DEBUG YES/SYNC/NO".into())
    );
    // Behind unsent replies (a pipeline, EXEC) it is refused, as in Redis.
    c.send_raw(b"*1\r\n$4\r\nPING\r\n*3\r\n$6\r\nSCRIPT\r\n$5\r\nDEBUG\r\n$4\r\nSYNC\r\n");
    assert_eq!(c.read(), V::Simple("PONG".into()));
    let pipelined = V::Err("ERR SCRIPT DEBUG must be called outside a pipeline".into());
    assert_eq!(c.read(), pipelined);
    c.cmd(&["MULTI"]);
    c.cmd(&["SCRIPT", "DEBUG", "SYNC"]);
    assert_eq!(c.cmd(&["EXEC"]), V::Arr(vec![pipelined]));
    let from_script = c.cmd(&["EVAL", "return redis.call('script','debug','sync')", "0"]);
    assert!(
        matches!(&from_script, V::Err(e) if e.starts_with("ERR This Redis command is not allowed from script")),
        "{from_script:?}"
    );
    // An EVAL that fails before running still opens and closes a session.
    let mut d = server.raw();
    assert_eq!(d.cmd(&["SCRIPT", "DEBUG", "SYNC"]), V::Simple("OK".into()));
    d.send(&[b"EVAL".as_slice(), b"return +".as_slice(), b"0".as_slice()]);
    assert_eq!(lines(d.read()), ["<endsession>"]);
    assert!(matches!(d.read(), V::Err(e) if e.starts_with("ERR Error compiling script")));
    assert!(d.try_read().is_none());
    // EVAL_RO is debugged too.
    let mut e = server.raw();
    start(&mut e, "SYNC", "return 3", &[]);
    assert_eq!(finish(&mut e, &["c"]).1, V::Int(3));
}

/// The strata binary on `dir` and `port` (a child, so it can be killed with SIGKILL).
fn spawn(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["server", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(["--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn strata")
}

/// A client once the server serves (after a restart it answers -LOADING, PING included,
/// until its data is loaded).
fn connect(port: u16) -> RawClient {
    let s = common::tcp(port);
    let addr = s.peer_addr().expect("addr");
    drop(s);
    let t0 = std::time::Instant::now();
    loop {
        let mut c = RawClient::connect(addr);
        if c.cmd(&["PING"]) == V::Simple("PONG".into()) {
            return c;
        }
        assert!(t0.elapsed().as_secs() < 20, "the server never loaded");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn after_kill_and_restart_sync_writes_stay_and_async_ones_never_happened() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let port = common::free_port();
    let mut child = spawn(&dir, port);
    let mut c = connect(port);
    c.cmd(&["SET", "keep", "before"]);
    c.cmd(&["SET", "ttl", "v", "PX", "600000"]);
    c.cmd(&["RPUSH", "list", "a"]);
    // YES: writes are seen inside the session, then discarded.
    let script = "redis.call('set','keep','async')\nredis.call('del','ttl')\n\
                  redis.call('rpush','list','b')\nredis.call('set','fresh','1')\n\
                  return redis.call('get','keep')";
    start(&mut c, "YES", script, &[]);
    assert_eq!(
        ldb(&mut c, &["r", "flushall"])[1],
        "<error> 'flushall' cannot run in an asynchronous debugging session (SCRIPT DEBUG YES), \
         whose changes strata discards key by key; use SCRIPT DEBUG SYNC"
    );
    assert_eq!(finish(&mut c, &["c"]).1, V::Bulk(b"async".to_vec()));
    let mut c = connect(port);
    let before = |c: &mut RawClient| {
        assert_eq!(c.cmd(&["GET", "keep"]), V::Bulk(b"before".to_vec()));
        assert!(matches!(c.cmd(&["PTTL", "ttl"]), V::Int(n) if n > 500_000));
        assert_eq!(
            c.cmd(&["LRANGE", "list", "0", "-1"]),
            V::Arr(vec![V::Bulk(b"a".to_vec())])
        );
        assert_eq!(c.cmd(&["EXISTS", "fresh"]), V::Int(0));
    };
    before(&mut c);
    // SYNC: kept, in memory and in the log.
    start(
        &mut c,
        "SYNC",
        "redis.call('set','synced','1')\nreturn redis.call('incr','n')",
        &[],
    );
    ldb(&mut c, &["r", "set", "typed", "x"]);
    assert_eq!(finish(&mut c, &["c"]).1, V::Int(1));
    let mut c = connect(port);
    assert_eq!(c.cmd(&["DBSIZE"]), V::Int(6));
    child.kill().expect("kill");
    child.wait().expect("reap");
    let mut child = spawn(&dir, port);
    let mut c = connect(port);
    before(&mut c);
    assert_eq!(
        c.cmd(&["MGET", "synced", "n", "typed"]),
        V::Arr(vec![
            V::Bulk(b"1".to_vec()),
            V::Bulk(b"1".to_vec()),
            V::Bulk(b"x".to_vec())
        ])
    );
    assert_eq!(c.cmd(&["DBSIZE"]), V::Int(6));
    child.kill().expect("kill");
    child.wait().expect("reap");
}

/// One session, command by command, against strata and redis-server: every reply equal
/// (`print` of a local variable is left out: strata cannot read locals).
#[test]
fn differential_session_against_redis() {
    let Some(oracle) = common::Oracle::start() else {
        return;
    };
    let server = TestServer::start(&[]);
    let script = "local t = {1, 2, 'x', {y = true}}\n\
                  redis.call('set', KEYS[1], ARGV[1])\n\
                  redis.debug('t', t, nil, 3.5)\n\
                  local r = redis.pcall('hgetall', KEYS[1])\n\
                  redis.breakpoint()\n\
                  return {redis.call('get', KEYS[1]), r}";
    let steps: &[&[&str]] = &[
        &["h"],
        &["l"],
        &["l", "3", "1"],
        &["w"],
        &["s"],
        &["s"],
        &["p", "KEYS"],
        &["p", "ARGV"],
        &["b"],
        &["b", "5"],
        &["b", "x", "-9", "99"],
        &["b", "-5"],
        &["b", "6"],
        &["t"],
        &["e", "1 + 1"],
        &["e", "x ="],
        &["e", "error('boom')"],
        &["e", "{1, 'a', false}"],
        &["r", "set", "foo", "bar"],
        &["r", "hgetall", "foo"],
        &["r", "nosuch", "x"],
        &["r"],
        &["m"],
        &["m", "10"],
        &["r", "get", "k1"],
        &[
            "r",
            "set",
            "long",
            "0123456789012345678901234567890123456789012345678901234567890123456789",
        ],
        &["r", "get", "long"],
        &["m", "0"],
        &["r", "get", "long"],
        &["unknown"],
        &["s"],
        &["c"],
        &["c"],
        &["c"],
    ];
    let run = |mut c: RawClient| -> Vec<V> {
        let mut out = vec![c.cmd(&["SCRIPT", "DEBUG", "SYNC"])];
        out.push(c.cmd(&["EVAL", script, "1", "k1", "v1"]));
        for s in steps {
            let a: Vec<&[u8]> = s.iter().map(|x| x.as_bytes()).collect();
            c.send(&a);
            match c.try_read() {
                Some(v) => out.push(v),
                None => break,
            }
        }
        while let Some(v) = c.try_read() {
            out.push(v);
        }
        out
    };
    let ours = run(server.raw());
    let theirs = run(oracle.raw());
    for (i, (a, b)) in ours.iter().zip(theirs.iter()).enumerate() {
        assert_eq!(a, b, "reply {i} differs");
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn a_session_held_by_client_pause_starts_after_it_with_its_pipelined_input() {
    let server = TestServer::start(&[]);
    let mut admin = server.raw();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SCRIPT", "DEBUG", "SYNC"]), V::Simple("OK".into()));
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "300", "WRITE"]),
        V::Simple("OK".into())
    );
    // The EVAL and a debugger command behind it, in one write.
    c.send_raw(
        b"*3\r\n$4\r\nEVAL\r\n$22\r\nredis.call('incr','p')\r\n$1\r\n0\r\n*1\r\n$1\r\ns\r\n",
    );
    let t0 = std::time::Instant::now();
    assert_eq!(
        lines(c.read()),
        [
            "* Stopped at 1, stop reason = step over",
            "-> 1   redis.call('incr','p')"
        ]
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "held by the pause"
    );
    assert_eq!(
        lines(c.read()),
        ["<redis> incr p", "<reply> 1", "<endsession>"]
    );
    assert_eq!(c.read(), V::Nil);
    assert!(c.try_read().is_none());
    assert_eq!(admin.cmd(&["GET", "p"]), V::Bulk(b"1".to_vec()));
}
