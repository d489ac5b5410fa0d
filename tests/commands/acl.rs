//! ACL users through redis-rs: logging in as a user (URL credentials, AUTH, HELLO AUTH),
//! WHOAMI and CLIENT LIST `user=`, command/key/channel denials with Redis's NOPERM texts,
//! denials inside MULTI (EXECABORT) and rules changed before EXEC, scripts (redis.call,
//! redis.pcall, redis.acl_check_cmd), ACL LOG entries, DELUSER and revoked channels
//! disconnecting clients, `requirepass` as the default user's password, rejected_calls,
//! and errors inside scripts counted once in errorstats.

use redis::Value;

use crate::common::V;
use crate::support::*;

/// A connection logged in as `user` / `pass` through the URL (redis-rs sends AUTH).
fn login(s: &Srv, user: &str, pass: &str) -> redis::Connection {
    let url = format!("redis://{user}:{pass}@{}/", s.addr);
    connect(&redis::Client::open(url).expect("client")).expect("login")
}

/// The connection was closed by the server.
fn dropped(r: &mut redis::Connection) -> bool {
    let res = redis::cmd("PING").query::<Value>(r);
    res.is_err_and(|e| e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
}

/// ACL SETUSER with space-separated rules.
fn setuser(r: &mut redis::Connection, rules: &str) {
    let mut args = vec!["ACL", "SETUSER"];
    args.extend(rules.split(' '));
    ok(r, &args);
}

fn map(v: Value) -> Vec<(String, Value)> {
    match v {
        Value::Array(a) => a
            .chunks(2)
            .map(|kv| (redis::from_redis_value(&kv[0]).expect("key"), kv[1].clone()))
            .collect(),
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| (redis::from_redis_value(&k).expect("key"), v))
            .collect(),
        other => panic!("not a map: {other:?}"),
    }
}

fn field(m: &[(String, Value)], k: &str) -> Value {
    m.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no field {k} in {m:?}"))
}

fn text(v: &Value) -> String {
    redis::from_redis_value(v).expect("text")
}

#[test]
fn login_as_a_user_and_whoami() {
    let s = Srv::new();
    let mut admin = s.redis();
    setuser(&mut admin, "alice on >pw ~* &* +@all");
    let mut a = login(&s, "alice", "pw");
    assert_eq!(q::<String>(&mut a, &["ACL", "WHOAMI"]), "alice");
    let info: String = q(&mut a, &["CLIENT", "INFO"]);
    assert!(info.contains(" user=alice "), "{info}");
    let list: String = q(&mut admin, &["CLIENT", "LIST"]);
    assert!(
        list.contains(" user=alice ") && list.contains(" user=default "),
        "{list}"
    );
    // A wrong password, a disabled user, an unknown one: the same WRONGPASS.
    let url = format!("redis://alice:nope@{}/", s.addr);
    let Err(err) = connect(&redis::Client::open(url).expect("client")) else {
        panic!("logged in with a wrong password");
    };
    assert_eq!(
        err.kind(),
        redis::ErrorKind::AuthenticationFailed,
        "{err:?}"
    );
    assert_eq!(
        e(&mut admin, &["AUTH", "nobody", "x"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    setuser(&mut admin, "alice off");
    assert_eq!(
        e(&mut admin, &["AUTH", "alice", "pw"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    // HELLO AUTH logs in too; RESET goes back to the default user.
    setuser(&mut admin, "alice on");
    let mut raw = s.raw();
    raw.send(&[b"HELLO", b"3", b"AUTH", b"alice", b"pw"]);
    let _ = raw.read();
    raw.send(&[b"ACL", b"WHOAMI"]);
    assert_eq!(raw.read(), V::Bulk(b"alice".to_vec()));
    raw.send(&[b"RESET"]);
    let _ = raw.read();
    raw.send(&[b"ACL", b"WHOAMI"]);
    assert_eq!(raw.read(), V::Bulk(b"default".to_vec()));
}

#[test]
fn command_key_and_channel_denials() {
    let s = Srv::new();
    let mut admin = s.redis();
    setuser(
        &mut admin,
        "bob on >p +@all -hset ~k* %R~r* resetchannels &news.*",
    );
    let mut b = login(&s, "bob", "p");
    ok(&mut b, &["SET", "k1", "v"]);
    assert_eq!(
        e(&mut b, &["HSET", "k2", "f", "v"]),
        "NOPERM this user has no permissions to run the 'hset' command"
    );
    let key_err = "NOPERM this user has no permissions to access one of the keys used as arguments";
    assert_eq!(e(&mut b, &["GET", "other"]), key_err);
    assert_eq!(e(&mut b, &["SET", "r1", "v"]), key_err);
    assert_eq!(q::<Option<String>>(&mut b, &["GET", "r1"]), None);
    assert_eq!(e(&mut b, &["MSET", "k3", "1", "x", "2"]), key_err);
    let chan_err =
        "NOPERM this user has no permissions to access one of the channels used as arguments";
    assert_eq!(e(&mut b, &["PUBLISH", "sports", "m"]), chan_err);
    assert_eq!(q::<i64>(&mut b, &["PUBLISH", "news.today", "m"]), 0);
    assert_eq!(e(&mut b, &["PSUBSCRIBE", "news.t*"]), chan_err);
    // Denials are rejected calls, not calls.
    let stats: String = q(&mut admin, &["INFO", "commandstats"]);
    let hset = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_hset:"))
        .unwrap_or_default();
    assert!(
        hset.contains("calls=0,") && hset.contains("rejected_calls=1,"),
        "{hset}"
    );
    // Each denial is in the ACL LOG, newest first.
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG"]);
    assert_eq!(log.len(), 6);
    let newest = map(log[0].clone());
    assert_eq!(text(&field(&newest, "reason")), "channel");
    assert_eq!(text(&field(&newest, "context")), "toplevel");
    assert_eq!(text(&field(&newest, "object")), "news.t*");
    assert_eq!(text(&field(&newest, "username")), "bob");
    let oldest = map(log[5].clone());
    assert_eq!(text(&field(&oldest, "reason")), "command");
    assert_eq!(text(&field(&oldest, "object")), "hset");
    let info = text(&field(&oldest, "client-info"));
    // The client's line as CLIENT LIST shows it while the command runs: argv-mem is
    // the bytes of HSET k2 f v (as redis-server 7.0 logs it).
    assert!(
        info.contains(" user=bob ") && info.contains(" cmd=hset ") && info.contains(" argv-mem=8 "),
        "{info}"
    );
    let age: f64 = text(&field(&oldest, "age-seconds")).parse().expect("age");
    assert!((0.0..5.0).contains(&age), "{age}");
    // The same denial again within a minute bumps the entry's count.
    let _ = e(&mut b, &["HSET", "k2", "f", "v"]);
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG", "1"]);
    let top = map(log[0].clone());
    assert_eq!(text(&field(&top, "object")), "hset");
    assert_eq!(field(&top, "count"), Value::Int(2));
    // A failed AUTH is logged with the AUTH's own argv-mem (4 + 3 + 5 bytes).
    assert!(e(&mut b, &["AUTH", "bob", "wrong"]).starts_with("WRONGPASS"));
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG", "1"]);
    let auth = map(log[0].clone());
    assert_eq!(text(&field(&auth, "reason")), "auth");
    let info = text(&field(&auth, "client-info"));
    assert!(
        info.contains(" cmd=auth ") && info.contains(" argv-mem=12 "),
        "{info}"
    );
    ok(&mut admin, &["ACL", "LOG", "RESET"]);
    assert_eq!(q::<Vec<Value>>(&mut admin, &["ACL", "LOG"]).len(), 0);
}

#[test]
fn multi_denials_abort_exec() {
    let s = Srv::new();
    let mut admin = s.redis();
    setuser(&mut admin, "tx on nopass +@all -hset ~* &*");
    let mut t = login(&s, "tx", "x");
    ok(&mut t, &["MULTI"]);
    assert_eq!(q::<String>(&mut t, &["SET", "a", "1"]), "QUEUED");
    assert_eq!(
        e(&mut t, &["HSET", "h", "f", "v"]),
        "NOPERM this user has no permissions to run the 'hset' command"
    );
    assert_eq!(
        e(&mut t, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(q::<Option<String>>(&mut admin, &["GET", "a"]), None);
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG", "1"]);
    assert_eq!(text(&field(&map(log[0].clone()), "context")), "multi");
    // Rules changed between queueing and EXEC: the command is refused at EXEC time.
    let mut raw = s.raw();
    raw.send(&[b"AUTH", b"tx", b"x"]);
    let _ = raw.read();
    for cmd in [&[&b"MULTI"[..]][..], &[b"SET", b"a", b"1"], &[b"GET", b"a"]] {
        raw.send(cmd);
        let _ = raw.read();
    }
    setuser(&mut admin, "tx -set");
    raw.send(&[b"EXEC"]);
    assert_eq!(
        raw.read(),
        V::Arr(vec![
            V::Err("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand".into()),
            V::Nil,
        ])
    );
}

#[test]
fn scripts_run_as_the_caller() {
    let s = Srv::new();
    let mut admin = s.redis();
    setuser(&mut admin, "sc on nopass +@scripting +set +get ~x*");
    let mut c = login(&s, "sc", "x");
    ok(
        &mut c,
        &["EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "x1"],
    );
    let err = e(
        &mut c,
        &["EVAL", "return redis.call('hset', 'x2', 'f', 'v')", "0"],
    );
    assert!(
        err.starts_with(
            "ERR The user executing the script can't run this command or subcommand script: "
        ),
        "{err}"
    );
    let err = e(&mut c, &["EVAL", "return redis.pcall('get', 'y')", "0"]);
    assert_eq!(
        err,
        "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
    );
    let check = |c: &mut redis::Connection, call: &str| -> Value {
        v(
            c,
            &["EVAL", &format!("return redis.acl_check_cmd({call})"), "0"],
        )
    };
    assert_eq!(check(&mut c, "'set', 'xx', 1"), Value::Int(1));
    assert_eq!(check(&mut c, "'hset', 'xx', 'f', 1"), Value::Nil);
    assert_eq!(check(&mut c, "'set', 'yy', 1"), Value::Nil);
    let err = e(
        &mut c,
        &["EVAL", "return redis.acl_check_cmd('nosuch')", "0"],
    );
    assert!(
        err.starts_with("ERR Invalid command passed to redis.acl_check_cmd()"),
        "{err}"
    );
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG", "1"]);
    let top = map(log[0].clone());
    assert_eq!(text(&field(&top, "context")), "lua");
    assert_eq!(text(&field(&top, "reason")), "key");
    assert_eq!(text(&field(&top, "object")), "y");
}

#[test]
fn deluser_and_revoked_channels_disconnect() {
    let s = Srv::new();
    let mut admin = s.redis();
    setuser(&mut admin, "gone on nopass +@all ~* &*");
    let mut g = login(&s, "gone", "x");
    let mut g2 = login(&s, "gone", "x");
    assert_eq!(
        q::<i64>(&mut admin, &["ACL", "DELUSER", "gone", "nosuch"]),
        1
    );
    assert!(dropped(&mut g));
    // Deleting oneself: the reply arrives, then the connection closes.
    setuser(&mut admin, "self on nopass +acl ~*");
    let mut me = login(&s, "self", "x");
    assert_eq!(q::<i64>(&mut me, &["ACL", "DELUSER", "self"]), 1);
    assert!(dropped(&mut me));
    assert!(dropped(&mut g2));
    assert_eq!(
        e(&mut admin, &["ACL", "DELUSER", "default"]),
        "ERR The 'default' user cannot be removed"
    );
    // A subscriber whose channel permission is revoked is disconnected; one still
    // allowed stays.
    setuser(&mut admin, "sub on nopass +@all ~* resetchannels &a &b");
    let mut sa = s.raw();
    sa.send(&[b"AUTH", b"sub", b"x"]);
    let _ = sa.read();
    sa.send(&[b"SUBSCRIBE", b"a"]);
    let _ = sa.read();
    let mut sb = s.raw();
    sb.send(&[b"AUTH", b"sub", b"x"]);
    let _ = sb.read();
    sb.send(&[b"SUBSCRIBE", b"b"]);
    let _ = sb.read();
    setuser(&mut admin, "sub resetchannels &b");
    assert_eq!(
        sa.try_read(),
        None,
        "subscriber of a revoked channel still connected"
    );
    sb.send(&[b"PING"]);
    assert_eq!(
        sb.read(),
        V::Arr(vec![V::Bulk(b"pong".to_vec()), V::Bulk(Vec::new())])
    );
}

#[test]
fn requirepass_is_the_default_password() {
    let s = Srv::start(&[("requirepass", "foo")]);
    let mut r = connect(&s.client_pw("foo", "")).expect("auth");
    let user = map(v(&mut r, &["ACL", "GETUSER", "default"]));
    assert_eq!(
        field(&user, "passwords"),
        Value::Array(vec![Value::BulkString(
            b"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".to_vec()
        )])
    );
    // ACL SETUSER default adds a password; AUTH <pass> accepts either.
    setuser(&mut r, "default >bar");
    ok(&mut r, &["AUTH", "bar"]);
    ok(&mut r, &["AUTH", "default", "foo"]);
    let mut fresh = s.raw();
    fresh.send(&[b"GET", b"x"]);
    assert_eq!(
        fresh.read(),
        V::Err("NOAUTH Authentication required.".into())
    );
    // No requirepass: the default user is nopass and new connections are logged in.
    ok(&mut r, &["CONFIG", "SET", "requirepass", ""]);
    let list: Vec<String> = q(&mut r, &["ACL", "LIST"]);
    assert_eq!(list, ["user default on nopass ~* &* +@all"]);
    let mut fresh = s.redis();
    assert_eq!(q::<Option<String>>(&mut fresh, &["GET", "x"]), None);
    assert_eq!(
        e(&mut fresh, &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
}

/// INFO's `total_error_replies`, `errorstat_<code>` and a command's stats line.
fn error_stats(r: &mut redis::Connection, code: &str, cmd: &str) -> (i64, String, String) {
    let info: String = q(r, &["INFO", "all"]);
    let line = |prefix: &str| {
        info.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_default()
            .to_string()
    };
    let total = line("total_error_replies:")
        .trim_start_matches("total_error_replies:")
        .parse()
        .unwrap_or(-1);
    (
        total,
        line(&format!("errorstat_{code}:")),
        line(&format!("cmdstat_{cmd}:")),
    )
}

#[test]
fn script_errors_count_once() {
    let s = Srv::new();
    let mut r = s.redis();
    // (script, its error's code, the command whose stats line must hold `want`, want)
    let cases: [(&[&str], &str, &str, &[&str]); 3] = [
        // An error raised by redis.call is counted where it happened, not again as EVAL's.
        (
            &["EVAL", "return redis.call('select', 99)", "0"],
            "ERR",
            "select",
            &["calls=1,", "failed_calls=1"],
        ),
        // A script refusal is the inner command's rejected call; a pcall error returned
        // as the script's reply is not counted twice either.
        (
            &["EVAL_RO", "return redis.pcall('set', 'x', 'y')", "1", "x"],
            "ERR",
            "set",
            &["calls=0,", "rejected_calls=1,"],
        ),
        // An error the script makes itself is counted once.
        (
            &["EVAL", "return redis.error_reply('MY oops')", "0"],
            "MY",
            "eval",
            &["calls=1,", "failed_calls=1"],
        ),
    ];
    for (script, code, cmd, want) in cases {
        ok(&mut r, &["CONFIG", "RESETSTAT"]);
        let _ = e(&mut r, script);
        let (total, err, line) = error_stats(&mut r, code, cmd);
        assert_eq!(
            (total, err),
            (1, format!("errorstat_{code}:count=1")),
            "{script:?}"
        );
        for w in want {
            assert!(line.contains(w), "{script:?}: {line}");
        }
    }
}

#[test]
fn aclfile_load_and_save() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("users.acl");
    std::fs::write(
        &path,
        "user alice on >pw ~* &* +@all\n\nuser bob off -@all +get ~k* (+set ~x*)\n",
    )
    .expect("write");
    let s = Srv::start(&[("aclfile", path.to_str().expect("path"))]);
    let mut r = s.redis();
    let alice = "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &* +@all";
    let bob = "user bob off ~k* resetchannels -@all +get (~x* resetchannels -@all +set)";
    let default = "user default on nopass ~* &* +@all";
    assert_eq!(
        q::<Vec<String>>(&mut r, &["ACL", "LIST"]),
        [alice, bob, default]
    );
    setuser(&mut r, "zed on nopass +ping");
    ok(&mut r, &["ACL", "SAVE"]);
    let zed = "user zed on nopass resetchannels -@all +ping";
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        format!("{alice}\n{bob}\n{default}\n{zed}\n")
    );
    // A file with errors changes nothing and says why.
    std::fs::write(
        &path,
        "user bob badop +nosuch\nuser\nuser a on\nuser a on\n",
    )
    .expect("write");
    assert_eq!(
        e(&mut r, &["ACL", "LOAD"]),
        "ERR users.acl:1: Syntax error. users.acl:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. users.acl:2 should start with user keyword followed by the username. WARNING: Duplicate user 'a' found on line 4. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
            .replace("users.acl", path.to_str().expect("path"))
    );
    assert_eq!(q::<Vec<String>>(&mut r, &["ACL", "LIST"]).len(), 4);
    // A good file replaces every user (the default one too when listed); clients of the
    // old users are disconnected.
    let mut a = login(&s, "alice", "pw");
    std::fs::write(&path, "user default on nopass ~* &* +@all -flushall\n").expect("write");
    ok(&mut r, &["ACL", "LOAD"]);
    assert_eq!(
        q::<Vec<String>>(&mut r, &["ACL", "LIST"]),
        ["user default on nopass ~* &* +@all -flushall"]
    );
    assert!(dropped(&mut a));
    assert_eq!(
        e(&mut r, &["FLUSHALL"]),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    assert_eq!(
        e(&mut r, &["CONFIG", "SET", "aclfile", "x"]),
        "ERR CONFIG SET failed (possibly related to argument 'aclfile') - can't set immutable config"
    );
    std::fs::remove_file(&path).expect("rm");
    assert_eq!(
        e(&mut r, &["ACL", "LOAD"]),
        format!(
            "ERR Error loading ACLs, opening file '{}': No such file or directory",
            path.display()
        )
    );
}

#[test]
fn users_declared_in_the_config() {
    let s = Srv::start(&[
        ("user", "alice on >pw ~* &* +@all"),
        ("user", "default on nopass ~* &* +@all -flushall"),
    ]);
    let mut r = s.redis();
    assert_eq!(
        q::<Vec<String>>(&mut r, &["ACL", "LIST"]),
        [
            "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &* +@all",
            "user default on nopass sanitize-payload ~* &* +@all -flushall",
        ]
    );
    assert_eq!(
        e(&mut r, &["FLUSHALL"]),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    let mut a = login(&s, "alice", "pw");
    ok(&mut a, &["FLUSHALL"]);
    assert_eq!(
        e(&mut r, &["CONFIG", "SET", "user", "x"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'user'"
    );
}
