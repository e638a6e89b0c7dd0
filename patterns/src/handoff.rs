//! The handoff pattern (being written).

use troupe_runtime::KindRegistry;

/// Registers the `pattern.handoff` kind.
pub fn register(_registry: &KindRegistry) {}
