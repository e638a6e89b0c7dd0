//! `examples/research.yaml` end to end, its endpoint pointed at the scripted server: the
//! supervisor's structured plan fans out to three researchers that call the `notes` tool (a real
//! `grep` over the repository's notes), and the synthesizer streams the answer.

use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::{parse_workflow, EventKind, Runtime};

fn system(request: &Value) -> String {
    request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The scripted models: what each role answers, from its system prompt and the conversation.
fn script(request: &Value) -> Reply {
    let sys = system(request);
    let messages = request["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    if sys.contains("You plan research") {
        let plan = json!({"sub_questions": ["What does a supervisor do?", "What is a mailbox?", "What happens to state after a crash?"]});
        return Reply::text(plan.to_string());
    }
    if sys.contains("research sub-question") {
        if last["role"] == "tool" {
            let found = last["content"].as_str().unwrap_or_default();
            let question = messages[1]["content"].as_str().unwrap_or_default();
            return Reply::text(format!(
                "Answer to {question:?} from notes: {}",
                &found[..found.len().min(60)]
            ));
        }
        let word = match messages[1]["content"].as_str().unwrap_or_default() {
            q if q.contains("supervisor") => "supervisor",
            q if q.contains("mailbox") => "mailbox",
            _ => "crash",
        };
        return Reply::tool_calls([("n1", "notes", json!({"args": [word]}))]);
    }
    Reply::text("Actors stay reliable because supervisors restart what fails.")
}

#[tokio::test]
async fn the_research_example_runs_end_to_end_against_a_scripted_endpoint() {
    let server = ScriptedServer::start().await;
    server.respond_with(script);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let text = std::fs::read_to_string(format!("{root}/examples/research.yaml")).unwrap();
    let text = text
        .replace("http://localhost:11434/v1", &server.base_url())
        .replace(
            "examples/data/actors.txt",
            &format!("{root}/examples/data/actors.txt"),
        );
    let spec = parse_workflow(&text, "research.yaml").unwrap();

    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let mut events = rt.subscribe();
    let report = rt.run(spec).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");

    assert_eq!(
        report
            .output("sub_questions")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let research = report
        .output("research")
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(research.len(), 3);
    for (answer, word) in research.iter().zip(["supervisor", "mailbox", "crash"]) {
        let a = answer.as_str().unwrap();
        assert!(
            a.contains("from notes:") && a.to_lowercase().contains(word),
            "{a}"
        );
    }
    assert_eq!(
        report.output("synthesize"),
        Some(&json!(
            "Actors stay reliable because supervisors restart what fails."
        ))
    );

    let requests = server.requests();
    // 1 plan + 3 researchers x (tool call + answer) + 1 synthesis.
    assert_eq!(requests.len(), 8);
    let tool_results: Vec<&Value> = requests
        .iter()
        .filter_map(|r| r.body["messages"].as_array().unwrap().last())
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(tool_results.len(), 3);
    for m in tool_results {
        let c = m["content"].as_str().unwrap();
        assert!(
            c.contains("\"status\":0") && c.contains("stdout"),
            "the real grep ran: {c}"
        );
    }
    let synthesis = requests
        .iter()
        .find(|r| system(&r.body).contains("short, clear answer"))
        .unwrap();
    assert_eq!(synthesis.body["stream"], true);
    assert!(synthesis.body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("from notes"));

    let mut tokens = 0;
    while let Ok(e) = events.try_recv() {
        if let EventKind::LlmToken { .. } = e.kind {
            tokens += 1;
        }
    }
    assert_eq!(
        tokens, 8,
        "the synthesizer's 8 words were streamed as events"
    );
    rt.shutdown().await;
}
