//! MIGRATE from strata to another server (redis-server 7.0 and a second strata): NOKEY,
//! the keys and TTLs arrive, the source keys go unless COPY, REPLACE, KEYS, and Redis's
//! error texts for a target that refuses (BUSYKEY) or cannot be reached.

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
