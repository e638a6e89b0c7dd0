//! The hierarchical pattern (being written).

use troupe_runtime::KindRegistry;

/// Registers the `pattern.hierarchical` kind.
pub fn register(_registry: &KindRegistry) {}
