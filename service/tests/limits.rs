//! The request body limit over real HTTP: a body over `MAX_BODY_BYTES` is refused with 413 and
//! the JSON error shape on every route that reads a body; one just under it is read.

mod common;

use common::{start, token, GATE};
use troupe_service::decode::MAX_BODY_BYTES;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_with_413_and_the_json_error_shape() {
    let t = start().await;
    let tok = token("admin", None);
    let (status, wf) = t.submit(GATE, &tok).await;
    assert_eq!(status, 201, "{wf}");
    let id = wf["workflow_id"].as_str().unwrap();
    // A YAML comment / JSON whitespace of the limit's size plus one byte.
    let big_yaml = format!("{GATE}#{}", "x".repeat(MAX_BODY_BYTES));
    let big_json = format!("{{}}{}", " ".repeat(MAX_BODY_BYTES));
    for (path, body) in [
        ("/api/v1/workflows".to_string(), big_yaml),
        (format!("/api/v1/workflows/{id}/execute"), big_json.clone()),
        ("/api/v1/executions/nope/signals/go".to_string(), big_json),
    ] {
        let r = t
            .req(reqwest::Method::POST, &path, &tok)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&MAX_BODY_BYTES.to_string()), "{message}");
    }
    // Just under the limit is read (and parsed) as usual.
    let padded = format!("{GATE}#{}", "x".repeat(MAX_BODY_BYTES - GATE.len() - 2));
    let (status, body) = t.submit(&padded, &tok).await;
    assert_eq!(status, 201, "{body}");
}
