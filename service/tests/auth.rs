//! Auth: no token, a bad or expired one, the wrong scope, another tenant's records, EdDSA
//! tokens; every refusal in the JSON error shape; the audit log of mutating calls.

mod common;

use std::time::Duration;

use common::{start, start_with, token, GATE, SECRET};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use troupe_service::auth::expiry_in;
use troupe_service::{Auth, Claims};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_and_scoped_and_refusals_are_json() {
    let t = start().await;
    let r = t
        .http
        .get(format!("{}/api/v1/executions", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["details"].is_object());

    let (status, body) = t.get("/api/v1/executions", "not-a-jwt").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    let expired = Claims {
        sub: "old".into(),
        scope: "admin".into(),
        tenant: None,
        exp: 1_000_000,
    };
    let expired = troupe_service::auth::sign_hs256(&expired, SECRET).unwrap();
    let (status, body) = t.get("/api/v1/executions", &expired).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("expired"),
        "{body}"
    );

    let forged = troupe_service::auth::sign_hs256(
        &Claims {
            sub: "x".into(),
            scope: "admin".into(),
            tenant: None,
            exp: expiry_in(Duration::from_secs(60)),
        },
        b"another secret",
    )
    .unwrap();
    let (status, _) = t.get("/api/v1/executions", &forged).await;
    assert_eq!(status, 401);

    // read may not submit; submit may not operate.
    let (status, body) = t.submit(GATE, &token("read", None)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (_, wf) = t.submit(GATE, &token("submit", None)).await;
    let id = wf["workflow_id"].as_str().unwrap();
    let (status, _) = t
        .post(
            &format!("/api/v1/workflows/{id}/pause"),
            json!({}),
            &token("submit", None),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = t.get("/api/v1/audit", &token("operate", None)).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_sees_only_its_tenants_workflows_and_executions() {
    let t = start().await;
    let acme = token("operate", Some("acme"));
    let umbrella = token("operate", Some("umbrella"));
    let (_, wf) = t.submit(GATE, &acme).await;
    let id = wf["workflow_id"].as_str().unwrap();
    let (status, _) = t
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            json!({}),
            &umbrella,
        )
        .await;
    assert_eq!(
        status, 404,
        "another tenant's workflow does not exist for it"
    );
    let (status, ex) = t
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}), &acme)
        .await;
    assert_eq!(status, 202);
    let run = ex["execution_id"].as_str().unwrap();
    let record = t
        .store
        .get_run(troupe_runtime::RunId::new(run))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.tenant.as_deref(), Some("acme"));

    for path in [
        format!("/api/v1/executions/{run}"),
        format!("/api/v1/workflows/{id}/status"),
        format!("/api/v1/executions/{run}/events"),
    ] {
        let (status, body) = t.get(&path, &umbrella).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = t
        .post(
            &format!("/api/v1/executions/{run}/cancel"),
            json!({}),
            &umbrella,
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = t.get("/api/v1/executions", &umbrella).await;
    assert_eq!(list["executions"].as_array().unwrap().len(), 0);
    let (_, list) = t.get("/api/v1/executions", &acme).await;
    assert_eq!(list["executions"].as_array().unwrap().len(), 1);
    // An admin without a tenant sees every tenant.
    let (status, _) = t
        .get(&format!("/api/v1/executions/{run}"), &token("admin", None))
        .await;
    assert_eq!(status, 200);
    let (status, _) = t
        .post(
            &format!("/api/v1/executions/{run}/cancel"),
            json!({}),
            &acme,
        )
        .await;
    assert_eq!(status, 200);

    // Every mutating call is in the audit log, refused ones too, with who and what.
    let (_, audit) = t.get("/api/v1/audit", &token("admin", None)).await;
    let records = audit["records"].as_array().unwrap();
    let calls: Vec<(String, String, u64)> = records
        .iter()
        .map(|r| {
            (
                r["who"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        calls.contains(&("tester-operate".into(), "/api/v1/workflows".into(), 201)),
        "{calls:?}"
    );
    assert!(
        calls.contains(&(
            "tester-operate".into(),
            format!("/api/v1/executions/{run}/cancel"),
            404
        )),
        "{calls:?}"
    );
    assert!(
        calls.contains(&(
            "tester-operate".into(),
            format!("/api/v1/executions/{run}/cancel"),
            200
        )),
        "{calls:?}"
    );
    assert!(records
        .iter()
        .all(|r| r["at"].as_str().unwrap().ends_with('Z') && r["method"] == "POST"));
    assert!(records.iter().all(|r| r["tenant"].is_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eddsa_tokens_verify_with_the_public_key() {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let t = start_with(None, Auth::ed25519(pair.public_key().as_ref())).await;
    let claims = Claims {
        sub: "ed".into(),
        scope: "read".into(),
        tenant: None,
        exp: expiry_in(Duration::from_secs(60)),
    };
    let tok = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_der(pkcs8.as_ref()),
    )
    .unwrap();
    let (status, body) = t.get("/api/v1/executions", &tok).await;
    assert_eq!(status, 200, "{body}");
    // An HS256 token is not accepted by a service configured with EdDSA only.
    let (status, body) = t.get("/api/v1/executions", &token("read", None)).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("HS256"),
        "{body}"
    );
}
