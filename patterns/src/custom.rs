//! The custom pattern (being written).

use troupe_runtime::KindRegistry;

/// Registers the `pattern.custom` kind.
pub fn register(_registry: &KindRegistry) {}
