//! Webhooks over real HTTP: a local receiver that fails the first N deliveries, the retry
//! schedule on tokio's paused time, HMAC signatures, per-endpoint status, dead letters and
//! their replay, pending deliveries picked up again, and the API's refusals.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use common::{start_memory, token, TestService};
use serde_json::{json, Value};
use tokio::time::Instant;
use troupe_runtime::store::{KeyedRecord, Timestamp};
use troupe_service::webhooks::{signature, DELIVERY, SCHEDULE};
use troupe_service::WebhookConfig;

/// One task whose `task.completed` is the one event the tests subscribe to.
const ONE: &str = r#"
workflow:
  name: one
  agents:
    shout: { type: text.transform, config: { op: uppercase } }
  tasks:
    - { id: only, agent: shout, input: "hi" }
"#;

/// What the receiver got: when (tokio's clock), the headers, the body; and how many so far.
#[derive(Clone)]
struct Got {
    requests: Arc<Mutex<Vec<(Instant, HeaderMap, String)>>>,
    count: tokio::sync::watch::Receiver<usize>,
}

impl Got {
    fn all(&self) -> Vec<(Instant, HeaderMap, String)> {
        self.requests.lock().unwrap().clone()
    }

    fn len(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// A receiver answering 500 to its first `fail` requests (all, with `u32::MAX`), then 200.
async fn receiver(fail: Arc<AtomicU32>) -> (String, Got) {
    let requests: Arc<Mutex<Vec<_>>> = Arc::default();
    let (counter, count) = tokio::sync::watch::channel(0);
    let got = Got {
        requests: requests.clone(),
        count,
    };
    let counter = Arc::new(counter);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (seen, fail, counter) = (requests.clone(), fail.clone(), counter.clone());
            async move {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push((Instant::now(), headers, body));
                    seen.len()
                };
                counter.send_replace(n);
                let left = fail.load(Ordering::SeqCst);
                if left > 0 {
                    fail.store(left.saturating_sub(1), Ordering::SeqCst);
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn paused_service() -> TestService {
    let t = start_memory().await;
    t.svc.configure_webhooks(WebhookConfig {
        request_timeout: None,
        ..WebhookConfig::default()
    });
    t
}

/// Subscribes `url` to `task.completed`: (webhook id, secret).
async fn subscribe(t: &TestService, url: &str) -> (String, String) {
    let (status, body) = t
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "event_types": ["task.completed"]}),
            &token("operate", None),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["webhook_id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

async fn run_one(t: &TestService) {
    let admin = token("admin", None);
    let (status, body) = t.submit(ONE, &admin).await;
    assert_eq!(status, 201, "{body}");
    let id = body["workflow_id"].as_str().unwrap();
    let (status, body) = t
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            json!({}),
            &admin,
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

/// Waits until `n` requests arrived (the paused runtime advances its clock to each due
/// attempt meanwhile), at most two days of tokio's time.
async fn until_requests(got: &Got, n: usize) {
    let mut count = got.count.clone();
    let arrived =
        tokio::time::timeout(Duration::from_secs(48 * 3600), count.wait_for(|c| *c >= n)).await;
    assert!(arrived.is_ok(), "only {} requests", got.len());
}

async fn deliveries(t: &TestService, webhook: &str, status: &str) -> Vec<Value> {
    let (code, body) = t
        .get(
            &format!("/api/v1/webhooks/{webhook}/deliveries?status={status}"),
            &token("read", None),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn a_failing_receiver_gets_the_retry_schedule_and_then_the_signed_event() {
    let t = paused_service().await;
    let (url, got) = receiver(Arc::new(AtomicU32::new(3))).await;
    let (webhook, secret) = subscribe(&t, &url).await;
    run_one(&t).await;
    until_requests(&got, 4).await;
    // Settle: the fourth answer is recorded before the status is read.
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = deliveries(&t, &webhook, "delivered").await;
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = got.all();
    assert_eq!(
        got.len(),
        4,
        "three failures, then the delivery; nothing after"
    );
    // The waits between attempts are the schedule's: 5 s, 5 min, 30 min (never earlier).
    for (i, pair) in got.windows(2).enumerate() {
        let gap = pair[1].0 - pair[0].0;
        let want = SCHEDULE[i + 1];
        assert!(
            gap >= want && gap < want + Duration::from_secs(5),
            "attempt {} came {gap:?} after the previous one; the schedule says {want:?}",
            i + 2
        );
    }
    // Every attempt is the same event, signed with the subscription's secret.
    for (_, headers, body) in &got {
        let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
        let ts: u64 = h("x-troupe-timestamp").parse().unwrap();
        assert_eq!(
            h("x-troupe-signature"),
            format!("sha256={}", signature(&secret, ts, body))
        );
        assert_eq!(h("x-troupe-event"), "task.completed");
        assert_eq!(h("x-troupe-webhook"), webhook);
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "task.completed");
        assert_eq!(event["data"]["output"], "HI");
    }
    assert_ne!(
        signature("another secret", 1, &got[0].2),
        signature(&secret, 1, &got[0].2)
    );
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["attempts"], 4);
    assert_eq!(delivered[0]["history"].as_array().unwrap().len(), 4);
    assert_eq!(delivered[0]["history"][0]["status_code"], 500);
    let (_, status) = t
        .get(&format!("/api/v1/webhooks/{webhook}"), &token("read", None))
        .await;
    assert_eq!(status["delivery_status"]["delivered"], 1, "{status}");
    assert_eq!(status["delivery_status"]["pending"], 0, "{status}");
    assert_eq!(
        status["delivery_status"]["last_status_code"], 200,
        "{status}"
    );
    assert!(
        status.get("secret").is_none(),
        "the secret is shown only once"
    );
}

#[tokio::test(start_paused = true)]
async fn an_undeliverable_event_is_dead_lettered_after_eight_attempts_and_replayable() {
    let t = paused_service().await;
    let fail = Arc::new(AtomicU32::new(u32::MAX));
    let (url, got) = receiver(fail.clone()).await;
    let (webhook, _) = subscribe(&t, &url).await;
    let started = Instant::now();
    run_one(&t).await;
    until_requests(&got, SCHEDULE.len()).await;
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = deliveries(&t, &webhook, "dead").await;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead.len(), 1, "dead-lettered after the last attempt");
    assert_eq!(dead[0]["attempts"], SCHEDULE.len());
    let total: Duration = SCHEDULE.iter().sum();
    assert!(
        started.elapsed() >= total,
        "{:?} < {total:?}",
        started.elapsed()
    );
    // No ninth attempt on its own.
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert_eq!(got.len(), SCHEDULE.len());
    let (_, status) = t
        .get(&format!("/api/v1/webhooks/{webhook}"), &token("read", None))
        .await;
    assert_eq!(status["delivery_status"]["dead"], 1, "{status}");
    // Replayed once the receiver works again: delivered.
    fail.store(0, Ordering::SeqCst);
    let id = dead[0]["delivery_id"].as_str().unwrap();
    let replay = format!("/api/v1/webhooks/{webhook}/deliveries/{id}/replay");
    let (code, body) = t.post(&replay, json!({}), &token("operate", None)).await;
    assert_eq!(code, 202, "{body}");
    until_requests(&got, SCHEDULE.len() + 1).await;
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = deliveries(&t, &webhook, "delivered").await;
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(delivered.len(), 1);
    // A delivered one is not replayed.
    let (code, body) = t.post(&replay, json!({}), &token("operate", None)).await;
    assert_eq!(code, 409, "{body}");
}

#[tokio::test]
async fn a_pending_delivery_in_the_store_is_attempted_when_a_service_starts() {
    let t = start_memory().await;
    let (url, got) = receiver(Arc::new(AtomicU32::new(0))).await;
    let (webhook, _) = subscribe(&t, &url).await;
    // As a service that stopped before delivering would have left it.
    let key = format!("{webhook}~run-x~000000000001");
    let value = json!({"delivery_id": key, "webhook_id": webhook, "event_type": "task.completed",
        "event": {"type": "task.completed"}, "status": "pending", "attempts": 1,
        "next_attempt_at": 0, "history": []});
    t.store
        .put_keyed(KeyedRecord::new(DELIVERY, key, value, Timestamp::now()))
        .await
        .unwrap();
    assert_eq!(t.svc.resume_webhooks().await.unwrap(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while deliveries(&t, &webhook, "delivered").await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn bad_subscriptions_are_refused_and_tenants_see_only_their_own() {
    let t = start_memory().await;
    let op = token("operate", Some("acme"));
    for (body, want) in [
        (json!({"url": "not a url"}), "url \"not a url\""),
        (json!({"url": "ftp://x/y"}), "scheme must be http or https"),
        (
            json!({"url": "http://127.0.0.1:9/h", "event_types": ["task.done"]}),
            "unknown type \"task.done\"",
        ),
        (
            json!({"url": "http://127.0.0.1:9/h", "secret": ""}),
            "secret",
        ),
        (
            json!({"url": "http://127.0.0.1:9/h", "colour": 1}),
            "colour",
        ),
    ] {
        let (code, err) = t.post("/api/v1/webhooks", body.clone(), &op).await;
        assert_eq!(code, 400, "{body} -> {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{message} lacks {want}");
    }
    let (code, err) = t
        .post(
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/h"}),
            &token("read", Some("acme")),
        )
        .await;
    assert_eq!(code, 403, "{err}");
    let (code, made) = t
        .post(
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/h"}),
            &op,
        )
        .await;
    assert_eq!(code, 201);
    let id = made["webhook_id"].as_str().unwrap();
    let other = token("admin", Some("globex"));
    let (code, _) = t.get(&format!("/api/v1/webhooks/{id}"), &other).await;
    assert_eq!(code, 404, "another tenant's webhook is not found");
    let (_, list) = t.get("/api/v1/webhooks", &other).await;
    assert_eq!(list["webhooks"], json!([]));
    let (_, list) = t.get("/api/v1/webhooks", &op).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    let r = t
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            &op,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, _) = t.get(&format!("/api/v1/webhooks/{id}"), &op).await;
    assert_eq!(code, 404);
}
