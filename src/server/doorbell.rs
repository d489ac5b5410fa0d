//! A connection's doorbell: what others need it to notice while it waits on its socket
//! (it was killed, the server is stopping, pub/sub messages were queued for it), as flags,
//! and the one task to wake. Waiting costs a flag load once the task's waker is
//! registered (a connection polls its doorbell after every request it answers, so a
//! lock there, as each waiting `tokio::sync::Notify` takes, would be paid per request).

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The client was killed (CLIENT KILL, eviction, output buffer limits).
pub const KILLED: u8 = 1;
/// The server is stopping.
pub const STOP: u8 = 2;
/// Pub/sub messages (or an idle buffer release) are queued in its outbox.
pub const MESSAGES: u8 = 4;

/// Rung by anyone, waited on by its connection.
#[derive(Default)]
pub struct Doorbell {
    rung: AtomicU8,
    waker: parking_lot::Mutex<Option<Waker>>,
}

impl Doorbell {
    /// Set `what` and wake the connection.
    pub fn ring(&self, what: u8) {
        self.rung.fetch_or(what, Ordering::AcqRel);
        if let Some(w) = &*self.waker.lock() {
            w.wake_by_ref();
        }
    }

    /// Whether any of `what` is set.
    pub fn is(&self, what: u8) -> bool {
        self.rung.load(Ordering::Acquire) & what != 0
    }

    /// Clear `what` (before taking what it announced, so a ring after is not lost).
    pub fn clear(&self, what: u8) {
        if self.is(what) {
            self.rung.fetch_and(!what, Ordering::AcqRel);
        }
    }
}

/// The connection's side of its doorbell: remembers the waker it registered, so waiting
/// again from the same task registers nothing.
pub struct Listener {
    bell: Arc<Doorbell>,
    registered: Option<Waker>,
}

impl Listener {
    pub fn new(bell: Arc<Doorbell>) -> Self {
        Listener {
            bell,
            registered: None,
        }
    }

    /// The doorbell listened to.
    pub fn bell(&self) -> &Doorbell {
        &self.bell
    }

    /// Ready with the flags of `mask` that are set (they stay set; see
    /// [`Doorbell::clear`]).
    pub fn poll_rung(&mut self, cx: &mut Context<'_>, mask: u8) -> Poll<u8> {
        let rung = self.bell.rung.load(Ordering::Acquire) & mask;
        if rung != 0 {
            return Poll::Ready(rung);
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // A ring after the load above wakes this waker, registered before it.
            return Poll::Pending;
        }
        let w = cx.waker().clone();
        *self.bell.waker.lock() = Some(w.clone());
        self.registered = Some(w);
        // A ring before the registration set its flag before it looked for a waker.
        match self.bell.rung.load(Ordering::Acquire) & mask {
            0 => Poll::Pending,
            rung => Poll::Ready(rung),
        }
    }

    /// Wait until one of `mask` is set; returns those set.
    pub async fn rung(&mut self, mask: u8) -> u8 {
        poll_fn(|cx| self.poll_rung(cx, mask)).await
    }
}

/// Every connection's doorbell by client id, for the server stop to ring them all.
#[derive(Default)]
pub struct Doorbells(parking_lot::Mutex<HashMap<u64, Arc<Doorbell>>>);

impl Doorbells {
    pub fn add(&self, id: u64, bell: Arc<Doorbell>) {
        self.0.lock().insert(id, bell);
    }

    pub fn remove(&self, id: u64) {
        self.0.lock().remove(&id);
    }

    /// Ring `what` on every doorbell.
    pub fn ring_all(&self, what: u8) {
        for b in self.0.lock().values() {
            b.ring(what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ring_before_or_after_waiting_wakes_the_listener() {
        let bell = Arc::new(Doorbell::default());
        let mut l = Listener::new(bell.clone());
        bell.ring(MESSAGES);
        assert_eq!(l.rung(KILLED | MESSAGES).await, MESSAGES);
        bell.clear(MESSAGES);
        assert!(!bell.is(MESSAGES));
        let b2 = bell.clone();
        let ringer = tokio::spawn(async move {
            tokio::task::yield_now().await;
            b2.ring(KILLED);
        });
        assert_eq!(l.rung(KILLED | STOP).await, KILLED);
        ringer.await.unwrap();
        // A flag outside the mask does not end the wait.
        let mut l2 = Listener::new(Arc::new(Doorbell::default()));
        l2.bell().ring(MESSAGES);
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), l2.rung(STOP)).await;
        assert!(waited.is_err());
    }
}
