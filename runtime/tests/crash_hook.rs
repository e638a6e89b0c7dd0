//! The crash panic hook (installed here as a binary would: this test binary is its own
//! process): a panic in an agent's code does not reach the previous hook, any other panic does.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use troupe_runtime::{AgentError, FnAgent, Runtime, RuntimeConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_panics_skip_the_previous_hook_and_other_panics_reach_it() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    std::panic::set_hook(troupe_runtime::crash::panic_hook(Box::new(move |info| {
        let message = troupe_runtime::crash::panic_message(info);
        record.lock().unwrap().push(message);
    })));

    let rt = Runtime::start(RuntimeConfig::named("crash-hook"))
        .await
        .unwrap();
    let boom = FnAgent::new(|v: Value| {
        if v == json!("boom") {
            panic!("agent code panics");
        }
        assert!(troupe_runtime::crash::current_agent().is_some());
        Ok::<_, AgentError>(v)
    });
    let agent = rt.spawn("boom", boom).await.unwrap();
    assert_eq!(agent.ask(json!("hi")).await.unwrap(), json!("hi"));
    assert!(agent.ask(json!("boom")).await.is_err());
    assert!(troupe_runtime::crash::current_agent().is_none());

    let other = tokio::spawn(async { panic!("plain task panics") }).await;
    assert!(other.is_err());
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["plain task panics".to_string()],
        "only the non-agent panic reached the previous hook"
    );
    rt.shutdown().await;
    let _ = std::panic::take_hook();
}
