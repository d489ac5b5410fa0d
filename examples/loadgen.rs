//! A small load generator for the patterns redis-benchmark cannot drive: PUBLISH with
//! subscribers attached (every message is checked to arrive) and MULTI/EXEC transactions.
//! Plain RESP over tokio TcpStreams, one request in flight per client (no pipelining
//! across requests; a transaction is written in one go, as client libraries do). Prints
//! one line: `<requests per second>` (publishes or transactions per second).
//!
//! Usage:
//!   loadgen publish --port P [--clients 50] [--requests 100000] [--subscribers 1] [--size 32]
//!   loadgen multi   --port P [--clients 50] [--requests 100000] [--incrs 5]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Command-line options.
struct Opts {
    mode: String,
    port: u16,
    clients: u64,
    requests: u64,
    subscribers: u64,
    size: usize,
    incrs: usize,
}

fn parse() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("missing mode: publish | multi")?;
    let mut o = Opts {
        mode,
        port: 6379,
        clients: 50,
        requests: 100_000,
        subscribers: 1,
        size: 32,
        incrs: 5,
    };
    while let Some(flag) = args.next() {
        let v = args.next().ok_or(format!("{flag} needs a value"))?;
        let n = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--port" => o.port = u16::try_from(n(&v)?).map_err(|e| e.to_string())?,
            "--clients" => o.clients = n(&v)?.max(1),
            "--requests" => o.requests = n(&v)?,
            "--subscribers" => o.subscribers = n(&v)?,
            "--size" => o.size = usize::try_from(n(&v)?).map_err(|e| e.to_string())?,
            "--incrs" => o.incrs = usize::try_from(n(&v)?).map_err(|e| e.to_string())?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Encode one command as a RESP array of bulk strings.
fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A connection that reads whole replies (enough RESP2 for these patterns).
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    async fn open(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(16 * 1024),
            pos: 0,
        })
    }

    /// The end of the reply starting at `i` in the buffer, if it is complete.
    fn reply_end(&self, i: usize) -> Option<usize> {
        let b = &self.buf;
        let line_end = b[i..].windows(2).position(|w| w == b"\r\n")? + i;
        let num = || -> i64 {
            std::str::from_utf8(&b[i + 1..line_end])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        match b.get(i)? {
            b'+' | b'-' | b':' => Some(line_end + 2),
            b'$' => {
                let n = num();
                if n < 0 {
                    return Some(line_end + 2);
                }
                let end = line_end + 2 + usize::try_from(n).ok()? + 2;
                (end <= b.len()).then_some(end)
            }
            b'*' | b'>' => {
                let mut at = line_end + 2;
                for _ in 0..num().max(0) {
                    at = self.reply_end(at)?;
                }
                Some(at)
            }
            _ => None,
        }
    }

    /// Read one reply; returns its first byte (`-` = error).
    async fn read(&mut self) -> std::io::Result<u8> {
        loop {
            if self.pos < self.buf.len() {
                if let Some(end) = self.reply_end(self.pos) {
                    let kind = self.buf[self.pos];
                    if kind == b'-' {
                        let line = String::from_utf8_lossy(&self.buf[self.pos..end]);
                        eprintln!("error reply: {}", line.trim_end());
                    }
                    self.pos = end;
                    if self.pos == self.buf.len() {
                        self.buf.clear();
                        self.pos = 0;
                    }
                    return Ok(kind);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.s.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes).await
    }
}

/// Split `total` requests over `clients` workers.
fn share(total: u64, clients: u64, i: u64) -> u64 {
    total / clients + u64::from(i < total % clients)
}

async fn publish(o: &Opts) -> std::io::Result<f64> {
    let received = Arc::new(AtomicU64::new(0));
    let mut subs = Vec::new();
    for _ in 0..o.subscribers {
        let mut c = Conn::open(o.port).await?;
        let mut cmd = Vec::new();
        encode(&mut cmd, &[b"SUBSCRIBE", b"bench:channel"]);
        c.send(&cmd).await?;
        c.read().await?;
        let received = received.clone();
        subs.push(tokio::spawn(async move {
            while c.read().await.is_ok() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let payload = vec![b'x'; o.size];
    let t0 = Instant::now();
    let mut pubs = Vec::new();
    for i in 0..o.clients {
        let n = share(o.requests, o.clients, i);
        let mut c = Conn::open(o.port).await?;
        let mut cmd = Vec::new();
        encode(&mut cmd, &[b"PUBLISH", b"bench:channel", &payload]);
        pubs.push(tokio::spawn(async move {
            for _ in 0..n {
                c.send(&cmd).await?;
                c.read().await?;
            }
            Ok::<(), std::io::Error>(())
        }));
    }
    for p in pubs {
        p.await.map_err(std::io::Error::other)??;
    }
    let elapsed = t0.elapsed();
    // Every message must reach every subscriber (waited for, not timed).
    let want = o.requests * o.subscribers;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = received.load(Ordering::Relaxed);
    if got < want {
        eprintln!("subscribers received {got} of {want} messages");
    }
    for s in subs {
        s.abort();
    }
    Ok(o.requests as f64 / elapsed.as_secs_f64())
}

async fn multi(o: &Opts) -> std::io::Result<f64> {
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for i in 0..o.clients {
        let n = share(o.requests, o.clients, i);
        let mut c = Conn::open(o.port).await?;
        let mut cmd = Vec::new();
        encode(&mut cmd, &[b"MULTI"]);
        for k in 0..o.incrs {
            let key = format!("bench:ctr:{}", (i as usize * o.incrs + k) % 1000);
            encode(&mut cmd, &[b"INCR", key.as_bytes()]);
        }
        encode(&mut cmd, &[b"EXEC"]);
        let replies = o.incrs + 2;
        workers.push(tokio::spawn(async move {
            for _ in 0..n {
                c.send(&cmd).await?;
                for _ in 0..replies {
                    if c.read().await? == b'-' {
                        return Err(std::io::Error::other("error reply"));
                    }
                }
            }
            Ok::<(), std::io::Error>(())
        }));
    }
    for w in workers {
        w.await.map_err(std::io::Error::other)??;
    }
    Ok(o.requests as f64 / t0.elapsed().as_secs_f64())
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    };
    let r = rt.block_on(async {
        match o.mode.as_str() {
            "publish" => publish(&o).await,
            "multi" => multi(&o).await,
            other => Err(std::io::Error::other(format!("unknown mode {other}"))),
        }
    });
    match r {
        Ok(rps) => println!("{rps:.2}"),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    }
}
