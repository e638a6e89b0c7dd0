//! TLS for the API: a test CA made here with rcgen signs a certificate for 127.0.0.1; the
//! service serves HTTPS with it; a client trusting the CA calls the API, one that does not is
//! refused, plain HTTP gets no answer; bad PEM files are refused naming the flag.

mod common;

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use troupe_service::tls::server_config;

/// Writes `ca.pem`, `cert.pem` (127.0.0.1, signed by the CA) and `key.pem` into `dir`.
fn pki(dir: &Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "troupe test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "troupe");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[tokio::test]
async fn the_api_over_tls_answers_clients_that_trust_its_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let config = server_config(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).unwrap();
    let t = common::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = t.svc.clone();
    tokio::spawn(async move {
        svc.serve_tls(
            listener,
            config,
            axum::Router::new(),
            std::future::pending(),
        )
        .await
    });
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("ca.pem")).unwrap()).unwrap();
    let trusting = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let token = common::token("admin", None);
    let r = trusting
        .post(format!("https://{addr}/api/v1/workflows"))
        .bearer_auth(&token)
        .body(common::GATE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = trusting
        .get(format!("https://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A client that does not trust the test CA is refused in the handshake.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    let err = stranger
        .get(format!("https://{addr}/health"))
        .send()
        .await
        .expect_err("an unknown issuer");
    assert!(err.is_connect(), "{err:?}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    // The server still serves the trusting client after those.
    let r = trusting
        .get(format!("https://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn bad_certificate_or_key_files_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let missing = dir.path().join("missing.pem");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not pem at all\n").unwrap();
    for (c, k, want) in [
        (&missing, &key, "--tls-cert"),
        (&junk, &key, "--tls-cert"),
        (&cert, &missing, "--tls-key"),
        (&cert, &junk, "--tls-key"),
        // A key that is not the certificate's.
        (&cert, &dir.path().join("other-key.pem"), "--tls-key"),
    ] {
        if c == &cert && k.ends_with("other-key.pem") {
            std::fs::write(k, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        }
        let err = server_config(c, k).expect_err("refused");
        assert!(err.contains(want), "{err} lacks {want}");
    }
}
