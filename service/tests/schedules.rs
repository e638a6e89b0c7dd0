//! Schedules on tokio's paused time (the scheduler's clock follows it): a file's `schedule:`,
//! the API's, next fire times, `catch_up` and `skip` of missed ticks, one execution per tick
//! when two schedulers share the store, and the refusals.

mod common;

use std::time::Duration;

use common::{start_memory, token, TestService};
use serde_json::{json, Value};
use troupe_runtime::store::KeyedFilter;
use troupe_service::schedules::{SCHEDULE, TICK};

fn every(cron: &str, missed: &str) -> String {
    format!(
        r#"
workflow:
  name: ticker
  schedule: {{ cron: "{cron}", missed_ticks: {missed} }}
  agents:
    shout: {{ type: text.transform, config: {{ op: uppercase }} }}
  tasks:
    - {{ id: only, agent: shout, input: "tick" }}
"#
    )
}

async fn submit(t: &TestService, yaml: &str) -> Value {
    let (status, body) = t.submit(yaml, &token("admin", None)).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// When the schedule of workflow `id` was set (ms), from the store.
async fn created_ms(t: &TestService, id: &str) -> u64 {
    let s = t
        .store
        .get_keyed(SCHEDULE.into(), id.into())
        .await
        .unwrap()
        .expect("stored");
    s.value["created_at"].as_u64().unwrap()
}

async fn executions(t: &TestService) -> usize {
    let (_, list) = t
        .get("/api/v1/executions?workflow=ticker", &token("admin", None))
        .await;
    list["executions"].as_array().unwrap().len()
}

async fn claims(t: &TestService) -> Vec<Value> {
    let all = t.store.list_keyed(KeyedFilter::kind(TICK)).await.unwrap();
    all.into_iter().map(|r| r.value).collect()
}

#[tokio::test(start_paused = true)]
async fn catch_up_fires_every_missed_tick_once_though_two_schedulers_look() {
    let t = start_memory().await;
    let body = submit(&t, &every("*/10 * * * * *", "catch_up")).await;
    let id = body["workflow_id"].as_str().unwrap().to_string();
    let next = body["schedule"]["next_fire_times"].as_array().unwrap();
    assert_eq!(next.len(), 5, "{body}");
    let created = created_ms(&t, &id).await;
    tokio::time::advance(Duration::from_secs(35)).await;
    // The ticks of every 10 s in (created, created + 35 s].
    let want = ((created + 35_000) / 10_000 - created / 10_000) as usize;
    // Two schedulers (as two processes sharing the store would be) look at once.
    let (a, b) = tokio::join!(t.svc.check_schedules("a"), t.svc.check_schedules("b"));
    assert_eq!(
        a.unwrap() + b.unwrap(),
        want,
        "each due tick fired exactly once"
    );
    assert_eq!(
        t.svc.check_schedules("a").await.unwrap(),
        0,
        "claimed ticks stay fired"
    );
    let claims = claims(&t).await;
    assert_eq!(claims.len(), want);
    assert!(
        claims.iter().all(|c| c["execution_id"].is_string()),
        "{claims:?}"
    );
    assert_eq!(executions(&t).await, want);
    // Visible over the API: the last ticks and the next fire times, 10 s apart, in the future.
    let (code, s) = t
        .get(
            &format!("/api/v1/workflows/{id}/schedule"),
            &token("read", None),
        )
        .await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["recent_ticks"].as_array().unwrap().len(), want);
    assert_eq!(s["missed_ticks"], "catch_up");
    let next: Vec<&str> = s["next_fire_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(next.len(), 5);
    assert!(next.windows(2).all(|w| w[0] < w[1]), "{next:?}");
}

#[tokio::test(start_paused = true)]
async fn skip_fires_only_the_latest_due_tick_and_none_that_is_too_old() {
    let t = start_memory().await;
    let body = submit(&t, &every("*/10 * * * * *", "skip")).await;
    assert_eq!(body["schedule"]["missed_ticks"], "skip");
    tokio::time::advance(Duration::from_secs(600)).await;
    // Sixty ticks passed unseen: only the latest fires.
    let fired = t.svc.check_schedules("a").await.unwrap();
    assert_eq!(fired, 1, "{:?}", claims(&t).await);
    assert_eq!(executions(&t).await, 1);
    // An hourly schedule checked 3 h and 2 to 62 min late: its latest tick is past the grace.
    let hourly = every("0 * * * *", "skip").replace("name: ticker", "name: hourly");
    submit(&t, &hourly).await;
    let into_hour = t.svc.schedule_now() % 3_600_000;
    let to_late = 3 * 3_600_000 + (3_600_000 - into_hour) + 120_000;
    tokio::time::advance(Duration::from_millis(to_late)).await;
    let fired = t.svc.check_schedules("a").await.unwrap();
    // The 10 s one fires its latest tick; the hourly one nothing.
    assert_eq!(fired, 1, "{:?}", claims(&t).await);
    let hourly_claims = claims(&t)
        .await
        .into_iter()
        .filter(|c| c["workflow_id"] != body["workflow_id"])
        .count();
    assert_eq!(hourly_claims, 0);
}

#[tokio::test]
async fn the_schedule_api_sets_shows_and_removes_and_refuses_bad_ones() {
    let t = start_memory().await;
    let plain = every("* * * * *", "skip").replace(
        "  schedule: { cron: \"* * * * *\", missed_ticks: skip }\n",
        "",
    );
    let body = submit(&t, &plain).await;
    assert!(body.get("schedule").is_none(), "{body}");
    let id = body["workflow_id"].as_str().unwrap();
    let path = format!("/api/v1/workflows/{id}/schedule");
    let put = |body: Value, tok: String| {
        let req = t.req(reqwest::Method::PUT, &path, &tok).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let admin = token("admin", None);
    let (code, _) = t.get(&path, &admin).await;
    assert_eq!(code, 404, "no schedule yet");
    for (bad, want) in [
        (json!({"cron": "61 * * * *"}), "cron \"61 * * * *\""),
        (json!({"cron": ""}), "cron: the expression is empty"),
        (
            json!({"cron": "* * * * *", "missed_ticks": "later"}),
            "missed_ticks",
        ),
        (json!({"cron": "* * * * *", "every": 1}), "every"),
    ] {
        let (code, err) = put(bad.clone(), admin.clone()).await;
        assert_eq!(code, 400, "{bad} -> {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{message} lacks {want}");
    }
    let (code, _) = put(json!({"cron": "@hourly"}), token("read", None)).await;
    assert_eq!(code, 403);
    let (code, s) = put(
        json!({"cron": "@hourly", "input_data": {"n": 1}}),
        admin.clone(),
    )
    .await;
    assert_eq!(code, 200, "{s}");
    let next = s["next_fire_times"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    assert!(
        next.iter().all(|t| t.as_str().unwrap().contains(":00:00")),
        "{next:?}"
    );
    let (_, list) = t.get("/api/v1/schedules", &admin).await;
    assert_eq!(list["schedules"].as_array().unwrap().len(), 1);
    let (_, list) = t
        .get("/api/v1/schedules", &token("admin", Some("globex")))
        .await;
    assert_eq!(list["schedules"], json!([]), "another tenant sees none");
    let r = t
        .req(reqwest::Method::DELETE, &path, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, _) = t.get(&path, &admin).await;
    assert_eq!(code, 404);
    // A file with a bad schedule is refused before it is kept.
    let (code, err) = t.submit(&every("every day", "skip"), &admin).await;
    assert_eq!(code, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("every day"),
        "{err}"
    );
}
