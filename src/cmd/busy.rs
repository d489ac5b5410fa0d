//! The busy desk: commands Redis runs even while a script holds the server past
//! `busy-reply-threshold` (flagged `allow-busy`: HELLO, AUTH, RESET, WATCH, UNWATCH, QUIT …),
//! sent by other clients. A connection cannot take the engine lock the script holds, so it
//! leaves the command here; the script's own thread runs it between two of the script's
//! `redis.call`s (`serve`), on the one dispatch path, as Redis runs such commands from its
//! event loop while a script is busy. A command the script's thread has not taken by the time
//! the script ends is withdrawn and runs the usual way. MULTI / DISCARD / EXEC and the kill
//! commands keep their own handling in the connection (`server::conn`).

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::exec::{Caller, Exec};
use super::{Flags, COMMANDS};
use crate::resp::Reply;

/// What running a desk command left for its connection: the reply, and the connection
/// settings the command may have changed (HELLO's protocol, AUTH, QUIT).
#[derive(Debug)]
pub struct Answer {
    /// The command's reply.
    pub reply: Reply,
    /// Protocol version for encoding replies from now on.
    pub resp: u8,
    /// The client is authenticated (or no authentication is required).
    pub authenticated: bool,
    /// Close after writing the reply.
    pub close: bool,
}

struct Request {
    ticket: u64,
    client: u64,
    argv: Vec<Bytes>,
    answer: oneshot::Sender<Answer>,
}

/// Requests waiting for the script's thread (a count read without the lock first, so a
/// script's `redis.call` costs one atomic load when nobody waits).
static WAITING: AtomicUsize = AtomicUsize::new(0);
static DESK: parking_lot::Mutex<(u64, Vec<Request>)> = parking_lot::Mutex::new((0, Vec::new()));

/// True if `argv` is a command the desk runs while a script is busy: flagged `allow-busy`,
/// and not one the connection answers itself.
pub fn takes(argv: &[Bytes]) -> bool {
    let Ok(spec) = COMMANDS.lookup(argv) else {
        return false;
    };
    spec.flags.contains(Flags::ALLOW_BUSY)
        && !matches!(
            spec.full_name.as_str(),
            "multi" | "discard" | "shutdown" | "script|kill" | "function|kill" | "function|stats"
        )
}

/// Leave `argv` from `client` for the script's thread: a ticket to withdraw it by, and where
/// its answer will come.
pub fn submit(client: u64, argv: Vec<Bytes>) -> (u64, oneshot::Receiver<Answer>) {
    let (tx, rx) = oneshot::channel();
    let mut desk = DESK.lock();
    desk.0 += 1;
    let ticket = desk.0;
    desk.1.push(Request {
        ticket,
        client,
        argv,
        answer: tx,
    });
    WAITING.fetch_add(1, Ordering::Release);
    (ticket, rx)
}

/// Take a request back (the script ended before its thread took it): true if it was still
/// waiting, so the connection runs the command itself; false if it was taken, and its
/// answer is on the way.
pub fn withdraw(ticket: u64) -> bool {
    let mut desk = DESK.lock();
    let Some(i) = desk.1.iter().position(|r| r.ticket == ticket) else {
        return false;
    };
    desk.1.remove(i);
    WAITING.fetch_sub(1, Ordering::Release);
    true
}

/// Run the waiting requests, from the thread of the script that holds the state `x` works
/// on (each as its client: its own database, protocol and authentication).
pub fn serve(x: &mut Exec<'_>) {
    if WAITING.load(Ordering::Acquire) == 0 {
        return;
    }
    let taken = {
        let mut desk = DESK.lock();
        WAITING.fetch_sub(desk.1.len(), Ordering::Release);
        std::mem::take(&mut desk.1)
    };
    for r in taken {
        if !x.st.clients.map.contains_key(&r.client) {
            // Not a client of this server (or gone): its connection runs it later.
            let answer = Answer {
                reply: Reply::Error(crate::script::busy_error().into()),
                resp: 2,
                authenticated: false,
                close: false,
            };
            let _ = r.answer.send(answer);
            continue;
        }
        let mut y = Exec::new(&mut *x.st, x.env, r.client, x.now_ms, Caller::Client);
        let reply = super::dispatch::call(&mut y, &r.argv);
        drop(y);
        let c = x.st.clients.map.get(&r.client);
        let answer = Answer {
            reply,
            resp: c.map_or(2, |c| c.resp),
            authenticated: c.is_some_and(|c| c.authenticated) || !x.st.acl.auth_required,
            close: c.is_none_or(|c| c.close_after_reply),
        };
        let _ = r.answer.send(answer);
    }
}
