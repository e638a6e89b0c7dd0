//! The swarm pattern (being written).

use troupe_runtime::KindRegistry;

/// Registers the `pattern.swarm` kind.
pub fn register(_registry: &KindRegistry) {}
