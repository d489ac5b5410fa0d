//! The everyday Redis patterns from our users' playbook, run end to end against strata
//! through redis-rs: cache-aside with TTL and invalidation, a cache-stampede lock with
//! SET NX EX, sessions with per-user session sets, a fixed-window rate limiter, a
//! sliding-window limiter (sorted set + Lua), a token bucket in Lua, lock acquire and
//! token-checked release in Lua, a work queue with BRPOP, pub/sub fan-out with patterns,
//! and a leaderboard.

mod common;

use std::time::Duration;

use redis::Commands;

use common::TestServer;

#[test]
fn cache_aside_with_ttl_and_invalidation() {
    let s = TestServer::start(&[]);
    let mut c = s.redis();
    let load = |c: &mut redis::Connection, id: u32, db_hits: &mut u32| -> String {
        let key = format!("cache:user:{id}");
        if let Some(v) = c.get::<_, Option<String>>(&key).expect("get") {
            return v;
        }
        *db_hits += 1;
        let v = format!("user-{id}-from-db");
        let _: () = c.set_ex(&key, &v, 60).expect("setex");
        v
    };
    let mut hits = 0;
    assert_eq!(load(&mut c, 1, &mut hits), "user-1-from-db");
    assert_eq!(load(&mut c, 1, &mut hits), "user-1-from-db");
    assert_eq!(hits, 1, "second read served from cache");
    let ttl: i64 = c.ttl("cache:user:1").expect("ttl");
    assert!((55..=60).contains(&ttl));
    let _: () = c.del("cache:user:1").expect("invalidate");
    load(&mut c, 1, &mut hits);
    assert_eq!(hits, 2);
}

#[test]
fn stampede_lock_with_set_nx_ex() {
    let s = TestServer::start(&[]);
    let mut a = s.redis();
    let mut b = s.redis();
    let got_a: Option<String> = redis::cmd("SET")
        .arg("lock:rebuild")
        .arg("a")
        .arg("NX")
        .arg("EX")
        .arg(10)
        .query(&mut a)
        .expect("set");
    let got_b: Option<String> = redis::cmd("SET")
        .arg("lock:rebuild")
        .arg("b")
        .arg("NX")
        .arg("EX")
        .arg(10)
        .query(&mut b)
        .expect("set");
    assert_eq!(got_a.as_deref(), Some("OK"));
    assert_eq!(got_b, None, "only one rebuilder");
}

#[test]
fn sessions_with_per_user_sets() {
    let s = TestServer::start(&[]);
    let mut c = s.redis();
    for (sid, user) in [("s1", "alice"), ("s2", "alice"), ("s3", "bob")] {
        let _: () = redis::pipe()
            .atomic()
            .hset(format!("session:{sid}"), "user", user)
            .expire(format!("session:{sid}"), 3600)
            .sadd(format!("user:{user}:sessions"), sid)
            .query(&mut c)
            .expect("create session");
    }
    let mut alice: Vec<String> = c.smembers("user:alice:sessions").expect("smembers");
    alice.sort();
    assert_eq!(alice, ["s1", "s2"]);
    // Log alice out everywhere.
    for sid in &alice {
        let _: () = c.del(format!("session:{sid}")).expect("del");
    }
    let _: () = c.del("user:alice:sessions").expect("del");
    assert!(!c.exists::<_, bool>("session:s1").expect("exists"));
    assert!(c.exists::<_, bool>("session:s3").expect("exists"));
}

#[test]
fn fixed_window_rate_limiter() {
    let s = TestServer::start(&[]);
    let mut c = s.redis();
    let limit = 5;
    let mut allowed = 0;
    for _ in 0..8 {
        let (n, _): (i64, bool) = redis::pipe()
            .atomic()
            .incr("rl:alice:window", 1)
            .expire("rl:alice:window", 60)
            .query(&mut c)
            .expect("incr");
        if n <= limit {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
}

const SLIDING_WINDOW: &str = r#"
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  return 1
end
return 0
"#;

#[test]
fn sliding_window_limiter_in_lua() {
    let s = TestServer::start(&[]);
    let mut c = s.redis();
    let script = redis::Script::new(SLIDING_WINDOW);
    let mut ok = 0;
    for i in 0..10 {
        let r: i64 = script
            .key("sw:bob")
            .arg(1_000 + i)
            .arg(1_000)
            .arg(3)
            .arg(format!("req{i}"))
            .invoke(&mut c)
            .expect("evalsha");
        ok += r;
    }
    assert_eq!(ok, 3);
    // Past the window, requests are allowed again.
    let r: i64 = script
        .key("sw:bob")
        .arg(5_000)
        .arg(1_000)
        .arg(3)
        .arg("late")
        .invoke(&mut c)
        .expect("evalsha");
    assert_eq!(r, 1);
}

const TOKEN_BUCKET: &str = r#"
local key = KEYS[1]
local rate, cap, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + (now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
return allowed
"#;

#[test]
fn token_bucket_in_lua() {
    let s = TestServer::start(&[]);
    let mut c = s.redis();
    let script = redis::Script::new(TOKEN_BUCKET);
    let burst: i64 = (0..5)
        .map(|_| {
            script
                .key("tb")
                .arg(1)
                .arg(3)
                .arg(100)
                .invoke::<i64>(&mut c)
                .expect("eval")
        })
        .sum();
    assert_eq!(burst, 3, "capacity 3");
    let later: i64 = script
        .key("tb")
        .arg(1)
        .arg(3)
        .arg(102)
        .invoke(&mut c)
        .expect("eval");
    assert_eq!(later, 1, "refilled");
}

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

#[test]
fn lock_acquire_and_token_checked_release_in_lua() {
    let s = TestServer::start(&[]);
    let mut c = s.redis();
    let release = redis::Script::new(RELEASE);
    let _: () = redis::cmd("SET")
        .arg("lock:job")
        .arg("token-1")
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query(&mut c)
        .expect("acquire");
    let wrong: i64 = release
        .key("lock:job")
        .arg("token-2")
        .invoke(&mut c)
        .expect("release");
    assert_eq!(wrong, 0, "someone else's token cannot release");
    let right: i64 = release
        .key("lock:job")
        .arg("token-1")
        .invoke(&mut c)
        .expect("release");
    assert_eq!(right, 1);
}

#[test]
fn work_queue_with_brpop() {
    let s = TestServer::start(&[]);
    let addr = s.addr;
    let worker = std::thread::spawn(move || {
        let mut c = redis::Client::open(format!("redis://{addr}/"))
            .expect("client")
            .get_connection()
            .expect("conn");
        let mut done = Vec::new();
        for _ in 0..3 {
            let (_, job): (String, String) = c.brpop("jobs", 5.0).expect("brpop");
            done.push(job);
        }
        done
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut c = s.redis();
    for j in ["j1", "j2", "j3"] {
        let _: () = c.lpush("jobs", j).expect("lpush");
    }
    assert_eq!(worker.join().expect("worker"), ["j1", "j2", "j3"]);
}

#[test]
fn pubsub_fan_out_with_patterns() {
    let s = TestServer::start(&[]);
    let mut subs: Vec<redis::Connection> = (0..3).map(|_| s.redis()).collect();
    let mut ps: Vec<redis::PubSub<'_>> =
        subs.iter_mut().map(redis::Connection::as_pubsub).collect();
    ps[0].subscribe("orders.eu").expect("sub");
    ps[1].psubscribe("orders.*").expect("psub");
    ps[2].psubscribe("*.eu").expect("psub");
    let mut c = s.redis();
    let n: i64 = c.publish("orders.eu", "order-42").expect("publish");
    assert_eq!(n, 3);
    for p in &mut ps {
        p.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let m = p.get_message().expect("message");
        assert_eq!(m.get_channel_name(), "orders.eu");
        assert_eq!(m.get_payload::<String>().expect("payload"), "order-42");
    }
}

#[test]
fn leaderboard() {
    let s = TestServer::start(&[]);
    let mut c = s.redis();
    for (p, sc) in [("ann", 10), ("bob", 30), ("cy", 20), ("dee", 30)] {
        let _: () = c.zadd("lb", p, sc).expect("zadd");
    }
    let _: () = c.zincr("lb", "ann", 25).expect("zincrby");
    let top: Vec<(String, f64)> = c.zrevrange_withscores("lb", 0, 2).expect("top");
    assert_eq!(
        top,
        [
            ("ann".to_string(), 35.0),
            ("dee".to_string(), 30.0),
            ("bob".to_string(), 30.0)
        ]
    );
    let rank: Option<i64> = c.zrevrank("lb", "cy").expect("rank");
    assert_eq!(rank, Some(3));
    // And it is durable: a restart keeps it.
    drop(c);
    let s = s.restart(&[]);
    let mut c = s.redis();
    let score: f64 = c.zscore("lb", "ann").expect("score");
    assert_eq!(score, 35.0);
}
