//! FAILOVER (Redis 6.2's coordinated failover): a master hands its role to one of its
//! replicas without losing a write. It pauses its clients' writes, waits (the replication
//! cron, `cron`) until the chosen replica — or any, when none is named — has
//! acknowledged the whole stream, then becomes that replica's replica and asks it
//! `PSYNC <replid> <offset> FAILOVER` (`server::replica`), which makes the target a
//! master continuing our history (`repl::psync`). When the target accepts, the pause
//! ends and the old master follows the new one; when it refuses, or TIMEOUT passes
//! first without FORCE, or FAILOVER ABORT is sent, this server stays (or becomes again)
//! the master. Replies, errors and log lines are Redis 7.0's.

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::CmdError;
use crate::resp::Reply;

/// A FAILOVER in progress.
#[derive(Clone, Debug, Default)]
pub struct Failover {
    /// The replica named by TO host port; None: the first that catches up is chosen
    /// (and named here from then on).
    pub target: Option<(String, u16)>,
    /// When waiting ends (Unix ms; 0: never, until FAILOVER ABORT).
    pub end_ms: i64,
    /// FORCE: at TIMEOUT, hand over to the target even if it has not caught up.
    pub force: bool,
    /// Handing over: this server is already the target's replica and its PSYNC FAILOVER
    /// is under way (INFO `failover-in-progress`; before, `waiting-for-sync`).
    pub in_progress: bool,
}

/// INFO `master_failover_state`.
pub fn state_word(f: &Option<Failover>) -> &'static str {
    match f {
        None => "no-failover",
        Some(f) if f.in_progress => "failover-in-progress",
        Some(_) => "waiting-for-sync",
    }
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms].
pub fn failover(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() == 2 && is(&a[1], "abort") {
        if x.st.replicas.failover.is_none() {
            return Err(CmdError::err("No failover in progress."));
        }
        abort(x, "Failover manually aborted");
        return Ok(Reply::ok());
    }
    let (mut timeout_ms, mut force, mut to) = (0i64, false, None::<(String, i64)>);
    let mut j = 1;
    while j < a.len() {
        if is(&a[j], "timeout") && j + 1 < a.len() && timeout_ms == 0 {
            timeout_ms = arg_i64(&a[j + 1])?;
            if timeout_ms <= 0 {
                return Err(CmdError::err("FAILOVER timeout must be greater than 0"));
            }
            j += 2;
        } else if is(&a[j], "to") && j + 2 < a.len() && to.is_none() {
            let port = arg_i64(&a[j + 2])?;
            to = Some((String::from_utf8_lossy(&a[j + 1]).into_owned(), port));
            j += 3;
        } else if is(&a[j], "force") && !force {
            force = true;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let r = &x.st.replicas;
    if r.failover.is_some() {
        return Err(CmdError::err("FAILOVER already in progress."));
    }
    if r.master.is_some() {
        return Err(CmdError::err(
            "FAILOVER is not valid when server is a replica.",
        ));
    }
    if r.ids.is_empty() {
        return Err(CmdError::err("FAILOVER requires connected replicas."));
    }
    if force && (timeout_ms == 0 || to.is_none()) {
        return Err(CmdError::err(
            "FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let target = match to {
        Some((host, port)) => {
            let port = u16::try_from(port).ok();
            let found = port.and_then(|p| find_replica(x, &host, p));
            let (Some(port), Some(found)) = (port, found) else {
                return Err(CmdError::err(
                    "FAILOVER target HOST and PORT is not a replica.",
                ));
            };
            // (Redis also refuses a target still receiving its payload, "not online";
            // strata hands a payload over at once, and the handover below waits for the
            // target's acknowledgement, which it sends only once the payload is loaded.)
            let _ = found;
            tracing::info!("FAILOVER requested to {host}:{port}.");
            Some((host, port))
        }
        None => {
            tracing::info!("FAILOVER requested to any replica.");
            None
        }
    };
    x.st.replicas.failover = Some(Failover {
        target,
        end_ms: if timeout_ms > 0 {
            x.now_ms.saturating_add(timeout_ms)
        } else {
            0
        },
        force,
        in_progress: false,
    });
    Ok(Reply::ok())
}

/// The attached replica at `host`:`port` (the address and listening port it announced).
fn find_replica(x: &Exec<'_>, host: &str, port: u16) -> Option<super::repl::Attached> {
    super::repl::attached(x.st)
        .into_iter()
        .find(|r| r.port == port && r.ip.eq_ignore_ascii_case(host))
}

/// It has loaded its resync and acknowledged since (a replica acknowledges nothing
/// before: an acknowledged offset of 0 is then a real one).
fn online(r: &super::repl::Attached) -> bool {
    r.ack_ms > 0
}

/// The replication cron's step (Redis's updateFailoverStatus, ten times a second here):
/// at TIMEOUT hand over anyway (FORCE) or give up; otherwise hand over once the target
/// (or, with none named, any replica) has acknowledged our whole stream.
pub fn cron(x: &mut Exec<'_>) {
    let Some(f) = x.st.replicas.failover.clone() else {
        return;
    };
    if f.in_progress {
        return;
    }
    if f.end_ms > 0 && f.end_ms <= x.now_ms {
        if f.force {
            if let Some((host, port)) = f.target {
                tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                hand_over(x, host, port);
                return;
            }
        }
        abort(x, "Replica never caught up before timeout");
        return;
    }
    let offset = x.st.replicas.offset;
    let caught_up = match &f.target {
        Some((host, port)) => find_replica(x, host, *port)
            .filter(|r| online(r) && r.ack == offset)
            .map(|_| (host.clone(), *port)),
        None => super::repl::attached(x.st)
            .into_iter()
            .find(|r| online(r) && r.ack == offset)
            .map(|r| (r.ip, r.port)),
    };
    if let Some((host, port)) = caught_up {
        tracing::info!("Failover target {host}:{port} is synced, failing over.");
        hand_over(x, host, port);
    }
}

/// Become the target's replica; the link's PSYNC carries FAILOVER.
fn hand_over(x: &mut Exec<'_>, host: String, port: u16) {
    if let Some(f) = &mut x.st.replicas.failover {
        f.in_progress = true;
        f.target = Some((host.clone(), port));
    }
    super::repl::set_master(x, host, port);
}

/// The target answered the link's PSYNC FAILOVER: accepted (`+CONTINUE`, or even
/// `+FULLRESYNC`), the failover is over and this server stays its replica; refused, or
/// the request could not be made (`why`), it is aborted and this server is the master
/// again. Returns whether it was accepted.
pub fn answered(x: &mut Exec<'_>, accepted: bool, why: &str) -> bool {
    if x.st.replicas.failover.is_none() {
        return accepted;
    }
    if accepted {
        x.st.replicas.failover = None;
    } else {
        abort(x, why);
    }
    accepted
}

/// Give up: a server that already turned replica is the master again; the pause ends.
fn abort(x: &mut Exec<'_>, why: &str) {
    let Some(f) = x.st.replicas.failover.take() else {
        return;
    };
    match &f.target {
        Some((host, port)) => tracing::info!("FAILOVER to {host}:{port} aborted: {why}"),
        None => tracing::info!("FAILOVER to any replica aborted: {why}"),
    }
    if f.in_progress {
        super::repl::unset_master(x);
    }
}
