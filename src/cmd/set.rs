//! Set commands (placeholder until they land).

use super::CommandSpec;

/// Register the set commands.
pub fn register(_t: &mut Vec<CommandSpec>) {}
