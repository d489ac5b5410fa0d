//! The hash type: a Redis hash (field → value). Placeholder shape until its semantics land; the command
//! layer (cmd/hash.rs) must not depend on its internals beyond this file's API.

/// a Redis hash (field → value).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hash {}

impl Hash {
    /// An empty value.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        0
    }
    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The encoding OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        "placeholder"
    }
}
