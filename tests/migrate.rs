//! MIGRATE from strata to another server (redis-server 7.0 and a second strata): NOKEY,
//! the keys and TTLs arrive, the source keys go unless COPY, REPLACE, KEYS, and Redis's
//! error texts for a target that refuses (BUSYKEY) or cannot be reached; the connection
//! cache (Redis 7.0 keeps a target's connection for 10 s).

mod common;

use common::{Oracle, RawClient, TestServer, V};

fn ok() -> V {
    V::Simple("OK".into())
}

fn check_against(src: &mut RawClient, dst: &mut RawClient, port: u16) {
    let p = port.to_string();
    dst.cmd(&["SELECT", "9"]);
    dst.cmd(&["FLUSHDB"]);
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "nokey", "9", "5000"]),
        V::Simple("NOKEY".into())
    );
    assert_eq!(
        src.cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &p,
            "nokey",
            "9",
            "5000",
            "AUTH2",
            "u",
            "p"
        ]),
        V::Simple("NOKEY".into())
    );
    src.cmd(&["SET", "k", "v", "EX", "100"]);
    src.cmd(&["RPUSH", "l", "a", "b"]);
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "k", "9", "5000"]),
        ok()
    );
    assert_eq!(src.cmd(&["EXISTS", "k"]), V::Int(0));
    assert_eq!(dst.cmd(&["GET", "k"]), V::Bulk(b"v".to_vec()));
    assert!(matches!(dst.cmd(&["TTL", "k"]), V::Int(t) if t > 90 && t <= 100));
    assert_eq!(
        src.cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &p,
            "",
            "9",
            "5000",
            "COPY",
            "KEYS",
            "l",
            "nokey"
        ]),
        ok()
    );
    assert_eq!(src.cmd(&["LLEN", "l"]), V::Int(2));
    assert_eq!(dst.cmd(&["LLEN", "l"]), V::Int(2));
    // The target has it: BUSYKEY, the source keeps it; REPLACE moves it.
    let busy = src.cmd(&["MIGRATE", "127.0.0.1", &p, "l", "9", "5000"]);
    assert_eq!(
        busy,
        V::Err(
            "ERR Target instance replied with error: BUSYKEY Target key name already exists."
                .into()
        )
    );
    assert_eq!(src.cmd(&["EXISTS", "l"]), V::Int(1));
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "l", "9", "5000", "REPLACE"]),
        ok()
    );
    assert_eq!(src.cmd(&["EXISTS", "l"]), V::Int(0));
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "x", "9", "5000", "KEYS", "a"]),
        V::Err(
            "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
                .into()
        )
    );
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "x", "9", "5000", "AUTH"]),
        V::Err("ERR syntax error".into())
    );
}

#[test]
fn migrate_to_redis_and_to_strata() {
    let strata = TestServer::start(&[]);
    let mut src = strata.raw();
    if let Some(oracle) = Oracle::start() {
        let mut dst = oracle.raw();
        check_against(&mut src, &mut dst, oracle.addr.port());
    }
    let other = TestServer::start(&[]);
    let mut dst = other.raw();
    check_against(&mut src, &mut dst, other.addr.port());
    // Nobody listening.
    src.cmd(&["SET", "k", "v"]);
    let port = common::free_port().to_string();
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &port, "k", "0", "200"]),
        V::Err("IOERR error or timeout writing to target instance".into())
    );
    assert_eq!(src.cmd(&["EXISTS", "k"]), V::Int(1));
}

fn cached_sockets(c: &mut RawClient) -> String {
    let V::Bulk(info) = c.cmd(&["INFO", "stats"]) else {
        panic!("INFO");
    };
    let info = String::from_utf8(info).expect("utf8");
    info.lines()
        .find_map(|l| l.strip_prefix("migrate_cached_sockets:"))
        .expect("migrate_cached_sockets")
        .to_string()
}

/// As in Redis 7.0, MIGRATE keeps its connection to a target for the next MIGRATE there
/// (INFO's migrate_cached_sockets), selects a db on it only when it changes, reconnects
/// once when the target closed it meanwhile, and closes it after 10 s unused.
#[test]
fn migrate_caches_its_connection() {
    let strata = TestServer::start(&[]);
    let mut src = strata.raw();
    let other = TestServer::start(&[]);
    let mut dst = other.raw();
    let p = other.addr.port().to_string();
    assert_eq!(cached_sockets(&mut src), "0");
    src.cmd(&["SET", "a", "1"]);
    src.cmd(&["SET", "b", "2"]);
    src.cmd(&["SET", "c", "3"]);
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "a", "0", "5000"]),
        ok()
    );
    assert_eq!(cached_sockets(&mut src), "1");
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "b", "3", "5000"]),
        ok()
    );
    assert_eq!(cached_sockets(&mut src), "1");
    assert_eq!(dst.cmd(&["GET", "a"]), V::Bulk(b"1".to_vec()));
    dst.cmd(&["SELECT", "3"]);
    assert_eq!(dst.cmd(&["GET", "b"]), V::Bulk(b"2".to_vec()));
    // The cached connection is a client of the target; killed there, the next MIGRATE
    // still succeeds (on a new one), into the db it names.
    assert_eq!(
        dst.cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]),
        V::Int(1)
    );
    assert_eq!(
        src.cmd(&["MIGRATE", "127.0.0.1", &p, "c", "3", "5000"]),
        ok()
    );
    assert_eq!(dst.cmd(&["GET", "c"]), V::Bulk(b"3".to_vec()));
    assert_eq!(cached_sockets(&mut src), "1");
    let t0 = std::time::Instant::now();
    while cached_sockets(&mut src) != "0" {
        assert!(t0.elapsed().as_secs() < 30, "never closed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        t0.elapsed().as_secs() >= 8,
        "closed after {:?}",
        t0.elapsed()
    );
}
