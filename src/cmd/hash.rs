//! Hash commands (placeholder until they land).

use super::CommandSpec;

/// Register the hash commands.
pub fn register(_t: &mut Vec<CommandSpec>) {}
