//! One connection: read what the socket has, decode every buffered request, execute them
//! in order under one engine-lock acquisition, wait once for the durability of everything
//! they observed, encode every reply into one buffer and write once (pipelining).
//! Protocol errors are answered and close the connection, as Redis does.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::doorbell::{Doorbell, Listener, KILLED, MESSAGES, STOP};
use super::engine::{BlockWait, ConnView, Engine, Outcome};
use crate::clock;
use crate::cmd::client::QueryBuf;
use crate::cmd::climem::{Limits as ClientLimits, OutMeter};
use crate::cmd::Client;
use crate::resp::{decode, decode_all, encode, Limits, Reply};

/// A client's byte stream: a TCP connection or a Unix socket one.
pub trait Socket: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Socket for S {}

/// Serve one TCP client until it disconnects, is killed, or the server stops.
pub async fn serve(engine: Arc<Engine>, sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let addr = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    serve_stream(engine, sock, addr, laddr, None).await;
}

/// A connection that is this replica's link to its master (`super::replica`): what the
/// master client starts with.
pub struct MasterLink {
    /// The master's stream offset the first byte read continues from.
    pub offset: u64,
    /// Bytes read first that are the full sync's commands, not the master's stream.
    pub skip: u64,
    /// The REPLICAOF this link serves (`Engine::link_epoch`).
    pub epoch: u64,
    /// The database the stream has selected (a partial resync goes on in it).
    pub db: usize,
    /// The master's replication id (its `+FULLRESYNC`'s, or its `+CONTINUE`'s).
    pub replid: String,
}

/// Serve one client on any stream; `addr` and `laddr` are what CLIENT LIST shows (for a
/// Unix socket Redis shows `<path>:0` for both). `master`: the stream is the link to
/// this replica's master, served as its master client.
pub async fn serve_stream<S: Socket>(
    engine: Arc<Engine>,
    mut sock: S,
    addr: String,
    laddr: String,
    master: Option<MasterLink>,
) {
    let bell = Arc::new(Doorbell::default());
    let k2 = bell.clone();
    let outbox = Arc::new(Outbox {
        buf: parking_lot::Mutex::default(),
        bell: bell.clone(),
        meter: Arc::default(),
    });
    let ob2 = outbox.clone();
    let e2 = engine.clone();
    let is_master = master.is_some();
    let meter = outbox.meter.clone();
    let m2 = meter.clone();
    let register = move |st: &mut crate::cmd::State| {
        let id = st.clients.next_id();
        let auth = st.acl.default_authenticated();
        let acl_free = st.acl.unrestricted(b"default");
        let limits = st.clients.limits.clone();
        let mut c = Client::new(id, addr, laddr, clock::now_ms(), auth);
        c.acl_free = acl_free;
        c.kill = Some(Arc::new(move || k2.ring(KILLED)));
        // Pub/sub messages, already encoded, are appended to the outbox; the connection
        // writes them. Past the output buffer limit the subscriber is cut off (the
        // publisher's `deliver` kills it) instead of growing memory.
        c.push = Some(Arc::new(move |msg: &[u8]| ob2.put(msg, &limits)));
        c.out = Some(m2);
        if let Some(m) = &master {
            // Unrestricted and unanswered, as Redis's master client.
            c.master_link = true;
            st.replicas.master_links += 1;
            c.acl_free = true;
            c.authenticated = true;
            c.repl_offset = m.offset;
            c.repl_skip = m.skip;
            c.db = m.db;
            if e2.link_epoch.load(Ordering::Acquire) == m.epoch && st.replicas.master.is_some() {
                use crate::cmd::repl::Link;
                st.replicas.master_client = Some(id);
                crate::cmd::repl::link_established(st, &m.replid, m.offset, m.skip > 0);
                // Up once the full resync's commands have run (`master_command_ran`).
                let link = if m.skip == 0 { Link::Up } else { Link::Sync };
                st.replicas.set_link(link, clock::now_ms());
                st.replicas.last_ack_ms = 0;
                // The dataset is the master's again: no key is this replica's own.
                st.replicas.local_ttl.clear();
            } else if let Some(kill) = &c.kill {
                // REPLICAOF changed meanwhile: this link is over before it starts.
                kill();
            }
        }
        let peak = c.reply_buf.peak.clone();
        let release = c.release_buffers.clone();
        let limits = st.clients.limits.clone();
        st.clients.map.insert(id, c);
        st.stats.total_connections += 1;
        let view = Engine::view(st, id);
        (id, peak, release, (limits, st.mem.stale.clone(), view))
    };
    // Registering needs the engine. While a script holds it, the script's thread registers
    // the client between two of its steps (the busy desk), as Redis accepts clients from
    // its event loop while a script is busy; meanwhile and until then the connection
    // answers what Redis answers a client then (SCRIPT KILL, FUNCTION KILL, -BUSY).
    let slot = Arc::new(parking_lot::Mutex::new(None));
    let s2 = slot.clone();
    let mut errand: Option<crate::cmd::busy::Errand> =
        Some(Box::new(move |st| *s2.lock() = Some(register(st))));
    let mut ticket = None;
    let mut early = BytesMut::new();
    // What a MULTI, DISCARD or refused command sent before registering did to the
    // transaction state (`busy_transaction`), applied once registered.
    let mut early_fixes: Vec<BusyFix> = Vec::new();
    let mut early_multi = false;
    let mut gone = false;
    let (id, peak, release, (limits, gauge_stale, mut view)) = loop {
        if let Some(r) = slot.lock().take() {
            break r;
        }
        if let Some(e) = errand.take() {
            match engine.try_with_state_once(e) {
                Ok(()) => continue,
                Err(e) => errand = Some(e),
            }
        }
        if gone {
            // The desk took the errand: the client is registered any moment now, and then
            // forgotten again below.
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else if crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 && is_master {
            // (The master link registers once the script ends: nothing of its stream is
            // answered meanwhile.)
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else if crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 {
            if let Some(e) = errand.take() {
                ticket = Some(crate::cmd::busy::submit_errand(engine.state_key(), e));
            }
            let registered = || slot.lock().is_some();
            let answered = answer_while_busy(
                &engine,
                &mut sock,
                &mut early,
                (&mut early_multi, &mut early_fixes),
                &registered,
            )
            .await;
            if answered.is_err() {
                // Gone before registering: take the errand back, or, if the script's
                // thread took it, wait for the registration to undo it.
                if ticket
                    .take()
                    .is_none_or(|t| crate::cmd::busy::withdraw_errand(t).is_some())
                {
                    return;
                }
                gone = true;
            }
        } else {
            if let Some(t) = ticket.take() {
                // The script ended first: register the usual way (None: its thread took
                // the errand, and the slot fills at once).
                errand = crate::cmd::busy::withdraw_errand(t);
                if errand.is_some() {
                    continue;
                }
            }
            if errand.is_some() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    };
    view.in_multi = early_multi;
    if !gone {
        // (The stop rings every registered doorbell after setting `stopping`, which the
        // connection checks before each wait.)
        engine.doorbells.add(id, bell.clone());
        let _ = run(
            &engine,
            &mut sock,
            (id, &peak, &release),
            Listener::new(bell),
            (&outbox, &limits),
            (early, early_fixes, view),
        )
        .await;
        engine.doorbells.remove(id);
    }
    let forget = |st: &mut crate::cmd::State| {
        // A client killed or disconnected while blocked leaves no trace.
        st.blocked.remove(id);
        crate::cmd::pubsub::unsubscribe_all(st, id);
        st.monitors.retain(|&m| m != id);
        st.tracking.drop_client(id);
        st.unwatch_all(id);
        // A replica that went is no longer attached (not only once the stream next
        // finds it gone): the backlog's time-to-live counts from now.
        st.replicas.ids.retain(|&r| r != id);
        st.replicas.forget_waiting(id);
        if st.replicas.master_client == Some(id) {
            // The master link is down (the link task reconnects, asking to go on from
            // where this one stopped).
            if let Some(c) = st.clients.map.get(&id) {
                if c.repl_skip == 0 {
                    let replid = st.replicas.replid.clone();
                    st.replicas.cached_master = Some((replid, c.repl_offset, c.db));
                }
            }
            st.replicas.lose_link(clock::now_ms());
        }
        // What it wrote now counts with the closed connections' bytes.
        engine.sent(usize::try_from(meter.sent()).unwrap_or(usize::MAX));
        let gone = st.clients.map.remove(&id);
        if gone.as_ref().is_some_and(|c| c.master_link) {
            st.replicas.master_links -= 1;
        }
        gone.is_some_and(|c| c.evicted)
    };
    // (The socket closes only after the client is forgotten: a peer that sees its
    // connection end finds it gone from CLIENT LIST and CLIENT KILL, as in Redis.)
    let evicted = engine.with_state_async(forget).await;
    if evicted {
        // What an evicted client held is freed now (here, maybe on another thread than the
        // engine's last gauge refresh): key eviction must see it gone at once, or it would
        // evict keys for memory that is no longer used.
        drop((outbox, sock, meter));
        gauge_stale.store(true, Ordering::Release);
    }
}

/// Pub/sub messages waiting for their connection: encoded bytes appended by publishers
/// (as Redis appends to a client's output buffer), taken and written in one go by the
/// connection, whose doorbell rings `MESSAGES` when the box goes from empty to not.
struct Outbox {
    buf: parking_lot::Mutex<Vec<u8>>,
    bell: Arc<Doorbell>,
    /// The connection's output bytes queued or being written, replies included (checked
    /// against the output buffer limits).
    meter: Arc<OutMeter>,
}

impl Outbox {
    /// Queue `msg`; false when that takes the client past its output buffer limit.
    fn put(&self, msg: &[u8], limits: &ClientLimits) -> bool {
        let now = self.meter.add(msg.len());
        if self.meter.over_limit(limits, now, clock::now_ms) {
            return false;
        }
        let mut b = self.buf.lock();
        let was_empty = b.is_empty();
        b.extend_from_slice(msg);
        drop(b);
        if was_empty {
            self.bell.ring(MESSAGES);
        }
        true
    }

    /// Everything queued, swapped out for `spare` (empty), to be written.
    fn take(&self, spare: &mut Vec<u8>) {
        spare.clear();
        std::mem::swap(&mut *self.buf.lock(), spare);
    }
}

/// Empty `msgs` (pub/sub messages, written or queued), and free it if it grew past the
/// 16 KiB every client's reply buffer is counted with, as Redis frees the reply blocks
/// past its static buffer once written: kept, its room is memory no client memory
/// figure counts (20 subscribers sent one 100 KB message each kept 2 MB that
/// `used_memory` saw and client eviction did not, so keys were evicted instead of the
/// clients; 10 tracking clients sent the invalidations of 36 evicted keys kept 640 KB,
/// which called for evicting more keys, whose invalidations …).
fn release_big(msgs: &mut Vec<u8>) {
    if msgs.capacity() > crate::cmd::client::REPLY_CHUNK {
        *msgs = Vec::new();
    } else {
        msgs.clear();
    }
}

/// Output the socket has not taken yet (a client that does not read its replies): later
/// replies and messages queue behind it, and the connection goes on reading and
/// executing meanwhile (as Redis does; the output buffer limits and client eviction
/// bound it), up to [`MAX_UNSENT`].
struct Unsent {
    /// Blocks of [`BLOCK`] bytes in order, each filled before the next is allocated (as
    /// Redis's 16 KiB reply blocks); `off` bytes of the first are written. What they
    /// allocate is what they hold, to one block: the output figures (`omem`, INFO
    /// `mem_clients_slaves`, client eviction) count the bytes, and a stalled replica's
    /// 50 MB of stream queued in pieces of every size, each allocated to its own size
    /// class, took ~9 MB more than counted, which `used_memory` saw.
    chunks: std::collections::VecDeque<Vec<u8>>,
    off: usize,
    len: usize,
    /// Told the room the blocks take beyond their unsent bytes (`OutMeter::slack`).
    meter: Arc<OutMeter>,
}

/// The size of an [`Unsent`] block (an allocation class of its own).
const BLOCK: usize = 16 * 1024;

/// At most this many blocks go to the socket in one (vectored) write.
const BLOCKS_PER_WRITE: usize = 64;

/// Past this much unsent output the connection stops reading until the client reads.
const MAX_UNSENT: usize = 64 * 1024 * 1024;

impl Unsent {
    fn new(meter: Arc<OutMeter>) -> Unsent {
        Unsent {
            chunks: std::collections::VecDeque::new(),
            off: 0,
            len: 0,
            meter,
        }
    }

    /// Tell the meter what the blocks allocate beyond the bytes it counts: the written
    /// head of the first, the free tail of the last, the block list itself.
    fn measure(&self) {
        if self.len == 0 {
            // (An empty queue's small list is not output.)
            self.meter.slack(0);
            return;
        }
        let allocated =
            self.chunks.len() * BLOCK + self.chunks.capacity() * std::mem::size_of::<Vec<u8>>();
        self.meter.slack(allocated.saturating_sub(self.len));
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The bytes to write next, as up to [`BLOCKS_PER_WRITE`] slices.
    fn front(&self) -> Vec<std::io::IoSlice<'_>> {
        self.chunks
            .iter()
            .take(BLOCKS_PER_WRITE)
            .enumerate()
            .map(|(i, c)| std::io::IoSlice::new(if i == 0 { &c[self.off..] } else { c }))
            .collect()
    }

    /// `n` bytes from the front were written.
    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(c) = self.chunks.front() else { break };
            let left = c.len() - self.off;
            if n < left {
                self.off += n;
                return;
            }
            n -= left;
            self.chunks.pop_front();
            self.off = 0;
        }
        self.measure();
    }

    fn clear(&mut self) {
        // (The block list of a long queue is given back too.)
        if self.chunks.capacity() > 16 {
            self.chunks = std::collections::VecDeque::new();
        } else {
            self.chunks.clear();
        }
        self.off = 0;
        self.len = 0;
        self.measure();
    }

    /// Queue `data` (emptied, its room kept), of which `written` bytes were already
    /// written: into the last block's room, then into new blocks.
    fn keep(&mut self, data: &mut Vec<u8>, written: usize) {
        let mut rest = &data[written..];
        self.len += rest.len();
        if let Some(last) = self.chunks.back_mut() {
            let n = (BLOCK - last.len().min(BLOCK)).min(rest.len());
            last.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        for piece in rest.chunks(BLOCK) {
            let mut block = Vec::with_capacity(BLOCK);
            block.extend_from_slice(piece);
            self.chunks.push_back(block);
        }
        data.clear();
        self.measure();
    }
}

/// Write what the socket takes now, without waiting for it; returns the bytes written.
async fn write_now<S: Socket>(sock: &mut S, data: &[u8]) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut done = 0;
        while done < data.len() {
            match Pin::new(&mut *sock).poll_write(cx, &data[done..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(done))
    })
    .await
}

/// With output unsent: write more of it as the socket takes it and, when `read`, read
/// what the client sends meanwhile. `Some(n)`: `n` bytes were read (0: end of stream);
/// `None`: the output was all written.
async fn write_and_read<S: Socket>(
    sock: &mut S,
    unsent: &mut Unsent,
    buf: &mut BytesMut,
    read: bool,
    meter: &OutMeter,
) -> std::io::Result<Option<usize>> {
    std::future::poll_fn(|cx| {
        while !unsent.is_empty() {
            match Pin::new(&mut *sock).poll_write_vectored(cx, &unsent.front()) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => {
                    unsent.advance(n);
                    meter.sub(n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if unsent.is_empty() {
            unsent.clear();
            return Poll::Ready(Ok(None));
        }
        if read {
            let start = buf.len();
            buf.resize(start + 16 * 1024, 0);
            let mut rb = ReadBuf::new(&mut buf[start..]);
            let r = Pin::new(&mut *sock).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            buf.truncate(start + n);
            if let Poll::Ready(r) = r {
                return Poll::Ready(r.map(|()| Some(n)));
            }
        }
        Poll::Pending
    })
    .await
}

/// Write all unsent output (before a reply that must not wait behind a read: a blocked
/// client's, a -BUSY one, an error that closes). False: killed or stopping meanwhile.
async fn drain<S: Socket>(
    sock: &mut S,
    unsent: &mut Unsent,
    meter: &OutMeter,
    listener: &mut Listener,
) -> std::io::Result<bool> {
    if unsent.is_empty() {
        return Ok(true);
    }
    let n = unsent.len();
    let write = async {
        for (i, c) in unsent.chunks.iter().enumerate() {
            let from = if i == 0 { unsent.off } else { 0 };
            sock.write_all(&c[from..]).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        r = write => r?,
        _ = listener.rung(KILLED | STOP) => return Ok(false),
    }
    meter.sub(n);
    unsent.clear();
    Ok(true)
}

/// Send a batch's encoded replies (`out`, emptied): at once if the socket takes them,
/// else queued behind. False: they take the client past its output buffer limit, and it
/// is closed without them (Redis frees such a client before writing anything more).
async fn send_replies<S: Socket>(
    sock: &mut S,
    unsent: &mut Unsent,
    out: &mut Vec<u8>,
    (meter, limits): (&OutMeter, &ClientLimits),
    queues: &RunQueues,
) -> std::io::Result<bool> {
    if out.is_empty() {
        return Ok(true);
    }
    let used = meter.pending() + out.len();
    if meter.over_limit(limits, used, clock::now_ms) {
        tracing::warn!("closing client over its client-output-buffer-limit");
        // Its replies were freed on this thread just before: give them back now, as
        // Redis's freeClient does, rather than leave them in the thread's cache.
        *out = Vec::new();
        crate::cmd::climem::give_back_freed();
        return Ok(false);
    }
    // Counted before it is written (INFO total_net_output_bytes), so a client that got
    // its reply never sees a count without it.
    meter.count_sent(out.len());
    if unsent.is_empty() && queues.others_runnable() {
        // The other runnable connections go first (see `requeue`). Meanwhile the replies'
        // buffer counts as this client's output past the reply buffer every client is
        // counted with, as Redis counts a reply queued for its beforeSleep write: client
        // eviction sees it before keys are evicted for room.
        meter.hold(
            out.capacity()
                .saturating_sub(crate::cmd::client::REPLY_CHUNK),
        );
        requeue().await;
        meter.hold(0);
    }
    let written = if unsent.is_empty() {
        write_now(sock, out).await?
    } else {
        0
    };
    if written == out.len() {
        out.clear();
        return Ok(true);
    }
    meter.add(out.len() - written);
    unsent.keep(out, written);
    Ok(true)
}

/// Go to the back of the run queue once, so the tasks already runnable go first: the
/// connections that became readable together run their commands before any of them
/// writes its replies, as Redis answers the clients of one event-loop pass together (its
/// beforeSleep writes) after running all their commands. The replies then reach the
/// clients in one burst, which wakes a client process once rather than once per reply:
/// with 50 publishing connections, the client side's epoll waits halved and both sides
/// spent less CPU per request (benches/RESULTS.md, session 12). Unlike `yield_now`, this
/// does not wait for the I/O driver to be polled first. (For replies, called only when
/// `RunQueues::others_runnable`: with one client the reply goes out at once. A
/// subscriber's pub/sub messages always take this turn, so the publishers runnable with
/// it add theirs to the same write.)
async fn requeue() {
    let mut requeued = false;
    std::future::poll_fn(|cx| {
        if requeued {
            return Poll::Ready(());
        }
        requeued = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// The runtime's run queues as a connection sees them (taken once per connection:
/// looking the runtime up clones its handle, two atomic operations per reply).
struct RunQueues {
    #[cfg(tokio_unstable)]
    metrics: Option<tokio::runtime::RuntimeMetrics>,
}

impl RunQueues {
    fn new() -> Self {
        RunQueues {
            #[cfg(tokio_unstable)]
            metrics: tokio::runtime::Handle::try_current()
                .ok()
                .map(|h| h.metrics()),
        }
    }

    /// Whether other tasks wait in the runtime's run queues (the per-worker depth is an
    /// unstable tokio metric: a build without `tokio_unstable` never waits).
    fn others_runnable(&self) -> bool {
        #[cfg(tokio_unstable)]
        if let Some(m) = &self.metrics {
            return m.global_queue_depth() > 0
                || (0..m.num_workers()).any(|w| m.worker_local_queue_depth(w) > 0);
        }
        false
    }
}

/// Where the payload of an incomplete big argument (32 KiB or more) starts in a buffer
/// holding a multibulk request, and that argument's length: Redis keeps only that
/// payload in the query buffer (CLIENT LIST `qbuf`) and sizes the buffer for it.
fn big_arg(buf: &[u8]) -> Option<(usize, usize)> {
    fn line(buf: &[u8], at: usize, lead: u8) -> Option<(usize, usize)> {
        if buf.get(at) != Some(&lead) {
            return None;
        }
        let end = at + buf[at..].iter().position(|&b| b == b'\r')?;
        let n = std::str::from_utf8(&buf[at + 1..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    }
    let (args, mut at) = line(buf, 0, b'*')?;
    for _ in 0..args {
        let (len, start) = line(buf, at, b'$')?;
        if start + len + 2 > buf.len() {
            return (len >= 32 * 1024 && start <= buf.len()).then_some((start, len));
        }
        at = start + len + 2;
    }
    None
}

/// Input buffers past this size are dropped once empty (see `run`).
const BIG_BUFFER: usize = 256 * 1024;
/// Reply encoding buffers past this size are dropped once their replies are sent.
const BIG_REPLY: usize = 64 * 1024;

/// The most bytes written in one go since the peak was reset (CLIENT LIST `rbp`).
type ReplyPeak = AtomicUsize;

/// Raise the peak to `n` (looked at first: a `fetch_max` is an atomic loop per reply,
/// and the peak rarely moves).
fn raise_peak(peak: &ReplyPeak, n: usize) {
    if n > peak.load(Ordering::Relaxed) {
        peak.fetch_max(n, Ordering::Relaxed);
    }
}

async fn run<S: Socket>(
    engine: &Arc<Engine>,
    sock: &mut S,
    (id, peak, release): (u64, &ReplyPeak, &AtomicBool),
    mut listener: Listener,
    (outbox, climits): (&Outbox, &ClientLimits),
    (early, early_fixes, mut view): (BytesMut, Vec<BusyFix>, ConnView),
) -> std::io::Result<()> {
    let meter = &*outbox.meter;
    let mut unsent = Unsent::new(outbox.meter.clone());
    let mut buf = early;
    buf.reserve(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut msgs: Vec<u8> = Vec::new();
    let mut batch: Vec<Vec<Bytes>> = Vec::new();
    let mut scratch = crate::resp::decode::Scratch::default();
    let mut outcomes: Vec<Outcome> = Vec::new();
    // Changes to the transaction state decided while a script held the engine, applied
    // before the next command runs the usual way (those made before registering too).
    let mut busy_fixes: Vec<BusyFix> = early_fixes;
    let queues = RunQueues::new();
    let mut bytes_in = 0u64;
    // Since when this connection has found the engine held (see `try_execute_many`).
    let mut held_since: Option<std::time::Instant> = None;
    // A protocol error stops decoding; it is answered (and the connection closed) once the
    // commands before it ran, however often the loop goes round first: the decoder may
    // have consumed the bad bytes, so decoding again would not find it.
    let mut proto_err = None;
    // Bytes of the decoded commands not yet run (CLIENT LIST counts them in `qbuf`).
    let mut decoded = 0;
    // The buffers were given back after 2 s idle (see `ClientTable::cron`).
    let mut idle_released = false;
    // The input buffer's size when client eviction last looked at it.
    let mut evict_checked = 0usize;
    loop {
        let limits = Limits {
            max_bulk_len: view.max_bulk_len,
            authenticated: view.authenticated,
        };
        // Decode everything buffered (coming back with commands still to run — the engine
        // was busy — an unauthenticated client's next command waits for them: AUTH may
        // change its limits).
        let mut more_buffered = false;
        if !batch.is_empty() && !limits.authenticated {
            more_buffered = !buf.is_empty();
        }
        if batch.is_empty() {
            decoded = 0;
        }
        let buffered = buf.len();
        while proto_err.is_none() && (batch.is_empty() || limits.authenticated) {
            if limits.authenticated {
                // Every whole multibulk request in one go; an inline one goes to `decode`.
                match decode_all(&mut buf, &limits, &mut batch, &mut scratch) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        proto_err = Some(e);
                        break;
                    }
                }
            }
            match decode(&mut buf, &limits) {
                Ok(Some(argv)) => {
                    if !argv.is_empty() {
                        batch.push(argv);
                    }
                    // AUTH/HELLO change decoding limits: execute before decoding further,
                    // then come back for the rest of the buffer without reading.
                    if !limits.authenticated && !batch.is_empty() {
                        more_buffered = !buf.is_empty();
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    proto_err = Some(e);
                    break;
                }
            }
        }
        decoded += buffered - buf.len();
        if view.master_link {
            // A replica does not read its master's stream while a script of its own runs
            // (Redis): the stream waits, it is never answered -BUSY and dropped.
            while crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        if !batch.is_empty() && crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 {
            // A script holds the engine: SCRIPT KILL must not wait for the lock, and after
            // busy-reply-threshold other commands get -BUSY, as in Redis. (The script runs
            // under block_in_place, so this connection runs on another thread meanwhile.)
            let in_multi = view.in_multi;
            let (first, answer) = while_script_runs_as_called(
                engine,
                &batch[0],
                Some((id, &mut view)),
                (in_multi, &mut busy_fixes),
            )
            .await;
            if let Some(reply) = answer {
                let reply = busy_transaction(&mut view.in_multi, &mut busy_fixes, &first, reply);
                if !drain(sock, &mut unsent, meter, &mut listener).await? {
                    return Ok(());
                }
                encode(&reply, view.resp, &mut out);
                engine.sent(out.len());
                sock.write_all(&out).await?;
                out.clear();
                if view.close {
                    return Ok(()); // QUIT run by the busy desk
                }
                batch.remove(0);
                continue;
            }
        }
        if !batch.is_empty() && !busy_fixes.is_empty() {
            // Transaction changes made while a script held the engine (see
            // `busy_transaction`) reach the client's state before its next command runs.
            let fixes = std::mem::take(&mut busy_fixes);
            engine
                .with_state_async(|st| apply_busy_fixes(st, id, &fixes))
                .await;
        }
        if !batch.is_empty() {
            if listener.bell().is(KILLED) {
                // Killed or evicted: nothing more of what it sent runs (Redis frees such a
                // client before processing more of its input).
                return Ok(());
            }
            outcomes.clear();
            let qbuf = QueryBuf {
                len: decoded + buf.len(),
                free: buf.capacity() - buf.len(),
                rest: buf.len(),
            };
            let scripts = script_keys(&batch);
            view = if view.ldb && is_eval(&batch[0]) {
                // SCRIPT DEBUG YES|SYNC and an EVAL: a debugging session. Commands decoded
                // behind it and unread bytes are the debugger's first input.
                let mut pending = Vec::new();
                for argv in batch.drain(1..) {
                    encode(
                        &Reply::Array(argv.into_iter().map(Reply::Bulk).collect()),
                        2,
                        &mut pending,
                    );
                }
                pending.extend_from_slice(&buf.split());
                let qbuf = QueryBuf {
                    len: decoded,
                    free: buf.capacity(),
                    rest: 0,
                };
                let bytes = std::mem::take(&mut bytes_in);
                match debug_session(engine, sock, id, &batch[0], pending, (bytes, qbuf)).await {
                    Some((v, o, input)) => {
                        if o.is_empty() {
                            // Nothing ran (CLIENT PAUSE holds it): what the debugger was
                            // given is still unread input.
                            let rest = buf.split();
                            buf.extend_from_slice(&input);
                            buf.extend_from_slice(&rest);
                        }
                        outcomes = o;
                        v
                    }
                    // The client went away during the session (it ran to its end).
                    None => return Ok(()),
                }
            } else if !scripts.is_empty() && !FastScripts::all_fast(&scripts) {
                // A script not seen to finish quickly may hold this thread for long: hand this
                // worker's queued tasks to another thread first, so the connections that
                // must answer -BUSY or SCRIPT KILL / FUNCTION KILL meanwhile are not stuck
                // behind it. (That hand-off costs a thread switch, so scripts that have run
                // quickly before run in place.)
                let bytes = std::mem::take(&mut bytes_in);
                let t0 = std::time::Instant::now();
                let v = tokio::task::block_in_place(|| {
                    engine.execute_many(id, &batch, &mut outcomes, bytes, qbuf)
                });
                if t0.elapsed() < FAST_SCRIPT {
                    FastScripts::mark(&scripts);
                }
                v
            } else if let Some(v) =
                engine.try_execute_many(id, &batch, &mut outcomes, bytes_in, qbuf)
            {
                bytes_in = 0;
                held_since = None;
                v
            } else {
                // Someone holds the engine. A script (it may not have said so yet): go round,
                // and the check above answers -BUSY or SCRIPT KILL meanwhile. Anything else
                // usually holds it for microseconds: let the other tasks run and try again,
                // then, past 200 µs (DEBUG SLEEP, a long KEYS on another worker thread), every
                // millisecond instead of spinning.
                let held = held_since.get_or_insert_with(std::time::Instant::now);
                if held.elapsed() < Duration::from_micros(200) {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                continue;
            };
            let executed = outcomes.len();
            batch.drain(..executed);
            let parked = outcomes.last_mut().and_then(|o| o.blocked.take());
            let need = outcomes.iter().map(|o| o.lsn).max().unwrap_or(0);
            if need > 0 && need > engine.log.durable_lsn() {
                if let Err(e) = engine.log.wait_durable(need).await {
                    if view.master_link {
                        // The master's stream was not made durable: end the link (no
                        // acknowledgement may count it).
                        return Ok(());
                    }
                    // Replies that depended on records that never became durable must not
                    // be sent as successes.
                    let durable = engine.log.durable_lsn();
                    for o in outcomes.iter_mut().filter(|o| o.lsn > durable) {
                        o.reply =
                            Reply::Error(format!("MISCONF Errors writing to the AOF file: {e}"));
                    }
                }
            }
            // A successful SHUTDOWN closes its connection without a reply, as in Redis: it
            // is the last command run (execute_many stops after a closing command).
            let silent_last = view.close && engine.stopping.load(Ordering::Acquire);
            let n = outcomes.len().saturating_sub(usize::from(silent_last));
            for o in &outcomes[..n] {
                encode(&o.reply, view.resp, &mut out);
            }
            if let Some(wait) = parked {
                // Replies before the blocking command go out now; then this connection
                // waits (reading nothing more, as Redis) until served, timed out or killed.
                let n = n.saturating_sub(1);
                out.clear();
                for o in &outcomes[..n] {
                    encode(&o.reply, view.resp, &mut out);
                }
                if !send_replies(sock, &mut unsent, &mut out, (meter, climits), &queues).await?
                    || !drain(sock, &mut unsent, meter, &mut listener).await?
                {
                    return Ok(());
                }
                let input = (&mut *sock, &mut buf, &mut bytes_in);
                let limit = view.query_buffer_limit;
                let Some(reply) =
                    wait_unblocked(engine, (id, limit), &mut listener, *wait, input).await
                else {
                    return Ok(());
                };
                encode(&reply, view.resp, &mut out);
                raise_peak(peak, out.len());
                engine.sent(out.len());
                sock.write_all(&out).await?;
                out.clear();
                if matches!(&reply, Reply::Error(e) if e == crate::cmd::repl::FORCE_UNBLOCK) {
                    // Unblocked because this master became a replica: closed after the
                    // error, as Redis does.
                    return Ok(());
                }
                continue;
            }
            raise_peak(peak, out.len());
            // The replies are encoded: free them now, not when the next batch runs.
            outcomes.clear();
            if !send_replies(sock, &mut unsent, &mut out, (meter, climits), &queues).await? {
                return Ok(());
            }
            if out.capacity() > BIG_REPLY {
                // A big reply grew the encoding buffer: give it back rather than keep it
                // per connection (Redis frees its reply blocks once written).
                out = Vec::with_capacity(16 * 1024);
            }
            if view.close {
                batch.clear();
                drain(sock, &mut unsent, meter, &mut listener).await?;
                return Ok(());
            }
            if view.paused_until_ms > 0 && !batch.is_empty() {
                // CLIENT PAUSE holds the rest: look again when it ends, or soon (an
                // UNPAUSE may end it early), without reading more meanwhile.
                let left = (view.paused_until_ms - clock::now_ms()).clamp(1, 10);
                tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(10))).await;
                continue;
            }
            if !batch.is_empty() || more_buffered {
                continue;
            }
        }
        if let Some(e) = proto_err {
            if !drain(sock, &mut unsent, meter, &mut listener).await? {
                return Ok(());
            }
            encode(&Reply::Error(e.to_string()), view.resp, &mut out);
            engine.sent(out.len());
            sock.write_all(&out).await?;
            return Ok(());
        }
        if buf.len() as u64 > view.query_buffer_limit {
            tracing::warn!(
                client = id,
                "closing client that exceeded client-query-buffer-limit"
            );
            return Ok(());
        }
        if listener.bell().is(KILLED) || engine.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        if buf.is_empty() && buf.capacity() > BIG_BUFFER {
            // A big request grew the buffers: give the memory back once it ran (Redis
            // shrinks its query buffer likewise), rather than keep it per connection.
            buf = BytesMut::with_capacity(16 * 1024);
            out = Vec::with_capacity(16 * 1024);
        }
        // (An idle connection that gave its buffers back reads into a small one first:
        // BytesMut grows it as the request arrives.)
        // A big argument arriving has its whole room already (see below): growing the
        // buffer for its last bytes would double it (a client that sent a 6 MB argument
        // without its final CRLF held 12 MB, and client eviction took it for that).
        let room_for_arg = buf.len() >= 32 * 1024
            && big_arg(&buf).is_some_and(|(start, len)| buf.capacity() >= start + len + 2);
        if !(room_for_arg || buf.is_empty() && idle_released) {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(16 * 1024);
            } else if buf.capacity() < 16 * 1024 {
                // Take back the room of the requests already run (BytesMut reuses its
                // allocation once they are dropped): a 16 KiB buffer, as Redis's.
                buf.reserve(16 * 1024 - buf.len());
            }
        }
        // With output unsent, keep writing it while reading (up to MAX_UNSENT).
        let may_read = unsent.len() < MAX_UNSENT;
        let io = async {
            if unsent.is_empty() {
                sock.read_buf(&mut buf).await.map(Some)
            } else {
                write_and_read(sock, &mut unsent, &mut buf, may_read, meter).await
            }
        };
        let n = tokio::select! {
            // The socket first: a request that has arrived is taken without looking at
            // the doorbell. A kill or stop that came meanwhile is seen by its flag below,
            // before anything read runs (a client killed while its next command arrived
            // must not run it); pub/sub messages queued meanwhile are written first, below.
            biased;
            r = io => match r? {
                Some(n) => n,
                None => continue,
            },
            rung = listener.rung(KILLED | STOP | MESSAGES) => {
                if rung & (KILLED | STOP) != 0 {
                    return Ok(());
                }
                listener.bell().clear(MESSAGES);
                // Pub/sub messages: let the tasks already runnable (other publishers) go
                // first, then write everything queued in one go — one write for many
                // messages, as Redis's one write per event-loop pass. But before any
                // command that arrives meanwhile runs (`requeue`, not `yield_now`, which
                // waits for the I/O driver): Redis writes what it queued for its clients
                // before it reads more, and the next command must not find these bytes
                // still held (10 tracking clients' invalidations, unwritten, made the
                // next command evict every key for room).
                requeue().await;
                outbox.take(&mut msgs);
                if msgs.is_empty() {
                    if release.swap(false, Ordering::AcqRel) && buf.is_empty() {
                        // Idle for 2 s: give the buffers back (Redis frees an idle
                        // client's query buffer); the next request allocates them again.
                        buf = BytesMut::new();
                        out = Vec::new();
                        msgs = Vec::new();
                        idle_released = true;
                    }
                    continue;
                }
                raise_peak(peak, msgs.len());
                // What the socket does not take now queues behind (a subscriber that
                // stops reading: the output buffer limits end it). The meter counted the
                // messages when they were queued.
                meter.count_sent(msgs.len());
                let written = if unsent.is_empty() { write_now(sock, &msgs).await? } else { 0 };
                meter.sub(written);
                if written < msgs.len() {
                    unsent.keep(&mut msgs, written);
                }
                release_big(&mut msgs);
                continue;
            }
            _ = idle(view.timeout_s) => return Ok(()),
        };
        if n == 0 || listener.bell().is(KILLED) || engine.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        if meter.pending() > 0 {
            // Messages queued before this read go out (or queue) before the replies to what
            // it read.
            outbox.take(&mut msgs);
            if !msgs.is_empty() {
                raise_peak(peak, msgs.len());
                meter.count_sent(msgs.len());
                let written = if unsent.is_empty() {
                    write_now(sock, &msgs).await?
                } else {
                    0
                };
                meter.sub(written);
                if written < msgs.len() {
                    unsent.keep(&mut msgs, written);
                }
                release_big(&mut msgs);
            }
        }
        idle_released = false;
        bytes_in += n as u64;
        // The query buffer as CLIENT LIST and client eviction see it. An incomplete big
        // argument gets room for all of it at once and only its payload counts, as in Redis.
        let big = if buf.len() >= 32 * 1024 {
            big_arg(&buf)
        } else {
            None
        };
        if let Some((start, len)) = big {
            if buf.capacity() < start + len + 2 {
                buf.reserve(start + len + 2 - buf.len());
            }
        }
        meter
            .qbuf_len
            .store(buf.len() - big.map_or(0, |b| b.0), Ordering::Relaxed);
        meter
            .qbuf_free
            .store(buf.capacity() - buf.len(), Ordering::Relaxed);
        if climits.evicting() && buf.capacity().abs_diff(evict_checked) >= 16 * 1024 {
            // Input grows this client's memory: client eviction looks again (Redis does
            // after each read).
            evict_checked = buf.capacity();
            engine
                .with_state_async(|st| st.clients.evict_clients())
                .await;
            if listener.bell().is(KILLED) {
                return Ok(());
            }
        }
    }
}

/// EVAL or EVAL_RO (what SCRIPT DEBUG turns into a debugging session).
fn is_eval(argv: &[Bytes]) -> bool {
    argv.first()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"eval") || c.eq_ignore_ascii_case(b"eval_ro"))
}

/// Run `argv` (an EVAL of a client in SCRIPT DEBUG mode) as a Lua debugging session: the
/// command runs on a thread of its own (it holds the engine lock, blocking, until the
/// script ends, as any script does), while this task pumps the session's `Link`: bytes
/// the client sends go to the debugger (`pending` first), its log lines come back and are
/// written at once. Returns the command's view and outcome once it has run and its last
/// log lines are written, with every byte given to the debugger (input again if the
/// command did not run); None if the client disconnected (the debugger then lets the
/// script run to its end, and the thread ends on its own). A server stopping counts as a
/// disconnect: the script runs to its end instead of holding the server.
async fn debug_session<S: Socket>(
    engine: &Arc<Engine>,
    sock: &mut S,
    id: u64,
    argv: &[Bytes],
    pending: Vec<u8>,
    (bytes_in, qbuf): (u64, QueryBuf),
) -> Option<(ConnView, Vec<Outcome>, Vec<u8>)> {
    let (in_tx, in_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let link = crate::script::debugger::Link {
        input: in_rx,
        output: Box::new(move |b: &[u8]| {
            let _ = out_tx.send(b.to_vec());
        }),
    };
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let (e, argv) = (engine.clone(), argv.to_vec());
    let rt = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("strata-ldb".into())
        .spawn(move || {
            // In the runtime's context, as commands run on its workers (a snapshot the
            // session starts walks there).
            let _rt = rt.enter();
            let mut out = Vec::new();
            let v = e.execute_debug(id, &argv, link, &mut out, bytes_in, qbuf);
            let _ = done_tx.send((v, out));
        });
    if spawned.is_err() {
        return None;
    }
    let mut input = Some(in_tx);
    let mut given = pending.clone();
    if !pending.is_empty() {
        if let Some(tx) = &input {
            let _ = tx.send(pending);
        }
    }
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut out_open = true;
    let stop = engine.stop_notify.notified();
    tokio::pin!(stop);
    loop {
        if engine.stopping.load(Ordering::Acquire) {
            input = None;
        }
        tokio::select! {
            biased;
            done = &mut done_rx => {
                let (view, outcomes) = done.ok()?;
                // Log lines sent before the script ended go out before its reply.
                while let Ok(b) = out_rx.try_recv() {
                    if input.is_some() {
                        engine.sent(b.len());
                        if sock.write_all(&b).await.is_err() {
                            input = None;
                        }
                    }
                }
                return input.is_some().then_some((view, outcomes, given));
            }
            _ = &mut stop, if input.is_some() => input = None,
            m = out_rx.recv(), if out_open => match m {
                Some(b) => {
                    if input.is_some() {
                        engine.sent(b.len());
                        if sock.write_all(&b).await.is_err() {
                            input = None;
                        }
                    }
                }
                None => out_open = false,
            },
            r = sock.read(&mut rbuf), if input.is_some() => match r {
                Ok(n) if n > 0 => {
                    if let Some(tx) = &input {
                        given.extend_from_slice(&rbuf[..n]);
                        let _ = tx.send(rbuf[..n].to_vec());
                    }
                }
                // Gone: dropping the sender tells the debugger.
                _ => input = None,
            },
        }
    }
}

/// A connection that arrived while a script holds the engine, not registered yet (the
/// script's thread registers it at its next step): read its commands and answer SCRIPT
/// KILL / FUNCTION KILL / FUNCTION STATS, or -BUSY once the script has run past
/// `busy-reply-threshold` (5 s unless configured otherwise; the setting lives in the
/// engine the script holds), until the script ends or `registered()`. A command the busy
/// desk runs (HELLO, AUTH, WATCH …) waits for the registration, and whatever is left
/// unanswered stays in `buf` for the normal loop. MULTI, DISCARD and EXEC get the same
/// answers as from a registered client (`busy_transaction`); their effect on the
/// transaction state is left in `fixes` for registration.
async fn answer_while_busy<S: Socket>(
    engine: &Engine,
    sock: &mut S,
    buf: &mut BytesMut,
    (in_multi, fixes): (&mut bool, &mut Vec<BusyFix>),
    registered: &(dyn Fn() -> bool + Sync),
) -> std::io::Result<()> {
    let limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: false,
    };
    let mut out = Vec::new();
    while crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 && !registered() {
        let mut probe = buf.clone();
        match decode(&mut probe, &limits) {
            Ok(Some(argv)) => {
                if engine
                    .renames
                    .own_argv(&argv)
                    .is_some_and(|own| crate::cmd::busy::takes(&own))
                {
                    // Runs once registered (at the desk while the script still runs).
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let (first, answer) =
                    while_script_runs_as_called(engine, &argv, None, (*in_multi, fixes)).await;
                match answer {
                    Some(reply) => {
                        let reply = busy_transaction(in_multi, fixes, &first, reply);
                        *buf = probe;
                        encode(&reply, 2, &mut out);
                        engine.sent(out.len());
                        sock.write_all(&out).await?;
                        out.clear();
                    }
                    // The script ended: this command runs normally once registered.
                    None => return Ok(()),
                }
            }
            Ok(None) => {
                let read = sock.read_buf(buf);
                tokio::select! {
                    r = read => {
                        if r? == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            // Let the normal loop report it once registered.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// A script run that took less than this marks its script as fast.
const FAST_SCRIPT: Duration = Duration::from_millis(2);
/// Most scripts remembered as fast (the set starts over beyond this).
const FAST_SCRIPTS_MAX: usize = 10_000;

/// Scripts (EVAL bodies, EVALSHA digests, FCALL names, by hash) that have finished quickly
/// before, so their batches run in place instead of under `block_in_place`. A script that
/// loops forever on its first run is therefore always killable; one that was fast before
/// and now runs long holds the connection thread (as it would in Redis without the hook).
struct FastScripts;

static FAST: parking_lot::Mutex<Option<std::collections::HashSet<u64>>> =
    parking_lot::Mutex::new(None);

impl FastScripts {
    fn all_fast(keys: &[u64]) -> bool {
        FAST.lock()
            .as_ref()
            .is_some_and(|set| keys.iter().all(|k| set.contains(k)))
    }

    fn mark(keys: &[u64]) {
        let mut g = FAST.lock();
        let set = g.get_or_insert_with(Default::default);
        if set.len() + keys.len() > FAST_SCRIPTS_MAX {
            set.clear();
        }
        set.extend(keys.iter().copied());
    }
}

/// The scripts a batch runs (EVAL…, FCALL…), as hashes of (command, script or name), when
/// the runtime is multi-threaded (the server's always is) so `block_in_place` is available.
fn script_keys(batch: &[Vec<Bytes>]) -> Vec<u64> {
    use std::hash::{BuildHasher, Hasher};
    let mut keys = Vec::new();
    for argv in batch {
        let Some(c) = argv.first() else { continue };
        if c.len() >= 4
            && (c[..4].eq_ignore_ascii_case(b"eval") || c[..4].eq_ignore_ascii_case(b"fcal"))
        {
            let mut h = foldhash::fast::FixedState::with_seed(7).build_hasher();
            h.write(&c.to_ascii_lowercase());
            h.write(argv.get(1).map_or(&b""[..], |a| &a[..]));
            if c[..4].eq_ignore_ascii_case(b"fcal") {
                // A function name may be given new code (FUNCTION LOAD REPLACE): a call
                // seen fast before then says nothing about the new body.
                h.write_u64(
                    crate::script::FUNCTIONS_GENERATION.load(std::sync::atomic::Ordering::Relaxed),
                );
            }
            keys.push(h.finish());
        }
    }
    if !keys.is_empty()
        && !tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
    {
        keys.clear();
    }
    keys
}

/// While a script runs: answer SCRIPT KILL at once, and after `busy-reply-threshold`
/// answer -BUSY (SHUTDOWN NOSAVE stops the server). `None`: the script ended; execute
/// normally.
/// A change to the client's transaction state decided while a script held the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BusyFix {
    /// MULTI was accepted.
    Multi,
    /// A command was refused with -BUSY inside the transaction: EXEC will abort.
    Abort,
    /// EXEC was refused (the transaction is discarded) or DISCARD was accepted.
    Discard,
}

/// Redis's transaction rules while a script runs past busy-reply-threshold: MULTI and
/// DISCARD are allowed (`allow-busy`), a command refused with -BUSY inside MULTI dooms the
/// transaction, and EXEC refused then answers `-EXECABORT Transaction discarded because
/// of: BUSY …` and leaves MULTI. `busy` is the reply `while_script_runs` chose; the state
/// changes are queued in `fixes` and applied before the client's next command runs.
fn busy_transaction(
    in_multi: &mut bool,
    fixes: &mut Vec<BusyFix>,
    argv: &[Bytes],
    busy: Reply,
) -> Reply {
    let Reply::Error(e) = &busy else {
        return busy;
    };
    if !e.starts_with("BUSY") {
        return busy;
    }
    let is = |w: &str| {
        argv.first()
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    if is("multi") && argv.len() == 1 {
        if *in_multi {
            return Reply::Error("ERR MULTI calls can not be nested".into());
        }
        *in_multi = true;
        fixes.push(BusyFix::Multi);
        return Reply::ok();
    }
    if is("discard") && argv.len() == 1 {
        if !*in_multi {
            return Reply::Error("ERR DISCARD without MULTI".into());
        }
        *in_multi = false;
        fixes.push(BusyFix::Discard);
        return Reply::ok();
    }
    if *in_multi {
        if is("exec") {
            *in_multi = false;
            fixes.push(BusyFix::Discard);
            return Reply::Error(format!("EXECABORT Transaction discarded because of: {e}"));
        }
        fixes.push(BusyFix::Abort);
    }
    busy
}

fn apply_busy_fixes(st: &mut crate::cmd::State, id: u64, fixes: &[BusyFix]) {
    for f in fixes {
        match f {
            BusyFix::Multi => {
                if let Some(c) = st.clients.map.get_mut(&id) {
                    c.multi = Some(Vec::new());
                    c.multi_aborted = false;
                }
            }
            BusyFix::Abort => {
                if let Some(c) = st.clients.map.get_mut(&id) {
                    if c.multi.is_some() {
                        c.multi_aborted = true;
                    }
                }
            }
            BusyFix::Discard => {
                if let Some(c) = st.clients.map.get_mut(&id) {
                    c.multi = None;
                    c.multi_aborted = false;
                }
                st.unwatch_all(id);
            }
        }
    }
}

/// `desk`: the registered client sending `argv` and its connection settings, for a command
/// the busy desk runs (`cmd::busy`) once the threshold has passed.
/// `while_script_runs` for `argv` by the name of the command the client means
/// (`rename-command`), which it returns; a name taken away is an unknown command at once
/// (dooming a transaction), as Redis looks commands up before the busy check.
async fn while_script_runs_as_called<'a>(
    engine: &Engine,
    argv: &'a [Bytes],
    desk: Option<(u64, &mut ConnView)>,
    (in_multi, fixes): (bool, &mut Vec<BusyFix>),
) -> (std::borrow::Cow<'a, [Bytes]>, Option<Reply>) {
    match engine.renames.own_argv(argv) {
        Some(own) => {
            let answer = while_script_runs(engine, &own, desk).await;
            (own, answer)
        }
        None => {
            if in_multi {
                fixes.push(BusyFix::Abort);
            }
            let e = crate::cmd::error::CmdError::unknown(argv);
            (argv.into(), Some(Reply::Error(e.to_string())))
        }
    }
}

async fn while_script_runs(
    engine: &Engine,
    argv: &[Bytes],
    desk: Option<(u64, &mut ConnView)>,
) -> Option<Reply> {
    let is = |i: usize, w: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    if (is(0, "script") || is(0, "function")) && is(1, "kill") && argv.len() == 2 {
        return Some(match crate::script::request_kill_from(is(0, "script")) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::Error(e.text().to_string()),
        });
    }
    if is(0, "function") && is(1, "stats") && argv.len() == 2 {
        return Some(crate::script::function::stats_while_busy());
    }
    let threshold = Duration::from_millis(engine.busy_threshold_ms().max(1));
    while crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 {
        if crate::script::running_for() >= threshold {
            if is(0, "shutdown") && is(1, "nosave") {
                engine.request_stop();
                return None;
            }
            if let Some((id, view)) = desk {
                if crate::cmd::busy::takes(argv) {
                    let answer = at_busy_desk(engine.state_key(), id, argv).await?;
                    view.resp = answer.resp;
                    view.authenticated = answer.authenticated;
                    view.close = answer.close;
                    return Some(answer.reply);
                }
            }
            return Some(Reply::Error(crate::script::busy_error().into()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Leave `argv` at the busy desk for the running script's thread and wait for its answer;
/// None if the script ended first without taking it (the command then runs as usual).
async fn at_busy_desk(state: usize, id: u64, argv: &[Bytes]) -> Option<crate::cmd::busy::Answer> {
    let (ticket, mut answer) = crate::cmd::busy::submit(state, id, argv.to_vec());
    loop {
        tokio::select! {
            a = &mut answer => return a.ok(),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {
                if crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) == 0
                    && crate::cmd::busy::withdraw(ticket)
                {
                    return None;
                }
            }
        }
    }
}

/// Wait for a parked client: served (its reply, once its record is durable), timed out
/// (the command's timeout reply), or killed / server stopping (None: close).
///
/// Meanwhile the socket is read, as Redis keeps reading a blocked client: what the client
/// sends is kept in `buf` for after, and a client that disconnects stops waiting at once
/// (None). Otherwise a later push would be handed to a connection that is gone, and the
/// element lost. Past `client-query-buffer-limit` (`limit`) the client is closed, as
/// Redis closes it whatever it is doing.
async fn wait_unblocked<S: Socket>(
    engine: &Engine,
    (id, limit): (u64, u64),
    listener: &mut Listener,
    wait: BlockWait,
    (sock, buf, bytes_in): (&mut S, &mut BytesMut, &mut u64),
) -> Option<Reply> {
    let BlockWait {
        mut rx,
        deadline_ms,
    } = wait;
    let sleep = async {
        if deadline_ms <= 0 {
            std::future::pending::<()>().await;
        } else {
            // Once the clock is past the deadline (Redis's `timeout < now`): the deadline
            // is the command's millisecond plus the timeout, and waking during its last
            // millisecond could answer before the timeout has passed since the command ran.
            let ms = (deadline_ms + 1 - clock::now_ms()).max(0);
            tokio::time::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(0))).await;
        }
    };
    tokio::pin!(sleep);
    let served = loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        tokio::select! {
            r = &mut rx => break r.ok(),
            () = &mut sleep => {
                if let Some(now) = engine.unblock(id).await {
                    return Some(now);
                }
                // Served concurrently: the reply is already in the channel.
                break rx.await.ok();
            }
            _ = listener.rung(KILLED | STOP) => return None,
            r = sock.read_buf(buf) => match r {
                Ok(n) if n > 0 && buf.len() as u64 <= limit => *bytes_in += n as u64,
                Ok(n) if n > 0 => {
                    tracing::warn!(
                        client = id,
                        "closing client that exceeded client-query-buffer-limit"
                    );
                    engine.unblock(id).await;
                    return None;
                }
                // Gone: no longer blocked (served meanwhile, the reply has nowhere to go).
                _ => {
                    engine.unblock(id).await;
                    return None;
                }
            },
        }
    };
    let (reply, lsn) = served?;
    if lsn > engine.log.durable_lsn() {
        if let Err(e) = engine.log.wait_durable(lsn).await {
            return Some(Reply::Error(format!(
                "MISCONF Errors writing to the AOF file: {e}"
            )));
        }
    }
    Some(reply)
}

async fn idle(timeout_s: u64) {
    if timeout_s == 0 {
        std::future::pending::<()>().await;
    } else {
        tokio::time::sleep(Duration::from_secs(timeout_s)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queued output fills whole blocks, comes back in order across them however the
    /// socket takes it, and the meter counts the blocks' room beyond the bytes.
    #[test]
    fn unsent_output_fills_blocks_and_is_written_in_order() {
        let meter = Arc::new(OutMeter::default());
        let mut u = Unsent::new(meter.clone());
        let mut data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let mut want = data[100..].to_vec();
        u.keep(&mut data, 100);
        assert!(data.is_empty());
        assert_eq!((u.len(), u.chunks.len()), (39_900, 3));
        let mut more = vec![7u8; 10];
        u.keep(&mut more, 0);
        want.extend_from_slice(&[7u8; 10]);
        // Into the last block's room: no fourth block.
        assert_eq!((u.len(), u.chunks.len()), (39_910, 3));
        let room =
            |u: &Unsent| 3 * BLOCK + u.chunks.capacity() * std::mem::size_of::<Vec<u8>>() - u.len();
        assert_eq!(meter.pending(), room(&u));
        let mut got = Vec::new();
        let mut step = 1;
        while !u.is_empty() {
            let front = u.front();
            let flat: Vec<u8> = front.iter().flat_map(|s| s.iter().copied()).collect();
            assert_eq!(flat.len(), u.len());
            let n = step.min(flat.len());
            got.extend_from_slice(&flat[..n]);
            drop(front);
            u.advance(n);
            step = step * 3 + 7;
        }
        assert_eq!(got, want);
        u.clear();
        assert_eq!(meter.pending(), 0);
    }
}
