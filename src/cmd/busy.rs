//! The busy desk: commands Redis runs even while a script holds the server past
//! `busy-reply-threshold` (flagged `allow-busy`: HELLO, AUTH, RESET, WATCH, UNWATCH, QUIT …),
//! sent by other clients. A connection cannot take the engine lock the script holds, so it
//! leaves the command here; the script's own thread runs it between two of the script's
//! `redis.call`s (`serve`), on the one dispatch path, as Redis runs such commands from its
//! event loop while a script is busy. A command the script's thread has not taken by the time
//! the script ends is withdrawn and runs the usual way. MULTI / DISCARD / EXEC and the kill
//! commands keep their own handling in the connection (`server::conn`). A client that
//! connects while a script runs is registered through the desk too (an errand), so it can
//! send those commands as any other client.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::exec::{Caller, Exec};
use super::{Flags, State, COMMANDS};
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

/// Work the script's thread does on the state itself for a connection (registering a
/// client that connected while the script runs, as Redis accepts clients from its event
/// loop then).
pub type Errand = Box<dyn FnOnce(&mut State) + Send>;

enum Work {
    /// Run `argv` as `client` and send the answer.
    Command {
        client: u64,
        argv: Vec<Bytes>,
        answer: oneshot::Sender<Answer>,
    },
    Errand(Errand),
}

struct Request {
    ticket: u64,
    /// The state (engine) it is for: only that engine's script serves it.
    state: usize,
    work: Work,
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

fn leave(state: usize, work: Work) -> u64 {
    let mut desk = DESK.lock();
    desk.0 += 1;
    let ticket = desk.0;
    desk.1.push(Request {
        ticket,
        state,
        work,
    });
    WAITING.fetch_add(1, Ordering::Release);
    ticket
}

/// Leave `argv` from `client` for the thread of the script running on `state` (the
/// engine's state, by address): a ticket to withdraw it by, and where its answer will come.
pub fn submit(state: usize, client: u64, argv: Vec<Bytes>) -> (u64, oneshot::Receiver<Answer>) {
    let (tx, rx) = oneshot::channel();
    let work = Work::Command {
        client,
        argv,
        answer: tx,
    };
    (leave(state, work), rx)
}

/// Leave `errand` for the thread of the script running on `state`: a ticket to withdraw it
/// by.
pub fn submit_errand(state: usize, errand: Errand) -> u64 {
    leave(state, Work::Errand(errand))
}

fn take_back(ticket: u64) -> Option<Work> {
    let mut desk = DESK.lock();
    let i = desk.1.iter().position(|r| r.ticket == ticket)?;
    let r = desk.1.remove(i);
    WAITING.fetch_sub(1, Ordering::Release);
    Some(r.work)
}

/// Take a request back (the script ended before its thread took it): true if it was still
/// waiting, so the connection runs the command itself; false if it was taken, and its
/// answer is on the way.
pub fn withdraw(ticket: u64) -> bool {
    take_back(ticket).is_some()
}

/// Take an errand back (the script ended before its thread took it), to run it the usual
/// way; None if it was taken (it has run or is running).
pub fn withdraw_errand(ticket: u64) -> Option<Errand> {
    match take_back(ticket)? {
        Work::Errand(e) => Some(e),
        Work::Command { .. } => None,
    }
}

/// Run the waiting requests for the state `x` works on, from the thread of the script
/// that holds it (each command as its client: its own database, protocol and
/// authentication).
pub fn serve(x: &mut Exec<'_>) {
    if WAITING.load(Ordering::Acquire) == 0 {
        return;
    }
    let here = std::ptr::from_ref::<State>(x.st) as usize;
    let taken: Vec<Request> = {
        let mut desk = DESK.lock();
        let (mine, others) = std::mem::take(&mut desk.1)
            .into_iter()
            .partition(|r| r.state == here);
        desk.1 = others;
        WAITING.fetch_sub(mine.len(), Ordering::Release);
        mine
    };
    for r in taken {
        let (client, argv, answer) = match r.work {
            Work::Errand(e) => {
                e(&mut *x.st);
                continue;
            }
            Work::Command {
                client,
                argv,
                answer,
            } => (client, argv, answer),
        };
        if !x.st.clients.map.contains_key(&client) {
            // Gone meanwhile: its connection runs it later, if at all.
            let _ = answer.send(Answer {
                reply: Reply::Error(crate::script::busy_error().into()),
                resp: 2,
                authenticated: false,
                close: false,
            });
            continue;
        }
        let mut y = Exec::new(&mut *x.st, x.env, client, x.now_ms, Caller::Client);
        let reply = super::dispatch::call(&mut y, &argv);
        drop(y);
        let c = x.st.clients.map.get(&client);
        let _ = answer.send(Answer {
            reply,
            resp: c.map_or(2, |c| c.resp),
            authenticated: c.is_some_and(|c| c.authenticated) || !x.st.acl.auth_required,
            close: c.is_none_or(|c| c.close_after_reply),
        });
    }
}
