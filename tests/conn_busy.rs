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
            assert_eq!(
                read_until_quiet(b, Duration::from_millis(200)).0,
                "+PONG\r\n"
            );
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
            let (text, closed) = read_until_quiet(b, Duration::from_millis(1500));
            assert!(
                text.starts_with("+PONG\r\n-ERR Protocol error"),
                "busy={busy}: got {text:?}"
            );
            assert!(closed, "busy={busy}: connection left open after {text:?}");
        }
        drop(sleeper);
    }
}
