//! The network pattern (being written).

use troupe_runtime::KindRegistry;

/// Registers the `pattern.network` kind.
pub fn register(_registry: &KindRegistry) {}
