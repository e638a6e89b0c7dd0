//! How an orchestration pattern plugs into workflow files without the runtime knowing it by
//! name: a pattern is a kind named `pattern.<name>` (registered with
//! [`crate::KindRegistry::register_pattern`]), and its [`PatternAdapter`] turns the file's
//! `pattern:` block and the workflow's pools into the config of the implicit pattern pool.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::spec::PoolSpec;

type AdaptFn = dyn Fn(Map<String, Value>, &BTreeMap<String, PoolSpec>) -> Value + Send + Sync;

/// Builds a pattern pool's config from the workflow file's `pattern:` block (an empty map when
/// there is none) and the workflow's pools that no task names (the pattern's members).
#[derive(Clone)]
pub struct PatternAdapter(Arc<AdaptFn>);

impl PatternAdapter {
    /// An adapter from a function of the pattern block and the member pools.
    pub fn new(
        f: impl Fn(Map<String, Value>, &BTreeMap<String, PoolSpec>) -> Value + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }

    /// The usual adapter: the block, with a `members` entry (unless it has one) listing each
    /// member pool as `{type, count, config, capabilities}`.
    pub fn members() -> Self {
        Self::new(|mut block, pools| {
            if !block.contains_key("members") {
                let members: Map<String, Value> = pools
                    .iter()
                    .map(|(name, p)| {
                        let member = json!({
                            "type": p.kind,
                            "count": p.count,
                            "config": p.config,
                            "capabilities": p.capabilities,
                        });
                        (name.clone(), member)
                    })
                    .collect();
                block.insert("members".into(), Value::Object(members));
            }
            Value::Object(block)
        })
    }

    /// The pattern pool's config.
    pub fn adapt(&self, block: Map<String, Value>, pools: &BTreeMap<String, PoolSpec>) -> Value {
        (self.0)(block, pools)
    }
}

impl std::fmt::Debug for PatternAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatternAdapter")
    }
}
