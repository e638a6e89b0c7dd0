//! A coordinator member: an agent of the team (typically `llm.chat` with `supervisor:` tools)
//! that plans each job's units and decides, after each round, whether the job is done — the
//! config form of a [`Decider`](super::Decider), for agents rather than Rust closures.
//!
//! Protocol (JSON): the pattern asks the coordinator `{"task": <the job request>, "round": 0}`
//! first, then after each round `{"task", "round": k, "units": [<unit>...], "results": [...]}`
//! (round *k*'s units and their results, in unit order). The coordinator answers
//! `{"units": [{"input", "capability"?}, ...]}` (run them as the next round) or
//! `{"done": <answer>}` (the job's answer). Anything else fails the job naming the reply.

use std::time::Duration;

use serde_json::{json, Value};
use troupe_runtime::DynAgentRef;

use super::job::{decode_job, Decision, SupervisorError, Unit};

/// The coordinator's request for round `round` (0: plan the first units).
pub(crate) fn request(task: &Value, round: u32, units: &[Unit], results: &[Value]) -> Value {
    if round == 0 {
        return json!({"task": task, "round": 0});
    }
    json!({"task": task, "round": round, "units": units, "results": results})
}

/// Reads a coordinator's reply as a decision.
pub(crate) fn decision(coordinator: &str, reply: Value) -> Result<Decision, SupervisorError> {
    let bad = |why: String| SupervisorError::Coordinator(format!("{coordinator}: {why}"));
    let Value::Object(mut o) = reply else {
        return Err(bad(format!(
            "answered {}, not {{\"units\": [...]}} or {{\"done\": ...}}",
            troupe_runtime::config::describe(&reply)
        )));
    };
    if let Some(done) = o.remove("done") {
        return Ok(Decision::Done(done));
    }
    match o.remove("units") {
        Some(units) => {
            let units = decode_job(json!({ "units": units }))
                .map_err(|e| bad(format!("its units: {e}")))?;
            if units.is_empty() {
                return Err(bad(
                    "assigned no units (answer {\"done\": ...} to finish)".into()
                ));
            }
            Ok(Decision::Continue(units))
        }
        None => {
            let keys: Vec<_> = o.keys().cloned().collect();
            Err(bad(format!(
                "answered an object with keys {keys:?}, not `units` or `done`"
            )))
        }
    }
}

/// Asks the coordinator and reads its decision.
pub(crate) async fn ask(
    coordinator: &DynAgentRef,
    request: Value,
    timeout: Option<Duration>,
) -> Result<Decision, SupervisorError> {
    let id = coordinator.id().to_string();
    let reply = coordinator
        .ask_value(request, timeout)
        .await
        .map_err(|e| SupervisorError::Coordinator(format!("{id}: {e}")))?;
    decision(&id, reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_decisions_and_bad_ones_are_named() {
        assert_eq!(
            decision("c", json!({"done": [1, 2]})).unwrap(),
            Decision::Done(json!([1, 2]))
        );
        assert_eq!(
            decision(
                "c",
                json!({"units": [{"input": "q", "capability": "search"}]})
            )
            .unwrap(),
            Decision::Continue(vec![Unit::new(json!("q")).capability("search")])
        );
        let e = decision("c", json!("hello")).unwrap_err().to_string();
        assert!(e.contains("c: answered a string"), "{e}");
        let e = decision("c", json!({"unit": []})).unwrap_err().to_string();
        assert!(e.contains("keys [\"unit\"]"), "{e}");
        let e = decision("c", json!({"units": []})).unwrap_err().to_string();
        assert!(e.contains("assigned no units"), "{e}");
        let e = decision("c", json!({"units": [{"inp": 1}]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `inp`"), "{e}");
        assert_eq!(
            request(&json!("t"), 0, &[], &[]),
            json!({"task": "t", "round": 0})
        );
        assert_eq!(
            request(&json!("t"), 1, &[Unit::new(json!(1))], &[json!(2)]),
            json!({"task": "t", "round": 1, "units": [{"input": 1}], "results": [2]})
        );
    }
}
