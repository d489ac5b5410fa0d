//! A long script in the real server with its default single connection thread: other
//! clients — including ones that connect while it runs — get -BUSY once
//! `busy-reply-threshold` has passed, SCRIPT KILL stops it, and the server goes on; nor
//! does a script cache past the Lua binding's reference limit stop it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn send(s: &mut TcpStream, args: &[&str]) {
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(out.as_bytes()).expect("write");
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).expect("read");
    l.trim_end().to_string()
}

/// PING through `s` until the running script has passed busy-reply-threshold (-BUSY);
/// PONG until then.
fn wait_busy(s: &mut TcpStream, r: &mut BufReader<TcpStream>) {
    let t0 = Instant::now();
    loop {
        send(s, &["PING"]);
        let reply = line(r);
        if reply.starts_with("-BUSY") {
            return;
        }
        assert_eq!(reply, "+PONG");
        assert!(t0.elapsed() < Duration::from_secs(15), "never busy");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = common::tcp(port);
    let r = BufReader::new(s.try_clone().expect("clone"));
    (s, r)
}

#[test]
fn script_kill_and_busy_with_the_default_io_threads() {
    let server = common::ChildServer::start(&["--busy-reply-threshold", "200"]);
    let port = server.port;
    let (mut a, mut ar) = connect(port);
    send(&mut a, &["PING"]);
    assert_eq!(line(&mut ar), "+PONG");
    let (mut b, mut br) = connect(port);
    send(&mut b, &["PING"]);
    assert_eq!(line(&mut br), "+PONG");
    send(
        &mut a,
        &["EVAL", "local i = 0 while true do i = i + 1 end", "0"],
    );
    // A client connected before the script: PONG until the script has run past the
    // threshold, then -BUSY.
    wait_busy(&mut b, &mut br);
    // And one that connects while it runs (registered by the script's thread meanwhile).
    let (mut c, mut cr) = connect(port);
    send(&mut c, &["GET", "x"]);
    let busy = line(&mut cr);
    assert!(busy.starts_with("-BUSY"), "{busy}");
    send(&mut c, &["SCRIPT", "KILL"]);
    assert_eq!(line(&mut cr), "+OK");
    let killed = line(&mut ar);
    assert!(
        killed.starts_with("-") && killed.contains("killed"),
        "{killed}"
    );
    // Everything serves again, the new client included.
    send(&mut c, &["SET", "x", "1"]);
    assert_eq!(line(&mut cr), "+OK");
    send(&mut a, &["GET", "x"]);
    assert_eq!(line(&mut ar), "$1");
    assert_eq!(line(&mut ar), "1");
}

/// A function that ran quickly before and is then replaced (FUNCTION LOAD REPLACE) by one
/// that loops forever: a client connected before it still gets -BUSY, and FUNCTION KILL
/// stops it (Redis's functions.tcl "test function kill" does exactly this).
#[test]
fn function_replaced_by_a_slow_one_is_still_killable() {
    let server = common::ChildServer::start(&["--busy-reply-threshold", "100"]);
    let port = server.port;
    let lib = |body: &str| {
        format!("#!lua name=test\nredis.register_function('test', function(KEYS, ARGV) {body} end)")
    };
    let (mut a, mut ar) = connect(port);
    let (mut b, mut br) = connect(port);
    send(&mut a, &["FUNCTION", "LOAD", &lib("return 'hello'")]);
    assert_eq!(line(&mut ar), "$4");
    line(&mut ar);
    for _ in 0..3 {
        send(&mut a, &["FCALL", "test", "0"]);
        assert_eq!(line(&mut ar), "$5");
        assert_eq!(line(&mut ar), "hello");
    }
    send(
        &mut b,
        &[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            &lib("local a = 1 while true do a = a + 1 end"),
        ],
    );
    assert_eq!(line(&mut br), "$4");
    line(&mut br);
    send(&mut a, &["FCALL", "test", "0"]);
    wait_busy(&mut b, &mut br);
    send(&mut b, &["FUNCTION", "KILL"]);
    assert_eq!(line(&mut br), "+OK");
    let killed = line(&mut ar);
    assert!(killed.contains("killed"), "{killed}");
    send(&mut b, &["PING"]);
    assert_eq!(line(&mut br), "+PONG");
}

/// A script that catches the kill error with pcall still dies (the hook then raises at
/// every instruction, as Redis's every-line hook): scripting.tcl "Timedout read-only
/// scripts can be killed by SCRIPT KILL even when use pcall" left the server busy.
#[test]
fn a_script_that_pcalls_around_the_kill_still_dies() {
    let server = common::ChildServer::start(&["--busy-reply-threshold", "50"]);
    let port = server.port;
    let (mut a, mut ar) = connect(port);
    let (mut b, mut br) = connect(port);
    send(
        &mut a,
        &[
            "EVAL",
            "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
            "0",
        ],
    );
    wait_busy(&mut b, &mut br);
    send(&mut b, &["SCRIPT", "KILL"]);
    assert_eq!(line(&mut br), "+OK");
    let killed = line(&mut ar);
    assert!(killed.contains("killed"), "{killed}");
    send(&mut b, &["PING"]);
    assert_eq!(line(&mut br), "+PONG");
    // The next script runs normally (the hook is sparse again).
    send(
        &mut a,
        &[
            "EVAL",
            "local n = 0 for i = 1, 1000000 do n = n + 1 end return n",
            "0",
        ],
    );
    assert_eq!(line(&mut ar), ":1000000");
}

/// Transactions around a busy script, as Redis (multi.tcl "MULTI and script timeout",
/// "EXEC and script timeout", "MULTI-EXEC body and script timeout", "just EXEC and
/// script timeout"): MULTI is allowed while busy, a command refused with -BUSY inside
/// MULTI dooms the transaction, EXEC refused while busy is -EXECABORT … BUSY and leaves
/// MULTI.
#[test]
fn transactions_around_a_busy_script() {
    let server = common::ChildServer::start(&["--busy-reply-threshold", "10"]);
    let port = server.port;
    let (mut r, mut rr) = connect(port);
    let (mut rd, mut rdr) = connect(port);
    let (mut r2, mut r2r) = connect(port);
    let busy = |r: &mut TcpStream, rr: &mut BufReader<TcpStream>| {
        let t0 = Instant::now();
        loop {
            send(r, &["PING"]);
            if line(rr).starts_with("-BUSY") {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(15), "never busy");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let kill = |r: &mut TcpStream, rr: &mut BufReader<TcpStream>, rd: &mut BufReader<TcpStream>| {
        send(r, &["SCRIPT", "KILL"]);
        assert_eq!(line(rr), "+OK");
        assert!(line(rd).contains("killed"));
    };
    let get_xx = |r: &mut TcpStream, rr: &mut BufReader<TcpStream>| {
        send(r, &["GET", "xx"]);
        line(rr);
        line(rr)
    };
    let spin = ["EVAL", "while true do end", "0"];
    // MULTI during the script, a refused command, EXEC after it: EXECABORT.
    send(&mut r, &["SET", "xx", "1"]);
    line(&mut rr);
    send(&mut rd, &spin);
    busy(&mut r, &mut rr);
    send(&mut r2, &["MULTI"]);
    assert_eq!(line(&mut r2r), "+OK");
    send(&mut r2, &["INCR", "xx"]);
    assert!(line(&mut r2r).starts_with("-BUSY"));
    kill(&mut r, &mut rr, &mut rdr);
    send(&mut r2, &["INCR", "xx"]);
    assert_eq!(line(&mut r2r), "+QUEUED");
    send(&mut r2, &["EXEC"]);
    assert!(
        line(&mut r2r).starts_with("-EXECABORT Transaction discarded because of previous errors")
    );
    assert_eq!(get_xx(&mut r, &mut rr), "1");
    send(&mut r2, &["PING", "asdf"]);
    assert_eq!(line(&mut r2r), "$4");
    line(&mut r2r);
    // MULTI before the script, EXEC during it: EXECABORT … BUSY, out of MULTI.
    send(&mut r2, &["MULTI"]);
    assert_eq!(line(&mut r2r), "+OK");
    send(&mut r2, &["INCR", "xx"]);
    assert_eq!(line(&mut r2r), "+QUEUED");
    send(&mut rd, &spin);
    busy(&mut r, &mut rr);
    send(&mut r2, &["EXEC"]);
    let e = line(&mut r2r);
    assert!(
        e.starts_with("-EXECABORT Transaction discarded because of: BUSY"),
        "{e}"
    );
    kill(&mut r, &mut rr, &mut rdr);
    assert_eq!(get_xx(&mut r, &mut rr), "1");
    send(&mut r2, &["PING", "asdf"]);
    assert_eq!(line(&mut r2r), "$4");
    line(&mut r2r);
}

/// A client that connects while a script runs (it cannot be registered until the script
/// ends) gets the transaction answers of a client connected before, and its transaction
/// state carries over once registered: MULTI is allowed, a command refused with -BUSY
/// dooms the transaction.
#[test]
fn a_client_connecting_during_a_busy_script_gets_the_same_transaction_rules() {
    let server = common::ChildServer::start(&["--busy-reply-threshold", "10"]);
    let port = server.port;
    let (mut r, mut rr) = connect(port);
    let (mut rd, mut rdr) = connect(port);
    for (s, sr) in [(&mut r, &mut rr), (&mut rd, &mut rdr)] {
        send(s, &["PING"]);
        assert_eq!(line(sr), "+PONG");
    }
    send(&mut rd, &["EVAL", "while true do end", "0"]);
    let t0 = Instant::now();
    loop {
        send(&mut r, &["PING"]);
        if line(&mut rr).starts_with("-BUSY") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "never busy");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut n, mut nr) = connect(port);
    send(&mut n, &["MULTI"]);
    assert_eq!(line(&mut nr), "+OK");
    send(&mut n, &["MULTI"]);
    assert_eq!(line(&mut nr), "-ERR MULTI calls can not be nested");
    send(&mut n, &["INCR", "xx"]);
    assert!(line(&mut nr).starts_with("-BUSY"));
    send(&mut r, &["SCRIPT", "KILL"]);
    assert_eq!(line(&mut rr), "+OK");
    assert!(line(&mut rdr).contains("killed"));
    send(&mut n, &["INCR", "xx"]);
    assert_eq!(line(&mut nr), "+QUEUED");
    send(&mut n, &["EXEC"]);
    assert!(
        line(&mut nr).starts_with("-EXECABORT Transaction discarded because of previous errors")
    );
    send(&mut n, &["GET", "xx"]);
    assert_eq!(line(&mut nr), "$-1");
}

/// Commands flagged `allow-busy` (HELLO, WATCH, AUTH, QUIT …) run while a script is busy,
/// between the script's own commands, as Redis runs them from its event loop: a script
/// waiting for a client name sees the HELLO SETNAME another client sends meanwhile
/// (Redis's scripting.tcl "Timedout scripts and unblocked command"), and a client parked
/// on the key the script pushes is served only after the script, with its last push.
#[test]
fn allow_busy_commands_run_while_a_script_is_busy() {
    let server = common::ChildServer::start(&["--busy-reply-threshold", "100"]);
    let port = server.port;
    let (mut a, mut ar) = connect(port);
    let (mut b, mut br) = connect(port);
    let (mut c, mut cr) = connect(port);
    let (mut w, mut wr) = connect(port);
    // Every connection is registered before the script starts (the test for one that
    // connects while it runs is `a_client_connecting_to_a_busy_script_is_served_as_in_redis`).
    for (s, r) in [(&mut b, &mut br), (&mut c, &mut cr), (&mut w, &mut wr)] {
        send(s, &["PING"]);
        assert_eq!(line(r), "+PONG");
    }
    send(&mut w, &["BLPOP", "x", "0"]);
    // ... and the BLPOP is parked before it starts.
    let t0 = Instant::now();
    loop {
        send(&mut b, &["CLIENT", "LIST"]);
        let len: usize = line(&mut br)[1..].parse().expect("bulk length");
        let mut list = vec![0u8; len + 2];
        std::io::Read::read_exact(&mut br, &mut list).expect("CLIENT LIST");
        if String::from_utf8_lossy(&list).contains("cmd=blpop") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "BLPOP never parked");
        std::thread::sleep(Duration::from_millis(10));
    }
    send(&mut a, &["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]);
    assert_eq!(line(&mut ar), "+OK");
    send(
        &mut a,
        &[
            "EVAL",
            "redis.call('lpush', KEYS[1], 'y') \
             local clients \
             while true do \
               clients = redis.call('client', 'list') \
               if string.find(clients, 'abortscript') ~= nil then break end \
             end \
             redis.call('lpush', KEYS[1], 'z') \
             return 'done'",
            "1",
            "x",
        ],
    );
    wait_busy(&mut b, &mut br);
    // Not allowed while busy: still -BUSY.
    send(&mut c, &["GET", "x"]);
    assert!(line(&mut cr).starts_with("-BUSY"));
    // WATCH runs (and watches: the script's last push breaks the transaction later).
    send(&mut c, &["WATCH", "x"]);
    assert_eq!(line(&mut cr), "+OK");
    send(&mut b, &["HELLO", "2", "SETNAME", "abortscript"]);
    assert_eq!(line(&mut br), "*14", "HELLO's reply");
    while line(&mut br) != "*0" {} // the map ends with `modules`, empty
    assert_eq!(line(&mut ar), "$4");
    assert_eq!(line(&mut ar), "done");
    // The parked client gets the script's last push, after the script.
    assert_eq!(line(&mut wr), "*2");
    assert_eq!((line(&mut wr), line(&mut wr)), ("$1".into(), "x".into()));
    assert_eq!((line(&mut wr), line(&mut wr)), ("$1".into(), "z".into()));
    send(&mut b, &["CLIENT", "GETNAME"]);
    assert_eq!(
        (line(&mut br), line(&mut br)),
        ("$11".into(), "abortscript".into())
    );
    // The WATCH made while busy holds: the key changed after it, so EXEC aborts.
    send(&mut a, &["LPUSH", "x", "after"]);
    assert_eq!(line(&mut ar), ":2");
    send(&mut c, &["MULTI"]);
    assert_eq!(line(&mut cr), "+OK");
    send(&mut c, &["PING"]);
    assert_eq!(line(&mut cr), "+QUEUED");
    send(&mut c, &["EXEC"]);
    assert_eq!(line(&mut cr), "*-1");
}

/// Read HELLO's RESP3 map (`%7`, ending with `modules`, empty) from `r`.
fn hello3(r: &mut BufReader<TcpStream>) {
    assert_eq!(line(r), "%7", "HELLO 3's reply");
    while line(r) != "*0" {}
}

/// While a script loops without calling Redis, past busy-reply-threshold: a client that
/// connects then is registered by the script's thread and served as Redis serves it
/// (HELLO and WATCH run, MULTI is allowed, other commands get -BUSY at once — the threshold
/// counts from the script's start, not from the command's arrival — and EXEC aborts); a
/// client connected before gets its HELLO answered while the script still runs (the
/// script's instruction hook serves them, not only its `redis.call`s). Replies as
/// redis-server 7.0 sends them for the same input.
#[test]
fn a_client_connecting_to_a_busy_script_is_served_as_in_redis() {
    let server = common::ChildServer::start(&["--busy-reply-threshold", "2000"]);
    let port = server.port;
    let (mut a, mut ar) = connect(port);
    let (mut b, mut br) = connect(port);
    for (s, r) in [(&mut a, &mut ar), (&mut b, &mut br)] {
        send(s, &["PING"]);
        assert_eq!(line(r), "+PONG");
    }
    send(&mut a, &["EVAL", "while true do end", "0"]);
    wait_busy(&mut b, &mut br);
    let (mut c, mut cr) = connect(port);
    let t0 = Instant::now();
    let pipeline = [
        &["HELLO", "3"][..],
        &["WATCH", "x"],
        &["MULTI"],
        &["GET", "x"],
        &["EXEC"],
        &["CLIENT", "SETNAME", "foo"],
        &["RESET"],
        &["GET", "x"],
    ];
    for args in pipeline {
        send(&mut c, args);
    }
    hello3(&mut cr);
    assert_eq!(line(&mut cr), "+OK", "WATCH");
    assert_eq!(line(&mut cr), "+OK", "MULTI");
    let busy =
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    assert_eq!(line(&mut cr), busy, "GET in MULTI");
    assert_eq!(
        line(&mut cr),
        format!(
            "-EXECABORT Transaction discarded because of: {}",
            &busy[1..]
        )
    );
    assert_eq!(line(&mut cr), busy, "CLIENT SETNAME");
    assert_eq!(line(&mut cr), "+RESET");
    assert_eq!(line(&mut cr), busy, "GET after RESET");
    // Well before another threshold: nothing waited for one of its own.
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        t0.elapsed()
    );
    // The client connected before: HELLO runs while the script still loops.
    send(&mut b, &["HELLO", "3"]);
    hello3(&mut br);
    send(&mut b, &["PING"]);
    assert_eq!(line(&mut br), busy, "the script still runs");
    send(&mut c, &["SCRIPT", "KILL"]);
    assert_eq!(line(&mut cr), "+OK");
    assert!(line(&mut ar).contains("killed"));
    // The new client is a client like any other now (RESET put it back on RESP2).
    send(&mut c, &["CLIENT", "SETNAME", "foo"]);
    assert_eq!(line(&mut cr), "+OK");
    send(&mut b, &["CLIENT", "GETNAME"]);
    assert_eq!(line(&mut br), "_", "b's own name: none (RESP3 null)");
}

/// SHUTDOWN NOSAVE while a script that wrote loops forever: the server exits (it used to
/// close its port and spin on in the script), and the next start has every write
/// acknowledged before the script and none of the script's (its effects are one record,
/// logged when it ends, so it is all or nothing on disk as in memory).
#[test]
fn shutdown_nosave_stops_a_server_busy_in_a_script() {
    let mut server = common::ChildServer::start(&["--busy-reply-threshold", "100"]);
    let port = server.port;
    let (mut a, mut ar) = connect(port);
    let (mut b, mut br) = connect(port);
    send(&mut a, &["SET", "before", "1"]);
    assert_eq!(line(&mut ar), "+OK");
    send(
        &mut a,
        &[
            "EVAL",
            "redis.call('set', 'inside', '1') while true do end",
            "0",
        ],
    );
    wait_busy(&mut b, &mut br);
    // Not killable: it wrote.
    send(&mut b, &["SCRIPT", "KILL"]);
    assert!(line(&mut br).starts_with("-UNKILLABLE"));
    send(&mut b, &["SHUTDOWN", "NOSAVE"]);
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.is_some(), "still running 10 s after SHUTDOWN NOSAVE");
    let server = server.restart(&[]);
    let (mut c, mut cr) = connect(server.port);
    // The new server answers -LOADING while it loads (as Redis); on a loaded machine the
    // first GET can find it still loading.
    loop {
        send(&mut c, &["GET", "before"]);
        let first = line(&mut cr);
        if first.starts_with("-LOADING") {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        assert_eq!((first, line(&mut cr)), ("$1".into(), "1".into()));
        break;
    }
    send(&mut c, &["EXISTS", "inside"]);
    assert_eq!(line(&mut cr), ":0");
}

/// A SIGINT while a script loops schedules the shutdown, which waits for the script (as in
/// Redis); a second SIGINT insists and the server exits at once (it used to wait for the
/// engine the script holds).
#[test]
fn a_second_sigint_exits_a_server_busy_in_a_script() {
    let mut server = common::ChildServer::start(&["--busy-reply-threshold", "100"]);
    let (mut a, mut ar) = connect(server.port);
    let (mut b, mut br) = connect(server.port);
    send(&mut a, &["PING"]);
    assert_eq!(line(&mut ar), "+PONG");
    send(&mut a, &["EVAL", "while true do end", "0"]);
    wait_busy(&mut b, &mut br);
    let sigint = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -INT");
    };
    sigint(server.pid());
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "one SIGINT waits for the script"
    );
    sigint(server.pid());
    assert!(
        server.wait_exit(Duration::from_secs(10)).is_some(),
        "still running 10 s after a second SIGINT"
    );
}

/// Ten thousand distinct scripts, then scripts that return thousands of values: each is
/// answered and the server goes on (before, the script cache held an mlua handle per
/// script, ~8000 at most: the next EVAL panicked and the server stayed -BUSY for good).
#[test]
fn ten_thousand_cached_scripts_and_huge_returns_leave_the_server_serving() {
    let server = common::ChildServer::start(&[]);
    let (mut a, mut ar) = connect(server.port);
    // Pipelined in chunks: one write, then the replies.
    for chunk in 0..10 {
        let mut out = Vec::new();
        for i in 0..1000 {
            let body = format!("return {}", chunk * 1000 + i);
            out.extend_from_slice(
                format!(
                    "*3\r\n$4\r\nEVAL\r\n${}\r\n{body}\r\n$1\r\n0\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        }
        a.write_all(&out).expect("write");
        for i in 0..1000 {
            assert_eq!(line(&mut ar), format!(":{}", chunk * 1000 + i));
        }
    }
    // The first script is still cached: EVALSHA finds it.
    send(&mut a, &["SCRIPT", "LOAD", "return 0"]);
    let sha = line(&mut ar);
    assert!(sha.starts_with('$'), "{sha}");
    let sha = line(&mut ar);
    send(&mut a, &["EVALSHA", &sha, "0"]);
    assert_eq!(line(&mut ar), ":0");
    let many = "local t = {} for i = 1, 7900 do t[i] = 'v' .. i end return unpack(t)";
    send(&mut a, &["EVAL", many, "0"]);
    assert_eq!(line(&mut ar), "$2");
    assert_eq!(line(&mut ar), "v1");
    send(&mut a, &["PING"]);
    assert_eq!(line(&mut ar), "+PONG");
}
