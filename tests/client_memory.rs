//! Client memory with real connections: `client-output-buffer-limit` (a reply past the
//! normal hard limit closes the client without it, a subscriber over the pubsub soft limit
//! for longer than its seconds is closed with no traffic, a negative-count HRANDFIELD is
//! cut short by the limit), output a client does not read is queued while the server
//! goes on serving it (and arrives whole, in order), and client eviction under
//! `maxmemory-clients` (an incomplete big request, CONFIG SET lowering the limit, CLIENT
//! NO-EVICT, INFO `evicted_clients`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{TestServer, V};

/// Everything the server sends until it closes the connection (None: still open after
/// `wait`).
fn read_to_close(s: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut all = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return Some(all),
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(all),
            Err(_) => return None,
        }
    }
}

fn client_line(admin: &mut common::RawClient, name: &str) -> Option<String> {
    let list = admin.cmd(&["CLIENT", "LIST"]).text();
    list.lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .map(String::from)
}

fn field(line: &str, f: &str) -> u64 {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{f}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {f} in {line}"))
}

fn info_field(admin: &mut common::RawClient, f: &str) -> u64 {
    common::info_field(&admin.cmd(&["INFO", "all"]).text(), f)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {f} in INFO"))
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn reply_past_the_normal_hard_limit_closes_the_client_without_it() {
    let s = TestServer::start(&[("client-output-buffer-limit", "normal 100000 0 0")]);
    let mut admin = s.raw();
    let item = "x".repeat(1000);
    for _ in 0..150 {
        admin.cmd(&["RPUSH", "l", &item]);
    }
    // Under the limit: answered.
    match admin.cmd(&["LRANGE", "l", "0", "9"]) {
        V::Arr(v) => assert_eq!(v.len(), 10),
        other => panic!("{other:?}"),
    }
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"CLIENT SETNAME big\r\nLRANGE l 0 -1\r\n")
        .unwrap();
    let got = read_to_close(&mut c, Duration::from_secs(10)).expect("closed");
    // The SETNAME reply may have gone out before; the LRANGE reply never does.
    assert!(got.is_empty() || got == b"+OK\r\n", "{} bytes", got.len());
    assert!(client_line(&mut admin, "big").is_none());
    // A pipeline whose replies together pass the limit: no reply at all, and its writes
    // still happened (as Redis, which runs what it read and then frees the client).
    let mut p = TcpStream::connect(s.addr).unwrap();
    let mut req = Vec::new();
    for i in 0..15 {
        req.extend_from_slice(format!("SET k{i} v\r\nLRANGE l 0 9\r\n").as_bytes());
    }
    p.write_all(&req).unwrap();
    let got = read_to_close(&mut p, Duration::from_secs(10)).expect("closed");
    assert!(got.is_empty(), "{} bytes sent", got.len());
    assert_eq!(admin.cmd(&["GET", "k14"]), V::Bulk(b"v".to_vec()));
}

#[test]
fn hrandfield_with_a_huge_negative_count_is_cut_short_by_the_limit() {
    let s = TestServer::start(&[("client-output-buffer-limit", "normal 1000000 0 0")]);
    let mut admin = s.raw();
    admin.cmd(&["HSET", "h", "a", "b"]);
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"HRANDFIELD h -999999999\r\n").unwrap();
    let got = read_to_close(&mut c, Duration::from_secs(20)).expect("closed");
    assert!(got.is_empty(), "{} bytes sent", got.len());
    assert_eq!(admin.cmd(&["PING"]), V::Simple("PONG".into()));
    // Without the limit the same call with a sane count still answers every element.
    admin.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 0 0 0",
    ]);
    match admin.cmd(&["HRANDFIELD", "h", "-1000"]) {
        V::Arr(v) => assert_eq!(v.len(), 1000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pubsub_soft_limit_closes_a_subscriber_after_its_seconds_without_traffic() {
    let s = TestServer::start(&[("client-output-buffer-limit", "pubsub 0 100000 1")]);
    let mut admin = s.raw();
    let mut sub = TcpStream::connect(s.addr).unwrap();
    sub.write_all(b"CLIENT SETNAME slow\r\nSUBSCRIBE ch\r\n")
        .unwrap();
    let mut first = [0u8; 64];
    let _ = sub.read(&mut first).unwrap();
    wait_until("subscribed", || {
        client_line(&mut admin, "slow").is_some_and(|l| l.contains(" sub=1 "))
    });
    // Publish until the subscriber's unsent output passes the soft limit, then stop.
    let msg = "x".repeat(1000);
    let over = Instant::now();
    loop {
        admin.cmd(&["PUBLISH", "ch", &msg]);
        let line = client_line(&mut admin, "slow").expect("still connected");
        if field(&line, "omem") > 100_000 {
            break;
        }
        assert!(over.elapsed() < Duration::from_secs(20), "omem never grew");
    }
    let since = Instant::now();
    // With no more traffic the soft limit runs out: closed after about a second.
    wait_until("soft limit enforced", || {
        client_line(&mut admin, "slow").is_none()
    });
    assert!(
        since.elapsed() >= Duration::from_millis(500),
        "{:?}",
        since.elapsed()
    );
}

#[test]
fn unread_output_is_queued_counted_and_delivered_whole() {
    let s = TestServer::start(&[]);
    let mut admin = s.raw();
    let value: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    admin.send(&[b"SET", b"k", &value]);
    assert_eq!(admin.read(), V::Simple("OK".into()));
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"CLIENT SETNAME reader\r\n").unwrap();
    let mut ok = [0u8; 5];
    c.read_exact(&mut ok).unwrap();
    // 100 GETs (20 MB of replies) without reading: more than the socket buffers take, so
    // the server holds the rest, still reading and running what the client sends.
    let n = 100;
    for _ in 0..n {
        c.write_all(b"GET k\r\n").unwrap();
    }
    c.write_all(b"PING\r\n").unwrap();
    wait_until("output queued", || {
        client_line(&mut admin, "reader").is_some_and(|l| field(&l, "omem") > 1_000_000)
    });
    let line = client_line(&mut admin, "reader").unwrap();
    assert!(field(&line, "tot-mem") > field(&line, "omem"), "{line}");
    // Every reply arrives, whole and in order, once the client reads.
    let mut expected = Vec::new();
    for _ in 0..n {
        expected.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
        expected.extend_from_slice(&value);
        expected.extend_from_slice(b"\r\n");
    }
    expected.extend_from_slice(b"+PONG\r\n");
    let mut got = vec![0u8; expected.len()];
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.read_exact(&mut got).unwrap();
    assert!(got == expected, "replies differ");
    wait_until("output drained", || {
        client_line(&mut admin, "reader").is_some_and(|l| field(&l, "omem") == 0)
    });
}

#[test]
fn client_eviction_takes_the_biggest_client_and_spares_no_evict_ones() {
    let s = TestServer::start(&[("maxmemory-clients", "1mb")]);
    let mut admin = s.raw();
    admin.cmd(&["CLIENT", "NO-EVICT", "on"]);
    assert_eq!(info_field(&mut admin, "evicted_clients"), 0);
    // An incomplete 2 MB argument: the client is evicted while it is still sending it.
    let mut big = TcpStream::connect(s.addr).unwrap();
    big.write_all(b"CLIENT SETNAME big\r\n").unwrap();
    let mut ok = [0u8; 5];
    big.read_exact(&mut ok).unwrap();
    let _ = big.write_all(b"*2\r\n$3\r\nGET\r\n$2000000\r\n");
    let chunk = vec![b'v'; 64 * 1024];
    for _ in 0..24 {
        if big.write_all(&chunk).is_err() {
            break;
        }
    }
    assert!(read_to_close(&mut big, Duration::from_secs(10)).is_some());
    assert!(client_line(&mut admin, "big").is_none());
    assert_eq!(info_field(&mut admin, "evicted_clients"), 1);
    // The same from a NO-EVICT client: kept, its memory shown.
    let mut kept = s.raw();
    kept.cmd(&["CLIENT", "SETNAME", "kept"]);
    kept.cmd(&["CLIENT", "NO-EVICT", "on"]);
    kept.send_raw(b"*2\r\n$3\r\nGET\r\n$2000000\r\n");
    kept.send_raw(&vec![b'v'; 1_500_000]);
    wait_until("query buffer filled", || {
        client_line(&mut admin, "kept").is_some_and(|l| field(&l, "qbuf") >= 1_500_000)
    });
    let line = client_line(&mut admin, "kept").unwrap();
    assert!(field(&line, "tot-mem") > 1_500_000, "{line}");
    assert_eq!(info_field(&mut admin, "evicted_clients"), 1);
    // Two evictable clients under the limit; lowering it evicts the bigger one at once.
    admin.cmd(&["CONFIG", "SET", "maxmemory-clients", "0"]);
    kept.send_raw(&vec![b'v'; 500_000]);
    kept.send_raw(b"\r\n");
    assert_eq!(kept.read(), V::Nil);
    let mut a = s.raw();
    a.cmd(&["CLIENT", "SETNAME", "a"]);
    a.send_raw(b"*2\r\n$3\r\nGET\r\n$400000\r\n");
    a.send_raw(&vec![b'v'; 300_000]);
    let mut b = s.raw();
    b.cmd(&["CLIENT", "SETNAME", "b"]);
    b.send_raw(b"*2\r\n$3\r\nGET\r\n$200000\r\n");
    b.send_raw(&vec![b'v'; 100_000]);
    wait_until("query buffers filled", || {
        client_line(&mut admin, "a").is_some_and(|l| field(&l, "qbuf") >= 300_000)
            && client_line(&mut admin, "b").is_some_and(|l| field(&l, "qbuf") >= 100_000)
    });
    let a_mem = field(&client_line(&mut admin, "a").unwrap(), "tot-mem");
    let total: u64 = admin
        .cmd(&["CLIENT", "LIST"])
        .text()
        .lines()
        .map(|l| field(l, "tot-mem"))
        .sum();
    let limit = (total - a_mem / 2).to_string();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxmemory-clients", &limit]),
        V::Simple("OK".into())
    );
    // Gone from CLIENT LIST as soon as CONFIG SET returns; the smaller one stays.
    assert!(client_line(&mut admin, "a").is_none());
    assert!(client_line(&mut admin, "b").is_some());
    assert_eq!(info_field(&mut admin, "evicted_clients"), 2);
    admin.cmd(&["CONFIG", "RESETSTAT"]);
    assert_eq!(info_field(&mut admin, "evicted_clients"), 0);
}

/// Subscribers that do not read, sent 100 KB messages with `maxmemory-clients` set below
/// what their output reaches: the clients are evicted, not keys (Redis's maxmemory.tcl
/// "eviction due to output buffers of pubsub"). The pub/sub buffers a connection kept
/// after writing used to be memory `used_memory` counted and client memory did not, so key
/// eviction ran first.
#[test]
fn unread_pubsub_output_evicts_clients_before_keys() {
    let s = TestServer::start(&[
        ("maxmemory", "11mb"),
        ("maxmemory-policy", "allkeys-lru"),
        ("maxmemory-clients", "3mb"),
    ]);
    let mut admin = s.raw();
    admin.cmd(&["CLIENT", "NO-EVICT", "on"]);
    for j in 0..50 {
        let k = j.to_string();
        admin.cmd(&["SETRANGE", &k, "100000", "x"]);
    }
    assert_eq!(info_field(&mut admin, "evicted_keys"), 0);
    let mut subs = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(b"SUBSCRIBE bla\r\n").unwrap();
        let mut confirm = [0u8; 32];
        let _ = c.read(&mut confirm).unwrap();
        subs.push(c);
    }
    let big = "x".repeat(100_000);
    let mut sent = 0;
    while info_field(&mut admin, "evicted_clients") == 0
        && info_field(&mut admin, "evicted_keys") == 0
    {
        sent += 1;
        assert!(sent < 2000, "nothing evicted after {sent} messages");
        admin.cmd(&["PUBLISH", "bla", &big]);
    }
    assert!(info_field(&mut admin, "evicted_clients") > 0);
    assert_eq!(
        info_field(&mut admin, "evicted_keys"),
        0,
        "keys went before clients"
    );
    assert_eq!(admin.cmd(&["DBSIZE"]), V::Int(50));
}

/// Clients that send `MGET` of a 100 KB value and never read, with `maxmemory-clients`
/// below what their replies reach: the clients are evicted, not keys (Redis's
/// maxmemory.tcl "eviction due to output buffers of many MGET clients"). A connection's
/// encoded replies wait while the other runnable connections run their commands (see
/// `send_replies`); that buffer must count as client memory meanwhile, or key eviction
/// (which evicts clients first) finds memory no client accounts for and evicts keys.
/// (A child process: the in-process server's runtime does not show it.)
#[test]
fn unread_replies_evict_clients_before_keys() {
    let s = common::ChildServer::start(&[
        "--maxmemory",
        "11mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--maxmemory-clients",
        "3mb",
    ]);
    drop(common::tcp(s.port));
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], s.port).into();
    let mut admin = common::RawClient::connect(addr);
    admin.cmd(&["CLIENT", "NO-EVICT", "on"]);
    for j in 0..50 {
        let k = j.to_string();
        admin.cmd(&["SETRANGE", &k, "100000", "x"]);
    }
    assert_eq!(info_field(&mut admin, "evicted_keys"), 0);
    let mut clients: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut rounds = 0;
    while info_field(&mut admin, "evicted_clients") == 0
        && info_field(&mut admin, "evicted_keys") == 0
    {
        rounds += 1;
        assert!(rounds < 2000, "nothing evicted after {rounds} rounds");
        // (An evicted client's socket may refuse the write: it is dropped.)
        clients.retain_mut(|c| c.write_all(b"*2\r\n$4\r\nMGET\r\n$1\r\n1\r\n").is_ok());
    }
    assert!(info_field(&mut admin, "evicted_clients") > 0);
    assert_eq!(
        info_field(&mut admin, "evicted_keys"),
        0,
        "keys went before clients"
    );
    assert_eq!(admin.cmd(&["DBSIZE"]), V::Int(50));
}

/// A big argument that has all arrived but for its final CRLF (Redis's client-eviction.tcl
/// "avoid client eviction when client is freed by output buffer limit" holds one so): the
/// buffer keeps the room it was given for the argument, not twice that, so a client whose
/// 6 MB argument fits in `maxmemory-clients` 10mb is not evicted (it was, as 12.6 MB, at
/// the next bytes it sent).
#[test]
fn a_big_argument_waiting_for_its_crlf_keeps_its_exact_room() {
    let s = TestServer::start(&[("maxmemory-clients", "10mb")]);
    let mut admin = s.raw();
    let mut c = s.raw();
    c.cmd(&["CLIENT", "SETNAME", "qbuf-client"]);
    let len = 6 * 1024 * 1024;
    c.send_raw(format!("*1\r\n${len}\r\n").as_bytes());
    c.send_raw(&vec![b'v'; len]);
    wait_until("query buffer filled", || {
        client_line(&mut admin, "qbuf-client").is_some_and(|l| field(&l, "qbuf") == len as u64)
    });
    // One more byte (the CR): read, and client eviction looks at the buffer again.
    c.send_raw(b"\r");
    std::thread::sleep(Duration::from_millis(200));
    let line = client_line(&mut admin, "qbuf-client").expect("not evicted");
    assert!(field(&line, "tot-mem") < 7 * 1024 * 1024, "{line}");
    assert_eq!(info_field(&mut admin, "evicted_clients"), 0);
    // The LF completes it: an unknown command, answered as such.
    c.send_raw(b"\n");
    assert!(matches!(c.read(), V::Err(e) if e.starts_with("ERR unknown command")));
}
