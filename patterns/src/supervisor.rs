//! The supervisor pattern (being written).

use troupe_runtime::KindRegistry;

/// Registers the `pattern.supervisor` kind.
pub fn register(_registry: &KindRegistry) {}
