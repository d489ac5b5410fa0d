//! The real binary's listening defaults, as Redis 7.0's: `bind * -::*` (every IPv4 address,
//! and every IPv6 one where the host has IPv6) and protected mode, which answers a client
//! from another host `-DENIED …` and closes it while the default user has no password
//! (loopback clients are served); a password or `protected-mode no` lets it in, and each
//! refusal counts in `rejected_connections`. The non-loopback part needs an address of this
//! host other than loopback (the one its default route uses); without one it says so and
//! checks only the local part.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Duration;

/// This host's address on its default route (no packet is sent: a UDP "connect" only
/// picks the route), if it has one that is not loopback.
fn non_loopback_addr() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Connect from `ip`'s side, send PING, and read until the server closes or answers.
fn ping_from(ip: IpAddr, port: u16, auth: Option<&str>) -> String {
    let mut s = TcpStream::connect((ip, port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    if let Some(p) = auth {
        s.write_all(format!("AUTH {p}\r\n").as_bytes())
            .expect("write");
    }
    s.write_all(b"PING\r\n").expect("write");
    let want = if auth.is_some() { 2 } else { 1 };
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.iter().filter(|&&b| b == b'\n').count() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn default_bind_and_protected_mode_like_redis() {
    let server = common::ChildServer::start(&[]);
    let port = server.port;
    drop(common::tcp(port)); // (waits until it listens)
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect");
    let bind: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("bind")
        .query(&mut c)
        .expect("config get");
    assert_eq!(bind, ["bind", "* -::*"]);
    let set = |c: &mut redis::Connection, k: &str, v: &str| {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query(c)
            .expect("config set");
    };
    // IPv6 loopback is served too where the host has it.
    if let Ok(mut s6) = TcpStream::connect(("::1", port)) {
        s6.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s6.write_all(b"PING\r\n").expect("write");
        let mut buf = [0u8; 64];
        let n = s6.read(&mut buf).expect("read");
        assert_eq!(&buf[..n], b"+PONG\r\n");
    }
    let Some(ip) = non_loopback_addr() else {
        eprintln!("no non-loopback address on this host: protected mode not checked remotely");
        return;
    };
    let denied = ping_from(ip, port, None);
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode"),
        "{denied}"
    );
    assert!(denied.ends_with("accepting connections from the outside.\r\n"));
    // A password for the default user lets clients in (after AUTH, as any client).
    set(&mut c, "requirepass", "secret");
    assert_eq!(ping_from(ip, port, Some("secret")), "+OK\r\n+PONG\r\n");
    let mut c = redis::Client::open(format!("redis://:secret@127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect");
    set(&mut c, "requirepass", "");
    assert!(ping_from(ip, port, None).starts_with("-DENIED"));
    set(&mut c, "protected-mode", "no");
    assert_eq!(ping_from(ip, port, None), "+PONG\r\n");
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut c).expect("info");
    assert!(stats.contains("rejected_connections:2\r\n"), "{stats}");
}

/// The `/proc/net/tcp` timer of the server's side of the connection `client` (0: none,
/// 2: keepalive).
#[cfg(target_os = "linux")]
fn server_side_timer(client: &TcpStream) -> String {
    let port = client.peer_addr().expect("peer").port();
    let local = client.local_addr().expect("local").port();
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| {
            f[1].ends_with(&format!(":{port:04X}")) && f[2].ends_with(&format!(":{local:04X}"))
        })
        .map(|f| f[5].split(':').next().unwrap_or_default().to_string())
        .expect("the server's socket")
}

/// `tcp-keepalive` (Redis's default 300 s) turns TCP keepalive on for every client, so a
/// peer that vanished without a FIN is found and closed; 0 leaves it off.
#[test]
#[cfg(target_os = "linux")]
fn tcp_keepalive_is_set_on_clients() {
    for (secs, timer) in [("300", "02"), ("0", "00")] {
        let server = common::ChildServer::start(&["--tcp-keepalive", secs]);
        let mut s = common::tcp(server.port);
        s.write_all(b"PING\r\n").expect("write");
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).expect("read");
        assert_eq!(&buf[..n], b"+PONG\r\n");
        assert_eq!(server_side_timer(&s), timer, "tcp-keepalive {secs}");
    }
}
