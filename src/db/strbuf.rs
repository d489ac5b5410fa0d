//! `StrBuf`: the bytes of a string value. Owned like a `Vec<u8>` (what every string is
//! while no snapshot runs), or shared by reference with a running snapshot that took a
//! large string (`db::LARGE_STRING`) without copying it: the walk then holds the string
//! in microseconds whatever its size, and the thread writing the file encodes it off the
//! engine lock (a 200 MB string encoded under the lock paused every client for 67 ms,
//! issue 4). Reading goes through `Deref`; the first change through a shared one makes it
//! owned again, copying the bytes only if the snapshot still holds them. Nothing else.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The bytes of a string value (binary safe).
#[derive(PartialEq, Eq)]
pub struct StrBuf(Repr);

#[derive(PartialEq, Eq)]
enum Repr {
    /// Nobody else holds these bytes.
    Own(Vec<u8>),
    /// Held by reference, perhaps by a running snapshot too.
    Shared(Arc<Vec<u8>>),
}

// A string value stays three words (an `Entry`, and so a keyspace node, keeps its size).
const _: () = assert!(std::mem::size_of::<StrBuf>() == std::mem::size_of::<Vec<u8>>());

impl StrBuf {
    /// Another holder of the same bytes, without copying them: from now on this one is
    /// shared too, and the first change through either copies the bytes if the other
    /// still holds them.
    pub fn share(&mut self) -> StrBuf {
        if let Repr::Own(v) = &mut self.0 {
            self.0 = Repr::Shared(Arc::new(std::mem::take(v)));
        }
        match &self.0 {
            Repr::Shared(a) => StrBuf(Repr::Shared(Arc::clone(a))),
            Repr::Own(_) => unreachable!("made shared above"),
        }
    }

    /// True if the bytes are held by reference (`share`).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared(_))
    }

    /// The bytes as a vector (copied only if someone else still holds them).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Own(v) => v,
            Repr::Shared(a) => Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()),
        }
    }
}

impl From<Vec<u8>> for StrBuf {
    fn from(v: Vec<u8>) -> StrBuf {
        StrBuf(Repr::Own(v))
    }
}

impl From<&[u8]> for StrBuf {
    fn from(v: &[u8]) -> StrBuf {
        StrBuf(Repr::Own(v.to_vec()))
    }
}

/// A copy of owned bytes; another holder of shared ones.
impl Clone for StrBuf {
    fn clone(&self) -> StrBuf {
        match &self.0 {
            Repr::Own(v) => StrBuf(Repr::Own(v.clone())),
            Repr::Shared(a) => StrBuf(Repr::Shared(Arc::clone(a))),
        }
    }
}

impl Deref for StrBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        match &self.0 {
            Repr::Own(v) => v,
            Repr::Shared(a) => a,
        }
    }
}

/// Changing the bytes makes them owned again (a copy only if still held elsewhere).
impl DerefMut for StrBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        if self.is_shared() {
            if let Repr::Shared(a) = std::mem::replace(&mut self.0, Repr::Own(Vec::new())) {
                self.0 = Repr::Own(Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()));
            }
        }
        match &mut self.0 {
            Repr::Own(v) => v,
            Repr::Shared(_) => unreachable!("made owned above"),
        }
    }
}

impl std::fmt::Debug for StrBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_string_is_copied_only_while_someone_else_holds_it() {
        let mut s = StrBuf::from(b"hello".to_vec());
        let p = s.as_ptr();
        let mut held = s.share();
        assert!(s.is_shared() && held.is_shared());
        assert_eq!(held.as_ptr(), p, "sharing copies nothing");
        s.extend_from_slice(b" world");
        assert!(!s.is_shared());
        assert_eq!(&held[..], b"hello", "the holder keeps what it took");
        assert_eq!(&s[..], b"hello world");
        // The holder is alone now: changing it copies nothing.
        let q = held.as_ptr();
        held[0] = b'j';
        assert_eq!((held.as_ptr(), &held[..]), (q, &b"jello"[..]));
        let mut t = StrBuf::from(vec![1u8; 10]);
        let u = t.share();
        drop(t);
        let r = u.as_ptr();
        let v = u.into_vec();
        assert_eq!(v.as_ptr(), r, "the last holder takes the bytes");
    }
}
