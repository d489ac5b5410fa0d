//! Handler tests for the scripting commands through the one dispatch path: replies,
//! a script's writes landing in the caller's journal as effects (replay never runs Lua),
//! EVAL_RO refusing writes, SELECT staying inside the script, and SCRIPT KILL's hook.

use bytes::Bytes;

use crate::cmd::exec::JournalEntry;
use crate::cmd::{dispatch, Caller, Exec, State};
use crate::config::Config;
use crate::resp::Reply;

use crate::cmd::exec::NoEnv;

const T0: i64 = 1_700_000_000_000;

fn argv(args: &[&str]) -> Vec<Bytes> {
    args.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

/// Run one command as a client unit; returns the reply and the unit's journal.
fn run(st: &mut State, now: i64, args: &[&str]) -> (Reply, Vec<JournalEntry>) {
    let mut x = Exec::new(st, &NoEnv, 0, now, Caller::Client);
    let r = dispatch::call(&mut x, &argv(args));
    let j = std::mem::take(&mut x.journal);
    (r, j)
}

fn names(j: &[JournalEntry]) -> Vec<String> {
    j.iter()
        .map(|(db, a)| {
            let words: Vec<String> = a
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect();
            format!("{db}:{}", words.join(" ")).to_lowercase()
        })
        .collect()
}

#[test]
fn eval_replies_and_journals_inner_effects() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    let (r, j) = run(
        &mut st,
        T0,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1]); redis.call('incr', 'n'); redis.call('get', 'x'); return redis.call('get', KEYS[1])",
            "1",
            "k",
            "v",
        ],
    );
    assert_eq!(r, Reply::Bulk(Bytes::from_static(b"v")));
    assert_eq!(names(&j), vec!["0:set k v", "0:incr n"]);
    // Canonical effects of Custom commands: relative TTL becomes absolute.
    let (_, j) = run(
        &mut st,
        T0,
        &["EVAL", "return redis.call('set', 'e', '1', 'EX', 10)", "0"],
    );
    assert_eq!(names(&j), vec![format!("0:set e 1 pxat {}", T0 + 10_000)]);
    // A read-only script journals nothing.
    let (r, j) = run(&mut st, T0, &["EVAL", "return redis.call('get', 'n')", "0"]);
    assert_eq!(r, Reply::Bulk(Bytes::from_static(b"1")));
    assert!(j.is_empty());
}

#[test]
fn replay_of_script_effects_rebuilds_state() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    let mut log = Vec::new();
    for cmd in [
        &[
            "EVAL",
            "for i = 1, 5 do redis.call('rpush', 'l', i) end return 1",
            "0",
        ][..],
        &[
            "EVAL",
            "redis.call('select', 2); redis.call('set', 'in2', 'x'); return 1",
            "0",
        ][..],
        &[
            "EVAL",
            "redis.call('lpop', 'l'); return redis.call('llen', 'l')",
            "0",
        ][..],
    ] {
        let (r, j) = run(&mut st, T0, cmd);
        assert!(!r.is_error(), "{r:?}");
        log.push(j);
    }
    // SELECT stayed inside the script; its write went to db 2.
    assert_eq!(names(&log[1]), vec!["2:set in2 x"]);
    let mut fresh = State::new(Config::default(), 0);
    for unit in &log {
        let mut x = Exec::new(&mut fresh, &NoEnv, 0, T0, Caller::Replay);
        dispatch::replay(&mut x, unit).unwrap();
    }
    assert!(fresh.ks.dbs[0].get(b"l").is_some());
    assert!(fresh.ks.dbs[2].get(b"in2").is_some());
    let (r, _) = run(&mut fresh, T0, &["LLEN", "l"]);
    assert_eq!(r, Reply::Int(4));
    assert!(fresh.scripts.is_empty(), "replay never runs Lua");
    let (r, _) = run(&mut st, T0, &["GET", "in2"]);
    assert_eq!(r, Reply::Null, "the caller's database is unchanged");
}

#[test]
fn lazy_expiry_inside_a_script_journals_del() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    run(&mut st, T0, &["SET", "t", "1", "PX", "10"]);
    let (r, j) = run(
        &mut st,
        T0 + 100,
        &["EVAL_RO", "return redis.call('get', 't')", "0"],
    );
    assert_eq!(r, Reply::Null);
    assert_eq!(names(&j), vec!["0:del t"]);
}

#[test]
fn read_only_scripts_refuse_writes() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    let (r, j) = run(
        &mut st,
        T0,
        &["EVAL_RO", "return redis.call('set', 'a', 'b')", "0"],
    );
    let Reply::Error(e) = r else { panic!("{r:?}") };
    assert!(e.starts_with("ERR Write commands are not allowed from read-only scripts."));
    assert!(j.is_empty());
    let (r, _) = run(
        &mut st,
        T0,
        &[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.pcall('del', 'a')",
            "0",
        ],
    );
    assert_eq!(
        r,
        Reply::Error("ERR Write commands are not allowed from read-only scripts.".into())
    );
}

#[test]
fn evalsha_and_script_cache() {
    let _lua = crate::script::test_lock::shared();
    let mut st = State::new(Config::default(), T0);
    let (r, _) = run(&mut st, T0, &["SCRIPT", "LOAD", "return ARGV[1]"]);
    let Reply::Bulk(sha) = r else { panic!("{r:?}") };
    let sha = String::from_utf8_lossy(&sha).into_owned();
    let (r, _) = run(&mut st, T0, &["EVALSHA", &sha.to_uppercase(), "0", "hi"]);
    assert_eq!(r, Reply::Bulk(Bytes::from_static(b"hi")));
    let (r, _) = run(&mut st, T0, &["SCRIPT", "EXISTS", &sha, "nope"]);
    assert_eq!(r, Reply::Array(vec![Reply::Int(1), Reply::Int(0)]));
    run(&mut st, T0, &["SCRIPT", "FLUSH"]);
    let (r, _) = run(&mut st, T0, &["EVALSHA", &sha, "0"]);
    assert_eq!(
        r,
        Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into())
    );
}

#[test]
fn blocking_commands_do_not_block_in_scripts() {
    let mut st = State::new(Config::default(), T0);
    let mut x = Exec::new(&mut st, &NoEnv, 0, T0, Caller::Client);
    x.in_script = true;
    assert!(!x.may_block());
}

#[test]
fn script_kill_aborts_a_running_script() {
    // The kill switch is process-wide: no other test's Lua runs meanwhile (it would be
    // killed instead, or make the final SCRIPT KILL find a script running).
    let _lua = crate::script::test_lock::exclusive();
    let mut st = State::new(Config::default(), T0);
    // Keep asking until the script has returned (a request before it starts is refused).
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let killer = std::thread::spawn(move || {
        while !flag.load(std::sync::atomic::Ordering::Acquire) {
            let _ = crate::script::request_kill();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let (r, j) = run(
        &mut st,
        T0,
        &["EVAL", "local i = 0\nwhile true do i = i + 1 end", "0"],
    );
    done.store(true, std::sync::atomic::Ordering::Release);
    killer.join().unwrap();
    let Reply::Error(e) = r else { panic!("{r:?}") };
    assert!(
        e.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
        "{e}"
    );
    assert!(e.ends_with("on @user_script:2."), "{e}");
    assert!(j.is_empty());
    let (r, _) = run(&mut st, T0, &["SCRIPT", "KILL"]);
    assert_eq!(
        r,
        Reply::Error("NOTBUSY No scripts in execution right now.".into())
    );
}
