//! Handler tests for FUNCTION and FCALL through the one dispatch path: loading and
//! listing libraries, FCALL's writes landing in the caller's journal as effects (one unit,
//! replay never runs Lua), FCALL_RO and no-writes, and replay re-registering libraries.

use bytes::Bytes;

use crate::cmd::exec::JournalEntry;
use crate::cmd::{dispatch, Caller, Exec, State};
use crate::config::Config;
use crate::resp::Reply;

use crate::cmd::exec::NoEnv;

const T0: i64 = 1_700_000_000_000;

const LIB: &str = "#!lua name=mylib
local function set2(keys, args)
  redis.call('set', keys[1], args[1])
  redis.call('set', keys[2], args[1])
  return redis.call('mget', keys[1], keys[2])
end
redis.register_function('set2', set2)
redis.register_function{function_name='get1', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}
redis.register_function('bad_write', function() return 1 end)
";

fn argv(args: &[&str]) -> Vec<Bytes> {
    args.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

fn run(st: &mut State, args: &[&str]) -> (Reply, Vec<JournalEntry>) {
    let mut x = Exec::new(st, &NoEnv, 0, T0, Caller::Client);
    let r = dispatch::call(&mut x, &argv(args));
    let j = std::mem::take(&mut x.journal);
    (r, j)
}

fn err(r: Reply) -> String {
    match r {
        Reply::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn load_list_delete() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    let (r, j) = run(&mut st, &["FUNCTION", "LOAD", LIB]);
    assert_eq!(r, Reply::Bulk(Bytes::from_static(b"mylib")));
    assert_eq!(j.len(), 1, "FUNCTION LOAD is journaled verbatim");
    assert_eq!(
        err(run(&mut st, &["FUNCTION", "LOAD", LIB]).0),
        "ERR Library 'mylib' already exists"
    );
    let (r, _) = run(&mut st, &["FUNCTION", "LOAD", "REPLACE", LIB]);
    assert_eq!(r, Reply::Bulk(Bytes::from_static(b"mylib")));
    let other = "#!lua name=other\nredis.register_function('SET2', function() return 1 end)";
    assert_eq!(
        err(run(&mut st, &["FUNCTION", "LOAD", other]).0),
        "ERR Function SET2 already exists"
    );
    let (r, _) = run(&mut st, &["FUNCTION", "LIST", "LIBRARYNAME", "my*"]);
    let Reply::Array(libs) = r else { panic!() };
    assert_eq!(libs.len(), 1);
    let (r, _) = run(&mut st, &["FUNCTION", "LIST", "LIBRARYNAME", "x*"]);
    assert_eq!(r, Reply::Array(vec![]));
    let (r, j) = run(&mut st, &["FUNCTION", "DELETE", "mylib"]);
    assert_eq!(r, Reply::ok());
    assert_eq!(j.len(), 1);
    let (r, j) = run(&mut st, &["FUNCTION", "DELETE", "mylib"]);
    assert_eq!(err(r), "ERR Library not found");
    assert!(j.is_empty());
}

#[test]
fn load_errors() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    let cases = [
        ("return 1", "ERR Missing library metadata"),
        ("#!lua name=x", "ERR Invalid library metadata"),
        ("#!lua\nreturn 1", "ERR Library name was not given"),
        ("#!js name=x\n", "ERR Engine 'js' not found"),
        ("#!lua name=a-b\n", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
        ("#!lua name=x\nreturn 1", "ERR No functions registered"),
        ("#!lua name=x\nredis.call('ping')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"),
        ("#!lua name=x\nlocal t = type(1)", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'type'"),
        ("#!lua name=x\nx = 1", "ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table"),
        ("#!lua name=x\nredis.register_function('f')", "ERR Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
        ("#!lua name=x\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)", "ERR Error registering functions: ERR Function already exists in the library"),
        ("#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}", "ERR Error registering functions: ERR unknown flag given"),
        ("#!lua name=x\nlocal x = 1 +", "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"),
        ("#!lua name=x\nfor i = 1, 1e12 do end", "ERR Error registering functions: ERR FUNCTION LOAD timeout"),
    ];
    for (code, want) in cases {
        assert_eq!(
            err(run(&mut st, &["FUNCTION", "LOAD", code]).0),
            want,
            "{code}"
        );
    }
    assert!(st.functions.is_empty());
}

#[test]
fn fcall_journals_effects_in_one_unit() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    run(&mut st, &["FUNCTION", "LOAD", LIB]);
    let (r, j) = run(&mut st, &["FCALL", "SET2", "2", "a", "b", "v"]);
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"v")),
            Reply::Bulk(Bytes::from_static(b"v"))
        ])
    );
    let words: Vec<String> = j
        .iter()
        .map(|(_, a)| String::from_utf8_lossy(&a.concat()).to_lowercase())
        .collect();
    assert_eq!(words, vec!["setav", "setbv"]);
    let (r, j) = run(&mut st, &["FCALL_RO", "get1", "1", "a"]);
    assert_eq!(r, Reply::Bulk(Bytes::from_static(b"v")));
    assert!(j.is_empty());
    assert_eq!(
        err(run(&mut st, &["FCALL_RO", "bad_write", "0"]).0),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(
        err(run(&mut st, &["FCALL", "nope", "0"]).0),
        "ERR Function not found"
    );
    assert_eq!(
        err(run(&mut st, &["FCALL", "set2", "x"]).0),
        "ERR Bad number of keys provided"
    );
}

#[test]
fn replay_reregisters_libraries_without_running_functions() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    let mut log = Vec::new();
    for cmd in [
        &["FUNCTION", "LOAD", LIB][..],
        &["FCALL", "set2", "2", "a", "b", "v"][..],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=l2\nredis.register_function('f2', function() return 2 end)",
        ][..],
        &["FUNCTION", "DELETE", "l2"][..],
    ] {
        let (r, j) = run(&mut st, cmd);
        assert!(!r.is_error(), "{r:?}");
        log.push(j);
    }
    let mut fresh = State::new(Config::default(), 0);
    for unit in &log {
        let mut x = Exec::new(&mut fresh, &NoEnv, 0, T0, Caller::Replay);
        dispatch::replay(&mut x, unit).unwrap();
    }
    assert_eq!(fresh.functions.libraries(), st.functions.libraries());
    assert!(fresh.ks.dbs[0].get(b"b").is_some());
    let (r, _) = run(&mut fresh, &["FCALL", "get1", "1", "b"]);
    assert_eq!(r, Reply::Bulk(Bytes::from_static(b"v")));
}

#[test]
fn over_maxmemory_only_allow_oom_and_no_writes_functions_run() {
    let _lua = crate::script::test_lock::shared();
    let config = Config {
        maxmemory: 1,
        ..Config::default()
    };
    let mut st = State::new(config, T0);
    let lib = "#!lua name=oom
redis.register_function('w', function() return 1 end)
redis.register_function{function_name='ao', callback=function() return 2 end, flags={'allow-oom'}}
redis.register_function{function_name='nw', callback=function() return 3 end, flags={'no-writes'}}";
    // FUNCTION LOAD is DENYOOM: load it before the limit bites (as CONFIG SET would).
    st.config.maxmemory = 0;
    assert!(!run(&mut st, &["FUNCTION", "LOAD", lib]).0.is_error());
    st.config.maxmemory = 1;
    let oom = "OOM command not allowed when used memory > 'maxmemory'.";
    assert_eq!(err(run(&mut st, &["FCALL", "w", "0"]).0), oom);
    assert_eq!(run(&mut st, &["FCALL", "ao", "0"]).0, Reply::Int(2));
    assert_eq!(run(&mut st, &["FCALL", "nw", "0"]).0, Reply::Int(3));
    assert_eq!(err(run(&mut st, &["EVAL", "#!lua\nreturn 1", "0"]).0), oom);
    assert_eq!(
        run(&mut st, &["EVAL", "#!lua flags=allow-oom\nreturn 1", "0"]).0,
        Reply::Int(1)
    );
    assert_eq!(run(&mut st, &["EVAL", "return 1", "0"]).0, Reply::Int(1));
}
