//! Redis 7.0 functions through the real server: libraries survive a restart (FUNCTION
//! LOAD / DELETE / FLUSH are in the log; replay re-registers libraries and never calls
//! functions), an FCALL that writes several keys is one atomic unit that replays as its
//! effects, and a runaway function answers -BUSY to others until FUNCTION KILL (SCRIPT
//! KILL refuses to kill a function).

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, V};

const LIB: &str = "#!lua name=bank
local function transfer(keys, args)
  local amount = tonumber(args[1])
  local from = tonumber(redis.call('get', keys[1]) or '0')
  if from < amount then return redis.error_reply('insufficient funds') end
  redis.call('decrby', keys[1], amount)
  redis.call('incrby', keys[2], amount)
  redis.call('rpush', keys[3], keys[1] .. '->' .. keys[2] .. ':' .. amount)
  return {redis.call('get', keys[1]), redis.call('get', keys[2])}
end
redis.register_function('transfer', transfer)
redis.register_function{function_name='balance', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}
";

/// The kill switch and the "a script is running" flag are process-wide: a function
/// spinning in one test's server makes every server in this process answer -BUSY, so the
/// tests here run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bulk(s: &str) -> V {
    V::Bulk(s.as_bytes().to_vec())
}

#[test]
fn libraries_survive_restart() {
    let _serial = serial();
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIB]), bulk("bank"));
    let other = "#!lua name=other\nredis.register_function('hello', function() return 'hi' end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", other]), bulk("other"));
    let gone = "#!lua name=gone\nredis.register_function('bye', function() return 1 end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", gone]), bulk("gone"));
    assert_eq!(
        c.cmd(&["FUNCTION", "DELETE", "gone"]),
        V::Simple("OK".into())
    );
    let replaced =
        "#!lua name=other\nredis.register_function('hello', function() return 'hi again' end)";
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "REPLACE", replaced]),
        bulk("other")
    );
    c.cmd(&["SET", "alice", "100"]);
    let r = c.cmd(&["FCALL", "transfer", "3", "alice", "bob", "ledger", "30"]);
    assert_eq!(r, V::Arr(vec![bulk("70"), bulk("30")]));
    let before = c.cmd(&["FUNCTION", "LIST", "WITHCODE"]);
    drop(c);

    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "WITHCODE"]), before);
    assert_eq!(c.cmd(&["FCALL", "hello", "0"]), bulk("hi again"));
    assert_eq!(
        c.cmd(&["FCALL", "bye", "0"]),
        V::Err("ERR Function not found".into())
    );
    // The transfer ran once: its effects replayed, the function was not called again.
    assert_eq!(c.cmd(&["FCALL_RO", "balance", "1", "alice"]), bulk("70"));
    assert_eq!(c.cmd(&["LLEN", "ledger"]), V::Int(1));

    // FLUSH is logged too.
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), V::Simple("OK".into()));
    drop(c);
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]), V::Arr(vec![]));
    assert_eq!(c.cmd(&["GET", "bob"]), bulk("30"));
    // DEBUG RELOAD replays the log into fresh state: libraries included, nothing doubled.
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIB]), bulk("bank"));
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), V::Simple("OK".into()));
    assert_eq!(c.cmd(&["FCALL_RO", "balance", "1", "bob"]), bulk("30"));
}

#[test]
fn fcall_writes_several_keys_atomically() {
    let _serial = serial();
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    c.cmd(&["FUNCTION", "LOAD", LIB]);
    c.cmd(&["SET", "a", "1000"]);
    // Concurrent transfers a -> b from several clients: every one is all-or-nothing, so
    // the sum is conserved at every observation and the ledger matches the moves.
    let addr = s.addr;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = common::RawClient::connect(addr);
                for _ in 0..50 {
                    let r = c.cmd(&["FCALL", "transfer", "3", "a", "b", "log", "1"]);
                    assert!(matches!(r, V::Arr(_)), "{r:?}");
                }
            })
        })
        .collect();
    let mut reader = s.raw();
    for _ in 0..50 {
        let V::Arr(v) = reader.cmd(&["MGET", "a", "b"]) else {
            panic!("mget")
        };
        let n = |x: &V| match x {
            V::Bulk(b) => String::from_utf8_lossy(b).parse::<i64>().unwrap_or(0),
            _ => 0,
        };
        assert_eq!(n(&v[0]) + n(&v[1]), 1000);
    }
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(c.cmd(&["GET", "a"]), bulk("800"));
    assert_eq!(c.cmd(&["GET", "b"]), bulk("200"));
    assert_eq!(c.cmd(&["LLEN", "log"]), V::Int(200));
    // A refused transfer changes nothing.
    let r = c.cmd(&["FCALL", "transfer", "3", "a", "b", "log", "5000"]);
    assert_eq!(r, V::Err("insufficient funds".into()));
    drop(c);
    drop(reader);
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["MGET", "a", "b"]),
        V::Arr(vec![bulk("800"), bulk("200")])
    );
    assert_eq!(c.cmd(&["LLEN", "log"]), V::Int(200));
}

#[test]
fn busy_function_and_function_kill() {
    let _serial = serial();
    let s = TestServer::start(&[("busy-reply-threshold", "100")]);
    let mut c = s.raw();
    let spin = "#!lua name=spin\nredis.register_function('spin', function() local i = 0 while true do i = i + 1 end end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", spin]), bulk("spin"));
    // Connected (and registered) before the function runs: registering a connection
    // needs the engine, which the running function holds.
    let mut other = s.raw();
    assert_eq!(other.cmd(&["PING"]), V::Simple("PONG".into()));
    let mut c2 = s.raw();
    assert_eq!(c2.cmd(&["PING"]), V::Simple("PONG".into()));
    let runner = std::thread::spawn(move || c2.cmd(&["FCALL", "spin", "0"]));
    // Wait until the function holds the engine (a command that reached the engine lock
    // just before would park a runtime thread behind it), then PING answers -BUSY
    // (FUNCTION KILL named) past the threshold.
    let t0 = Instant::now();
    while strata::script::SCRIPT_RUNNING.load(std::sync::atomic::Ordering::Acquire) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(10), "never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        other.cmd(&["PING"]),
        V::Err(
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
                .into()
        )
    );
    // SCRIPT KILL does not kill a function.
    assert_eq!(
        other.cmd(&["SCRIPT", "KILL"]),
        V::Err(
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
                .into()
        )
    );
    // FUNCTION STATS answers while the function runs.
    let V::Arr(stats) = other.cmd(&["FUNCTION", "STATS"]) else {
        panic!("stats")
    };
    assert_eq!(stats[0], bulk("running_script"));
    let V::Arr(running) = &stats[1] else {
        panic!("{:?}", stats[1])
    };
    assert_eq!(
        running[..4],
        [
            bulk("name"),
            bulk("spin"),
            bulk("command"),
            V::Arr(vec![bulk("FCALL"), bulk("spin"), bulk("0")])
        ]
    );
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]), V::Simple("OK".into()));
    let r = runner.join().expect("runner");
    let V::Err(e) = r else { panic!("{r:?}") };
    assert!(
        e.starts_with(
            "ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
        ),
        "{e}"
    );
    assert_eq!(other.cmd(&["PING"]), V::Simple("PONG".into()));
    assert_eq!(
        other.cmd(&["FUNCTION", "KILL"]),
        V::Err("NOTBUSY No scripts in execution right now.".into())
    );
}

#[test]
fn dump_restore_round_trip_survives_restart() {
    let _serial = serial();
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIB]), bulk("bank"));
    let V::Bulk(payload) = c.cmd(&["FUNCTION", "DUMP"]) else {
        panic!("dump")
    };
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), V::Simple("OK".into()));
    c.send(&[b"FUNCTION", b"RESTORE", &payload]);
    assert_eq!(c.read(), V::Simple("OK".into()));
    c.send(&[b"FUNCTION", b"RESTORE", &payload]);
    assert_eq!(c.read(), V::Err("ERR Library bank already exists".into()));
    let mut bad = payload.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    c.send(&[b"FUNCTION", b"RESTORE", &bad, b"FLUSH"]);
    assert_eq!(
        c.read(),
        V::Err("ERR DUMP payload version or checksum are wrong".into())
    );
    drop(c);
    let s = s.restart(&[]);
    let mut c = s.raw();
    c.cmd(&["SET", "x", "5"]);
    assert_eq!(c.cmd(&["FCALL_RO", "balance", "1", "x"]), bulk("5"));
    assert_eq!(c.cmd(&["FUNCTION", "DUMP"]), V::Bulk(payload));
}

/// Nine thousand functions in one library, and nine thousand libraries of one function:
/// every one loads and answers (each registered callback used to hold a handle of the Lua
/// binding, whose ~8000 slots ran out).
#[test]
fn thousands_of_functions_load_and_answer() {
    let _serial = serial();
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    let mut big = String::from("#!lua name=big\n");
    for i in 0..9000 {
        big.push_str(&format!(
            "redis.register_function('big{i}', function() return {i} end)\n"
        ));
    }
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &big]), bulk("big"));
    assert_eq!(c.cmd(&["FCALL", "big0", "0"]), V::Int(0));
    assert_eq!(c.cmd(&["FCALL", "big8999", "0"]), V::Int(8999));
    for i in 0..9000 {
        let lib =
            format!("#!lua name=l{i}\nredis.register_function('f{i}', function() return {i} end)");
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", &lib]), bulk(&format!("l{i}")));
    }
    assert_eq!(c.cmd(&["FCALL", "f0", "0"]), V::Int(0));
    assert_eq!(c.cmd(&["FCALL", "f8999", "0"]), V::Int(8999));
    // A library replaced or deleted frees its callbacks; the others still answer.
    let again = "#!lua name=l1\nredis.register_function('f1', function() return 'again' end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", "REPLACE", again]), bulk("l1"));
    assert_eq!(c.cmd(&["FCALL", "f1", "0"]), bulk("again"));
    assert_eq!(
        c.cmd(&["FUNCTION", "DELETE", "big"]),
        V::Simple("OK".into())
    );
    assert!(matches!(c.cmd(&["FCALL", "big0", "0"]), V::Err(_)));
    assert_eq!(c.cmd(&["FCALL", "f2", "0"]), V::Int(2));
}
