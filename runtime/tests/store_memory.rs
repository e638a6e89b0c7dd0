//! The store conformance suite on the in-memory store.

use std::sync::Arc;

use troupe_runtime::store::testing::{run_suite, Built, StoreFactory};
use troupe_runtime::store::{MemoryStore, StoreConfig, StoreError};
use troupe_runtime::BoxFuture;

struct Memory;

impl StoreFactory for Memory {
    fn build(&self, config: StoreConfig) -> BoxFuture<'_, Result<Built, StoreError>> {
        Box::pin(async move {
            Ok(Built {
                store: Arc::new(MemoryStore::with_config(config)?),
                guard: Box::new(()),
            })
        })
    }
}

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    run_suite(&Memory).await.assert_ok();
}

#[test]
fn memory_store_refuses_a_zero_journal_limit() {
    let config = StoreConfig {
        journal_limit_bytes: 0,
        ..StoreConfig::default()
    };
    let err = MemoryStore::with_config(config).expect_err("zero limit");
    assert!(err.to_string().contains("journal_limit_bytes"), "{err}");
}
