//! The OpenAPI document names exactly the served routes.

mod common;

use common::{start, token};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_served_routes() {
    let t = start().await;
    let (status, doc) = t.get("/api/v1/openapi.json", "").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    let tok = token("admin", None);
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            operations += 1;
            assert!(!op["responses"].as_object().unwrap().is_empty());
            let concrete = path.replace("{id}", "1").replace("{name}", "x");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = t.req(m, &concrete, &tok).send().await.unwrap();
            let code = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            // Served: anything but the router's own 404 and 405.
            assert_ne!(body["error"]["message"], "no such route", "{method} {path}");
            assert_ne!(code, 405, "{method} {path}");
        }
    }
    assert_eq!(operations, troupe_service::openapi::routes().len());
    // Rejections of the framework are in the error shape too.
    let (status, body) = t.get("/ws/workflows/x", &tok).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let r = t
        .req(reqwest::Method::DELETE, "/api/v1/dead-letters/abc", &tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a number"),
        "{body}"
    );
    // And a route that is not in the document is not served.
    let (status, body) = t.get("/api/v1/nothing-here", &tok).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}
