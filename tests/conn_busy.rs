//! A connection whose commands arrive while another connection holds the engine (the
//! connection loop then goes round, `try_execute_many`): nothing it sent may be lost or
//! answered differently from an idle server.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;

/// Everything the server sends on `s` until it closes the connection or `quiet` passes
/// without a byte; true if it closed.
fn read_until_quiet(s: &mut TcpStream, quiet: Duration) -> (String, bool) {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    let closed = loop {
        match s.read(&mut b) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&b[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// How long to wait for what the server must send (or for it to close) before calling it
/// lost: generous, since a loaded machine can be slow, and a lost reply never comes.
const PATIENCE: Duration = Duration::from_secs(30);

/// Read from `s` until what arrived ends with `end` (or the server closes, or `PATIENCE`
/// passes); returns what arrived.
fn read_through(s: &mut TcpStream, end: &str) -> String {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    while !out.ends_with(end.as_bytes()) {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn connect(srv: &TestServer) -> TcpStream {
    let s = TcpStream::connect(srv.addr).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// An inline command with unbalanced quotes after a good one: `+PONG`, the protocol error,
/// then the server closes the connection — also when another connection held the engine
/// when the bytes arrived (the decoder had consumed the bad line, and going round must not
/// forget the error: the connection stayed open, the error never sent).
#[test]
fn protocol_error_after_a_command_survives_a_busy_engine() {
    let srv = TestServer::start(&[]);
    for busy in [false, true, true, true] {
        let mut bs: Vec<TcpStream> = (0..3).map(|_| connect(&srv)).collect();
        for b in &mut bs {
            b.write_all(b"PING\r\n").unwrap();
            assert_eq!(read_through(b, "\r\n"), "+PONG\r\n");
        }
        let sleeper = busy.then(|| {
            let mut a = connect(&srv);
            a.write_all(b"DEBUG SLEEP 0.5\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            a
        });
        for b in &mut bs {
            b.write_all(b"PING\r\nSET \"a b\r\n").unwrap();
        }
        for b in &mut bs {
            let (text, closed) = read_until_quiet(b, PATIENCE);
            assert!(
                text.starts_with("+PONG\r\n-ERR Protocol error"),
                "busy={busy}: got {text:?}"
            );
            assert!(closed, "busy={busy}: connection left open after {text:?}");
        }
        drop(sleeper);
    }
}

/// The stop/kill/pub-sub wake-ups are armed once per connection and re-armed (79eef42):
/// a subscriber gets every message published one by one (each a wake-up of its own), and
/// a kill ends a connection whatever it did before — idle after many requests, after pub/sub
/// deliveries, or parked in BLPOP after a pipelined batch.
#[test]
fn kill_and_pubsub_wakeups_are_never_lost() {
    let srv = TestServer::start(&[]);
    let mut ctl = srv.raw();
    // Pub/sub: 300 messages, each published alone after the previous one arrived.
    let mut sub = connect(&srv);
    sub.write_all(b"SUBSCRIBE ch\r\n").unwrap();
    let r = read_through(&mut sub, ":1\r\n");
    assert!(r.contains("subscribe"), "{r:?}");
    sub.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = String::new();
    for i in 0..300 {
        let n = ctl.cmd(&["PUBLISH", "ch", &format!("m{i}")]);
        assert_eq!(format!("{n:?}"), "Int(1)");
        let want = format!("m{i}\r\n");
        let mut b = [0u8; 4096];
        while !got.ends_with(&want) {
            let k = sub.read(&mut b).expect("message lost");
            assert!(k > 0, "subscriber closed");
            got.push_str(&String::from_utf8_lossy(&b[..k]));
        }
    }
    let ids = |ctl: &mut common::RawClient| -> Vec<i64> {
        let list = ctl.cmd(&["CLIENT", "LIST"]).text();
        list.lines()
            .filter_map(|l| l.split(' ').next()?.strip_prefix("id=")?.parse().ok())
            .collect()
    };
    let kill = |ctl: &mut common::RawClient, id: i64| {
        let r = ctl.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]);
        assert_eq!(format!("{r:?}"), "Int(1)");
    };
    let me = ctl.client_id();
    let others: Vec<i64> = ids(&mut ctl).into_iter().filter(|&i| i != me).collect();
    assert_eq!(others.len(), 1);
    kill(&mut ctl, others[0]);
    assert!(
        read_until_quiet(&mut sub, PATIENCE).1,
        "subscriber not closed"
    );
    // Idle after many requests.
    let mut c = connect(&srv);
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    for _ in 0..50 {
        c.write_all(b"PING\r\n").unwrap();
        let mut r = [0u8; 7];
        c.read_exact(&mut r).unwrap();
        assert_eq!(&r, b"+PONG\r\n");
    }
    let id = *ids(&mut ctl).iter().max().unwrap();
    kill(&mut ctl, id);
    assert!(
        read_until_quiet(&mut c, PATIENCE).1,
        "idle client not closed"
    );
    // Parked in BLPOP after a pipelined batch.
    let mut b = connect(&srv);
    b.write_all(b"PING\r\nPING\r\nBLPOP nolist 0\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    ctl.wait_blocked(1);
    let id = *ids(&mut ctl).iter().max().unwrap();
    kill(&mut ctl, id);
    let (r, closed) = read_until_quiet(&mut b, PATIENCE);
    assert_eq!(r, "+PONG\r\n+PONG\r\n");
    assert!(closed, "blocked client not closed");
    ctl.wait_blocked(0);
}
