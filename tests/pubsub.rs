//! Pub/Sub across real connections: messages and pattern messages reach subscribers
//! (RESP2 arrays and RESP3 pushes), PUBLISH counts receivers, unsubscribing stops
//! delivery, and a subscriber that stops reading is cut off by
//! `client-output-buffer-limit pubsub` instead of growing the server's memory (its queue
//! shows as CLIENT LIST `omem` meanwhile).

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, V};

fn b(s: &str) -> V {
    V::Bulk(s.as_bytes().to_vec())
}

#[test]
fn messages_reach_channel_and_pattern_subscribers() {
    let s = TestServer::start(&[]);
    let mut sub = s.raw();
    let mut psub = s.raw();
    let mut p = s.raw();
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "news"]),
        V::Arr(vec![b("subscribe"), b("news"), V::Int(1)])
    );
    psub.cmd(&["HELLO", "3"]);
    assert_eq!(
        psub.cmd(&["PSUBSCRIBE", "n*"]),
        V::Push(vec![b("psubscribe"), b("n*"), V::Int(1)])
    );
    assert_eq!(p.cmd(&["PUBLISH", "news", "hello"]), V::Int(2));
    assert_eq!(
        sub.read(),
        V::Arr(vec![b("message"), b("news"), b("hello")])
    );
    assert_eq!(
        psub.read(),
        V::Push(vec![b("pmessage"), b("n*"), b("news"), b("hello")])
    );
    assert_eq!(p.cmd(&["PUBLISH", "other", "x"]), V::Int(0));
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "news"]),
        V::Arr(vec![b("news"), V::Int(1)])
    );
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), V::Int(1));
    // RESP3 subscribers keep running ordinary commands.
    assert_eq!(psub.cmd(&["SET", "k", "v"]), V::Simple("OK".into()));
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE", "news"]),
        V::Arr(vec![b("unsubscribe"), b("news"), V::Int(0)])
    );
    assert_eq!(p.cmd(&["PUBLISH", "news", "again"]), V::Int(1));
    assert_eq!(
        psub.read(),
        V::Push(vec![b("pmessage"), b("n*"), b("news"), b("again")])
    );
    // A disconnected subscriber is forgotten.
    drop(psub);
    let t0 = Instant::now();
    while p.cmd(&["PUBSUB", "NUMPAT"]) != V::Int(0) {
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_slow_subscriber_is_cut_off() {
    let s = TestServer::start(&[(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 0 0 0 pubsub 1mb 512kb 60",
    )]);
    let mut slow = s.raw();
    let mut p = s.raw();
    slow.cmd(&["SUBSCRIBE", "firehose"]);
    let payload = "x".repeat(64 * 1024);
    let t0 = Instant::now();
    // The subscriber never reads; the kernel buffers fill, then the server's queue does,
    // which CLIENT LIST shows as its omem (Redis's obuf-limits "hard limit is enforced").
    let mut omem_seen = 0u64;
    loop {
        let n = p.cmd(&["PUBLISH", "firehose", &payload]);
        if n == V::Int(0) {
            break;
        }
        let list = p.cmd(&["CLIENT", "LIST"]).text();
        if let Some(line) = list.lines().find(|l| l.contains(" sub=1 ")) {
            let omem: u64 = line
                .split(' ')
                .find_map(|f| f.strip_prefix("omem="))
                .expect("omem")
                .parse()
                .expect("number");
            omem_seen = omem_seen.max(omem);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "slow subscriber never cut off"
        );
    }
    assert!(
        omem_seen > 0 && omem_seen <= (1 << 20) + 64 * 1024,
        "omem {omem_seen}"
    );
    let t0 = Instant::now();
    loop {
        let info = p.cmd(&["INFO", "clients"]).text();
        if info.contains("connected_clients:1\r") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "firehose"]),
        V::Arr(vec![b("firehose"), V::Int(0)])
    );
}

/// RESP3 push replies get through CLIENT REPLY OFF, as in Redis (pubsub.tcl "PubSub
/// messages with CLIENT REPLY OFF": it waited forever for the confirmations).
#[test]
fn resp3_subscribe_confirmations_ignore_client_reply_off() {
    let s = TestServer::start(&[]);
    let mut sub = s.raw();
    let mut p = s.raw();
    sub.cmd(&["HELLO", "3"]);
    sub.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    sub.send(&[b"SUBSCRIBE", b"channel"]);
    assert_eq!(
        sub.read(),
        V::Push(vec![b("subscribe"), b("channel"), V::Int(1)])
    );
    sub.send(&[b"PSUBSCRIBE", b"ch*"]);
    assert_eq!(
        sub.read(),
        V::Push(vec![b("psubscribe"), b("ch*"), V::Int(2)])
    );
    assert_eq!(p.cmd(&["PUBLISH", "channel", "hello"]), V::Int(2));
    assert_eq!(
        sub.read(),
        V::Push(vec![b("message"), b("channel"), b("hello")])
    );
    assert_eq!(
        sub.read(),
        V::Push(vec![b("pmessage"), b("ch*"), b("channel"), b("hello")])
    );
    // Ordinary replies stay silenced: PING answers nothing, the next push comes next.
    sub.send(&[b"PING"]);
    sub.send(&[b"UNSUBSCRIBE", b"channel"]);
    assert_eq!(
        sub.read(),
        V::Push(vec![b("unsubscribe"), b("channel"), V::Int(1)])
    );
    // RESP2 too (pubsub.tcl "Keyspace notifications: we receive keyspace notifications").
    let mut sub2 = s.raw();
    sub2.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    sub2.send(&[b"PSUBSCRIBE", b"*"]);
    assert_eq!(
        sub2.read(),
        V::Arr(vec![b("psubscribe"), b("*"), V::Int(1)])
    );
    let mut sub3 = s.raw();
    sub3.send(&[b"CLIENT", b"REPLY", b"SKIP"]);
    sub3.send(&[b"PSUBSCRIBE", b"*"]);
    assert_eq!(
        sub3.read(),
        V::Arr(vec![b("psubscribe"), b("*"), V::Int(1)])
    );
    // The SKIP was used up by PSUBSCRIBE: the next reply is sent.
    assert_eq!(sub3.cmd(&["PING"]), V::Arr(vec![b("pong"), b("")]));
}
