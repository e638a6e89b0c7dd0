//! Event streams: SSE resumed after `Last-Event-ID` (nothing lost, nothing twice) and the
//! WebSocket per workflow with the contract's message format.

mod common;

use common::{sse, start, token, GATE};
use futures_util::StreamExt;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_reconnecting_with_last_event_id_misses_nothing_and_repeats_nothing() {
    let t = start().await;
    let tok = token("operate", None);
    let (_, wf) = t.submit(GATE, &tok).await;
    let id = wf["workflow_id"].as_str().unwrap();
    let (_, ex) = t
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}), &tok)
        .await;
    let run = ex["execution_id"].as_str().unwrap().to_string();
    let url = format!("{}/api/v1/executions/{run}/events", t.base);

    // First connection: until the run waits for its signal (`first` completed), then gone.
    let mut seen = Vec::new();
    let mut first = sse(&t.http, &url, &tok, None).await;
    while let Some(e) = first.next().await {
        let done = e.event == "task.completed";
        seen.push(e);
        if done {
            break;
        }
    }
    drop(first);
    // Entries journaled while no client was connected: the signal and what follows.
    let (status, _) = t
        .post(
            &format!("/api/v1/executions/{run}/signals/approval"),
            json!({"value": "ok"}),
            &tok,
        )
        .await;
    assert_eq!(status, 200);
    // Second connection, from the last id seen, to the end of the run.
    let last = seen.last().unwrap().id;
    let mut second = sse(&t.http, &url, &tok, Some(last)).await;
    while let Some(e) = second.next().await {
        seen.push(e);
    }
    let ids: Vec<u64> = seen.iter().map(|e| e.id).collect();
    let record = t
        .store
        .get_run(troupe_runtime::RunId::new(run.as_str()))
        .await
        .unwrap()
        .unwrap();
    let expected: Vec<u64> = (1..=record.last_seq).collect();
    assert_eq!(ids, expected, "every journal entry once, in order");
    assert_eq!(seen.last().unwrap().data["data"]["status"], "completed");
    for e in &seen {
        assert_eq!(e.data["execution_id"], run);
        assert_eq!(e.data["workflow_id"], id);
        assert_eq!(e.data["type"], e.event);
        assert!(e.data["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    // A bad Last-Event-ID: 400 in the error shape.
    let r = t
        .http
        .get(&url)
        .bearer_auth(&tok)
        .header("Last-Event-ID", "ten")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("ten"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_streams_a_workflows_executions_as_contract_messages() {
    let t = start().await;
    let tok = token("operate", None);
    let (_, wf) = t.submit(GATE, &tok).await;
    let id = wf["workflow_id"].as_str().unwrap();
    let ws_url = format!(
        "{}/ws/workflows/{id}?access_token={tok}",
        t.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let (_, ex) = t
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}), &tok)
        .await;
    let run = ex["execution_id"].as_str().unwrap().to_string();
    let mut types = Vec::new();
    let mut signalled = false;
    while let Some(msg) = ws.next().await {
        let msg = msg.unwrap();
        let Ok(text) = msg.to_text() else { continue };
        if text.is_empty() {
            continue;
        }
        let m: Value = serde_json::from_str(text).unwrap();
        assert_eq!(m["workflow_id"], id);
        assert_eq!(m["execution_id"], run);
        assert!(m["timestamp"].is_string() && m["data"].is_object(), "{m}");
        let ty = m["type"].as_str().unwrap().to_string();
        if ty == "task.completed" && !signalled {
            signalled = true;
            t.post(
                &format!("/api/v1/executions/{run}/signals/approval"),
                json!({"value": "ok"}),
                &tok,
            )
            .await;
        }
        let end = ty == "workflow.status_changed" && m["data"]["final"] == true;
        types.push(ty);
        if end {
            break;
        }
    }
    assert_eq!(
        types.first().map(String::as_str),
        Some("workflow.status_changed")
    );
    assert!(types.iter().any(|t| t == "task.started"), "{types:?}");
    assert!(types.iter().any(|t| t == "signal.received"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| *t == "task.completed").count(),
        3,
        "{types:?}"
    );

    // Without a token: refused before the upgrade, as JSON.
    let r = t
        .http
        .get(format!("{}/ws/workflows/{id}", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// The next contract message of a WebSocket (skipping non-text frames).
async fn next_message(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let msg = ws.next().await.expect("the WebSocket ended").unwrap();
        let Ok(text) = msg.to_text() else { continue };
        if !text.is_empty() {
            return serde_json::from_str(text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sends_agent_assigned_and_checkpoint_created() {
    let t = start().await;
    let tok = token("operate", None);
    let (_, wf) = t.submit(GATE, &tok).await;
    let id = wf["workflow_id"].as_str().unwrap();
    let ws_url = format!(
        "{}/ws/workflows/{id}?access_token={tok}",
        t.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let (_, ex) = t
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}), &tok)
        .await;
    let run = ex["execution_id"].as_str().unwrap().to_string();

    // The pool's agents are announced after the submission, named as their events name them.
    let mut assigned = None;
    loop {
        let m = next_message(&mut ws).await;
        assert_eq!(m["execution_id"], run, "{m}");
        match m["type"].as_str().unwrap() {
            "agent.assigned" => assigned = Some(m),
            "task.completed" => break,
            _ => {}
        }
    }
    let assigned = assigned.expect("no agent.assigned before the first task completed");
    assert_eq!(assigned["workflow_id"], id);
    assert!(assigned["timestamp"].is_string(), "{assigned}");
    assert_eq!(assigned["data"]["pool"], "shout", "{assigned}");
    assert_eq!(assigned["data"]["kind"], "text.transform", "{assigned}");
    assert_eq!(
        assigned["data"]["agents"],
        json!([format!("{run}/shout/0")]),
        "{assigned}"
    );

    // Paused while it waits for its signal: the checkpoint the pause returned is announced.
    let (code, paused) = t
        .post(&format!("/api/v1/executions/{run}/pause"), json!({}), &tok)
        .await;
    assert_eq!(code, 200, "{paused}");
    let checkpoint = loop {
        let m = next_message(&mut ws).await;
        if m["type"] == "checkpoint.created" {
            break m;
        }
    };
    assert_eq!(checkpoint["execution_id"], run);
    assert!(checkpoint["timestamp"].is_string(), "{checkpoint}");
    assert_eq!(
        checkpoint["data"]["checkpoint_id"], paused["checkpoint_id"],
        "{checkpoint}"
    );
    assert_eq!(checkpoint["data"]["resume_url"], paused["resume_url"]);
}
