//! List commands (placeholder until they land).

use super::CommandSpec;

/// Register the list commands.
pub fn register(_t: &mut Vec<CommandSpec>) {}
