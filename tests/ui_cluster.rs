//! The UI's cluster page on `troupe node --api`, in Debian's headless chromium: three real node
//! processes (127.0.0.1-3) are shown alive, then one as down after it is `kill -9`ed, the
//! change arriving through the cluster event stream without a reload.

#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/webdriver.rs"]
mod webdriver;

use serde_json::{json, Value};

use nodes::NodeProc;
use webdriver::Browser;

fn members_in(state: &str) -> String {
    format!("document.querySelectorAll('.member[data-state=\"{state}\"]').length")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_page_shows_three_nodes_then_one_down_after_kill_9() {
    let Some(browser) = Browser::start("ui_cluster", 1280, 800).await else {
        return;
    };
    let (n1, base, token) = NodeProc::start_with_api("uic1", "127.0.0.1", &[]);
    let n2 = NodeProc::start("uic2", "127.0.0.2", &[&n1]);
    let mut n3 = NodeProc::start("uic3", "127.0.0.3", &[&n1]);

    browser.goto(&format!("{base}/ui/")).await;
    browser.sign_in(&token).await;
    browser
        .js(
            "location.hash = '#/cluster'; window.__sameDocument = true;",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "three alive members",
            &format!("{} === 3", members_in("alive")),
        )
        .await;
    // A few agents, placed over the nodes through the API, show on their nodes' cards.
    let http = reqwest::Client::new();
    for i in 0..6 {
        let r = http
            .post(format!("{base}/api/v1/agents/where-{i}/call"))
            .bearer_auth(&token)
            .json(&json!({"kind": "util.where", "request": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    browser
        .wait_for(
            "six agents in the table",
            "document.querySelectorAll('#agents-body tr[data-agent]').length === 6",
        )
        .await;
    browser.screenshot("cluster.png").await;

    n3.kill9();
    browser
        .wait_for(
            "uic3 shown down",
            "document.querySelector('.member[data-member=\"uic3\"]').dataset.state === 'down'",
        )
        .await;
    browser
        .wait_for(
            "the member.down event in the live log",
            "[...document.querySelectorAll('#cluster-log li[data-type=\"member.down\"]')].some(li => li.textContent.includes('uic3'))",
        )
        .await;
    assert_eq!(
        browser
            .js(&format!("return {};", members_in("alive")), json!([]))
            .await,
        2
    );
    assert_eq!(
        browser
            .js("return window.__sameDocument === true;", json!([]))
            .await,
        true
    );
    // The API says the same.
    let members: Value = http
        .get(format!("{base}/api/v1/cluster/members"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = |name: &str| {
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["state"].clone())
    };
    assert_eq!(state("uic3"), Some(json!("down")), "{members}");
    assert_eq!(state("uic2"), Some(json!("alive")), "{members}");
    browser.screenshot("cluster-down.png").await;
    browser.quit().await;
    drop(n2);
}
