//! The wire protocol as clients meet it: a 1000-command redis-rs pipeline, inline
//! commands, the protocol errors that close the connection (multibulk and bulk lengths
//! with Redis's exact thresholds and texts), and unknown-command / arity errors that
//! leave the connection usable.

use redis::{ErrorKind, Value};

use crate::common::V;
use crate::support::*;

#[test]
fn pipeline_of_1000_commands() {
    let s = Srv::new();
    let mut r = s.redis();
    let mut p = redis::pipe();
    for i in 0..500 {
        p.cmd("SET").arg(format!("k{i}")).arg(i);
        p.cmd("INCR").arg("counter");
    }
    let out: Vec<Value> = p.query(&mut r).unwrap();
    assert_eq!(out.len(), 1000);
    for (i, pair) in out.chunks(2).enumerate() {
        assert_eq!(pair[0], Value::Okay);
        assert_eq!(pair[1], Value::Int(i as i64 + 1));
    }
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("GET").arg(format!("k{}", i % 500));
    }
    let got: Vec<i64> = p.query(&mut r).unwrap();
    assert_eq!(got, (0..1000).map(|i| i % 500).collect::<Vec<i64>>());
    // An atomic pipeline is not needed here; ignore() drops replies.
    let mut p = redis::pipe();
    p.cmd("SET").arg("x").arg(1).ignore().cmd("GET").arg("x");
    let (x,): (i64,) = p.query(&mut r).unwrap();
    assert_eq!(x, 1);
    // An error inside a pipeline surfaces as the pipeline's error; the connection lives.
    let mut p = redis::pipe();
    p.cmd("SET")
        .arg("s")
        .arg("abc")
        .cmd("INCR")
        .arg("s")
        .cmd("GET")
        .arg("s");
    let err = p.query::<Vec<Value>>(&mut r).unwrap_err();
    assert_eq!(err_text(&err), NOT_INT);
    assert_eq!(q::<String>(&mut r, &["GET", "s"]), "abc");
}

#[test]
fn raw_pipelining_in_one_write() {
    let s = Srv::new();
    let mut raw = s.raw();
    let mut buf = Vec::new();
    for _ in 0..1000 {
        buf.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n");
    }
    raw.send_raw(&buf);
    for i in 1..=1000 {
        assert_eq!(raw.read(), V::Int(i));
    }
}

#[test]
fn inline_commands() {
    let s = Srv::new();
    let mut raw = s.raw();
    raw.send_raw(b"PING\r\n");
    assert_eq!(raw.read(), V::Simple("PONG".into()));
    raw.send_raw(b"SET a \"b c\"\r\n");
    assert_eq!(raw.read(), V::Simple("OK".into()));
    raw.send_raw(b"GET a\r\n");
    assert_eq!(raw.read(), V::Bulk(b"b c".to_vec()));
    raw.send_raw(b"SET q 'x y'\r\nGET q\r\n");
    assert_eq!(raw.read(), V::Simple("OK".into()));
    assert_eq!(raw.read(), V::Bulk(b"x y".to_vec()));
    raw.send_raw(b"SET e \"\\x41\\n\"\r\nGET e\r\n");
    assert_eq!(raw.read(), V::Simple("OK".into()));
    assert_eq!(raw.read(), V::Bulk(b"A\n".to_vec()));
    // Empty lines are skipped; a bare \n ends a line too.
    raw.send_raw(b"\r\n\r\nPING\n");
    assert_eq!(raw.read(), V::Simple("PONG".into()));
    // Inline and multibulk mix on one connection.
    raw.send_raw(b"ECHO hi\r\n*2\r\n$4\r\nECHO\r\n$2\r\nyo\r\n");
    assert_eq!(raw.read(), V::Bulk(b"hi".to_vec()));
    assert_eq!(raw.read(), V::Bulk(b"yo".to_vec()));
    // The value set inline is what redis-rs reads.
    let mut r = s.redis();
    assert_eq!(q::<String>(&mut r, &["GET", "a"]), "b c");
    // Unbalanced quotes: protocol error, connection closed.
    raw.send_raw(b"SET a \"b c\r\n");
    assert_eq!(
        raw.read(),
        V::Err("ERR Protocol error: unbalanced quotes in request".into())
    );
    assert_eq!(raw.try_read(), None);
}

/// Send `bytes` on a fresh connection; expect exactly `err` and then EOF.
fn protocol_error(s: &Srv, bytes: &[u8], err: &str) {
    let mut raw = s.raw();
    raw.send_raw(bytes);
    assert_eq!(
        raw.read(),
        V::Err(err.into()),
        "{:?}",
        String::from_utf8_lossy(bytes)
    );
    assert_eq!(raw.try_read(), None, "connection should close after {err}");
}

#[test]
fn protocol_errors_close_the_connection() {
    let s = Srv::new();
    let mbl = "ERR Protocol error: invalid multibulk length";
    let bl = "ERR Protocol error: invalid bulk length";
    // Multibulk count above INT_MAX (2147483647) is refused at once.
    protocol_error(&s, b"*3000000000\r\n", mbl);
    protocol_error(&s, b"*2147483648\r\n", mbl);
    protocol_error(&s, b"*x\r\n", mbl);
    // Bulk length above proto-max-bulk-len (512mb = 536870912).
    protocol_error(&s, b"*1\r\n$600000000\r\n", bl);
    protocol_error(&s, b"*1\r\n$536870913\r\n", bl);
    protocol_error(&s, b"*1\r\n$x\r\n", bl);
    protocol_error(
        &s,
        b"*1\r\nfoo\r\n",
        "ERR Protocol error: expected '$', got 'f'",
    );
    // Inline request without a newline past 64 KiB.
    protocol_error(
        &s,
        &vec![b'X'; 70 * 1024],
        "ERR Protocol error: too big inline request",
    );
    // At the limits nothing is refused: the server waits for the rest.
    for ok_prefix in [&b"*2147483647\r\n"[..], b"*1\r\n$536870912\r\n"] {
        let mut raw = s.raw();
        raw.send_raw(ok_prefix);
        let mut probe = s.raw();
        assert_eq!(probe.cmd(&["PING"]), V::Simple("PONG".into()));
        drop(raw);
    }
    // Empty and negative multibulk counts are no-ops.
    let mut raw = s.raw();
    raw.send_raw(b"*0\r\n*-1\r\nPING\r\n");
    assert_eq!(raw.read(), V::Simple("PONG".into()));
    // A smaller proto-max-bulk-len applies.
    let small = Srv::start(&[("proto-max-bulk-len", "1mb")]);
    protocol_error(&small, b"*1\r\n$1048577\r\n", bl);
    // The server survives all of it.
    let mut r = s.redis();
    assert_eq!(q::<String>(&mut r, &["PING"]), "PONG");
}

#[test]
fn unauthenticated_protocol_limits() {
    let s = Srv::start(&[("requirepass", "pw")]);
    protocol_error(
        &s,
        b"*11\r\n",
        "ERR Protocol error: unauthenticated multibulk length",
    );
    protocol_error(
        &s,
        b"*1\r\n$16385\r\n",
        "ERR Protocol error: unauthenticated bulk length",
    );
    let mut raw = s.raw();
    raw.send_raw(b"*10\r\n");
    drop(raw);
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&["GET", "a"]),
        V::Err("NOAUTH Authentication required.".into())
    );
    assert_eq!(raw.cmd(&["AUTH", "pw"]), V::Simple("OK".into()));
    // Authenticated, the normal limits apply.
    raw.send_raw(b"*1\r\n$16385\r\n");
    raw.send_raw(&vec![b'x'; 16385]);
    raw.send_raw(b"\r\n");
    assert!(raw.read().text().starts_with("ERR unknown command 'xxxx"));
}

#[test]
fn unknown_command_and_wrong_arity_keep_the_connection() {
    let s = Srv::new();
    let mut r = s.redis();
    let err = ee(&mut r, &["FOO", "a", "b"]);
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert_eq!(
        err_text(&err),
        "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        e(&mut r, &["nosuch"]),
        "ERR unknown command 'nosuch', with args beginning with: "
    );
    assert_eq!(e(&mut r, &["GET"]), arity("get"));
    assert_eq!(e(&mut r, &["get", "a", "b"]), arity("get"));
    assert_eq!(e(&mut r, &["CONFIG", "GET"]), arity("config|get"));
    assert_eq!(q::<String>(&mut r, &["PING"]), "PONG");
    // Raw, the exact lines.
    let mut raw = s.raw();
    raw.send_raw(b"FOO a b\r\nGET\r\nPING\r\n");
    assert_eq!(
        raw.read(),
        V::Err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ".into())
    );
    assert_eq!(
        raw.read(),
        V::Err("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(raw.read(), V::Simple("PONG".into()));
    // Long arguments are cut to 128 characters in the message.
    let long = "x".repeat(200);
    let got = raw.cmd(&["FOO", &long]);
    assert_eq!(
        got,
        V::Err(format!(
            "ERR unknown command 'FOO', with args beginning with: '{}' ",
            "x".repeat(128)
        ))
    );
}

#[test]
fn async_multiplexed_client() {
    let s = Srv::new();
    let client = s.client("");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let con = client.get_multiplexed_async_connection().await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..50 {
            let mut c = con.clone();
            set.spawn(async move {
                let n: i64 = redis::cmd("INCR")
                    .arg("n")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                let () = redis::cmd("SET")
                    .arg(format!("k{i}"))
                    .arg(i)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                n
            });
        }
        let mut seen = Vec::new();
        while let Some(n) = set.join_next().await {
            seen.push(n.unwrap());
        }
        seen.sort();
        assert_eq!(seen, (1..=50).collect::<Vec<i64>>());
        let mut c = con.clone();
        let total: i64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
        assert_eq!(total, 51);
        // Async pipeline and errors.
        let mut p = redis::pipe();
        for i in 0..100 {
            p.cmd("GET").arg(format!("k{}", i % 50));
        }
        let got: Vec<i64> = p.query_async(&mut c).await.unwrap();
        assert_eq!(got, (0..100).map(|i| i % 50).collect::<Vec<i64>>());
        let err = redis::cmd("GET")
            .query_async::<Value>(&mut c)
            .await
            .unwrap_err();
        assert_eq!(err_text(&err), arity("get"));
        let pong: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
        assert_eq!(pong, "PONG");
    });
}

#[test]
fn async_resp3_client() {
    let s = Srv::new();
    let client = s.client("?protocol=resp3");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let h: Value = redis::cmd("HELLO").query_async(&mut c).await.unwrap();
        assert!(matches!(h, Value::Map(_)), "{h:?}");
        let () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query_async(&mut c)
            .await
            .unwrap();
        let got: Option<String> = redis::cmd("GET")
            .arg("k")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some("v"));
        let none: Value = redis::cmd("GET")
            .arg("nokey")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(none, Value::Nil);
    });
}

/// Every command of a pipelined read is answered before AUTH too (redis-rs pipelines its
/// connection setup).
#[test]
fn pipelined_commands_before_auth_are_all_answered() {
    use std::io::{Read, Write};
    let s = Srv::start(&[("requirepass", "secret")]);
    for (bytes, want) in [
        (
            &b"GET x\r\nGET y\r\n"[..],
            "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n",
        ),
        (b"AUTH secret\r\nPING\r\n", "+OK\r\n+PONG\r\n"),
        (
            b"PING\r\nAUTH secret\r\nECHO a\r\n",
            "-NOAUTH Authentication required.\r\n+OK\r\n$1\r\na\r\n",
        ),
    ] {
        let mut t = std::net::TcpStream::connect(s.addr).unwrap();
        t.set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .unwrap();
        t.write_all(bytes).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let t0 = std::time::Instant::now();
        while got.len() < want.len() && t0.elapsed() < std::time::Duration::from_secs(3) {
            if let Ok(n) = t.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(String::from_utf8_lossy(&got), want);
    }
}

/// DEBUG PROTOCOL's RESP3 shapes byte for byte (Redis's debug.c; checked against
/// redis-server with COMMANDS_AGAINST_REDIS=1): an attribute map before its reply, a big
/// number; under RESP2 the attribute is dropped and the big number is a bulk string.
#[test]
fn debug_protocol_attribute_and_big_number_bytes() {
    use std::io::{Read, Write};
    let s = Srv::new();
    let mut c = std::net::TcpStream::connect(s.addr).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut ask = |cmd: &str, want: &str| {
        c.write_all(cmd.as_bytes()).expect("write");
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got).expect("read");
        assert_eq!(String::from_utf8_lossy(&got), want, "{cmd:?}");
    };
    let attrib = "Some real reply following the attribute";
    ask("DEBUG PROTOCOL attrib\r\n", &format!("$39\r\n{attrib}\r\n"));
    ask(
        "DEBUG PROTOCOL bignum\r\n",
        "$37\r\n1234567999999999999999999999999999999\r\n",
    );
    ask("HELLO 3\r\n", "%7\r\n");
    let mut rest = Vec::new();
    // The rest of HELLO's map, then RESP3 replies.
    c.write_all(b"PING\r\n").expect("write");
    let mut b = [0u8; 1];
    while !rest.ends_with(b"+PONG\r\n") {
        c.read_exact(&mut b).expect("read");
        rest.push(b[0]);
    }
    let mut ask = |cmd: &str, want: &str| {
        c.write_all(cmd.as_bytes()).expect("write");
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got).expect("read");
        assert_eq!(String::from_utf8_lossy(&got), want, "{cmd:?}");
    };
    ask(
        "DEBUG PROTOCOL attrib\r\n",
        &format!(
            "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\n{attrib}\r\n"
        ),
    );
    ask(
        "DEBUG PROTOCOL bignum\r\n",
        "(1234567999999999999999999999999999999\r\n",
    );
    ask("DEBUG PROTOCOL true\r\n", "#t\r\n");
    ask(
        "DEBUG PROTOCOL verbatim\r\n",
        "=29\r\ntxt:This is a verbatim\nstring\r\n",
    );
}
