//! `Shared<T>`: a piece of a value that a running snapshot can hold without copying it.
//! Cloning one only counts a reference; the first change made through a `Shared` whose
//! contents someone else still holds copies them first (copy on write), so the holder keeps
//! exactly what it took. Large values are built from these (a list's nodes), so that the
//! snapshot's walk takes a large value in microseconds under the engine lock and encodes
//! it on its own thread afterwards, as a fork's child reads pages the parent copies only
//! when it writes them (format/snapshot.md, "Large values"). Nothing else here.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Contents shared between the keyspace and a running snapshot, copied on first write.
#[derive(Default)]
pub struct Shared<T>(Arc<T>);

impl<T> Shared<T> {
    /// Wrap `t` (not shared with anyone yet).
    pub fn new(t: T) -> Self {
        Shared(Arc::new(t))
    }
}

/// Another holder of the same contents (no copy).
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Changing the contents first copies them if a snapshot still holds them.
impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        T::fmt(self, f)
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        T::eq(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A holder keeps what it took; the writer's change copies once, then writes in place.
    #[test]
    fn a_write_copies_only_what_someone_else_holds() {
        let mut live = Shared::new(vec![1, 2, 3]);
        let held = live.clone();
        assert!(std::ptr::eq(&*live, &*held), "a clone shares the contents");
        live.push(4);
        assert_eq!(*held, vec![1, 2, 3]);
        assert_eq!(*live, vec![1, 2, 3, 4]);
        assert!(!std::ptr::eq(&*live, &*held), "the write copied them first");
        let before = live.as_ptr();
        live[0] = 9;
        assert_eq!(live.as_ptr(), before, "an unshared write does not copy");
        drop(held);
        assert_eq!(*live, vec![9, 2, 3, 4]);
    }
}
