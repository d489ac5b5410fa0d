//! ZSet commands (placeholder until they land).

use super::CommandSpec;

/// Register the zset commands.
pub fn register(_t: &mut Vec<CommandSpec>) {}
