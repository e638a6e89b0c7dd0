//! The client against a local server (plain or TLS, certificates made here with rcgen) that
//! keeps connections alive and counts them: https trusted through `ca_file` and refused without
//! it, one connection for two requests, redirects followed (and bounded), gzip decoded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::shape::Legacy;

use flate2::write::GzEncoder;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;

/// A test CA, its PEM file, and a server certificate for 127.0.0.1 that it signed.
struct Pki {
    dir: tempfile::TempDir,
    acceptor: TlsAcceptor,
}

impl Pki {
    fn new() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "troupe test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "server");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        Pki {
            dir,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 (TLS when given an acceptor) counting the
/// connections it accepted. Paths: `/hello` (text), `/to-hello` (302 to `/hello`), `/loop`
/// (302 to itself), `/gzip` (a gzip-encoded JSON body when the request accepts gzip).
struct Server {
    base: String,
    connections: Arc<AtomicUsize>,
}

async fn server(tls: Option<TlsAcceptor>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    // A refused handshake is the client's business, not the server's.
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(sock).await {
                            serve(stream).await;
                        }
                    }
                    None => serve(sock).await,
                }
            });
        }
    });
    Server {
        base: format!("{scheme}://{addr}"),
        connections,
    }
}

/// Answers requests on one connection until the client closes it.
async fn serve(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        data.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let response = respond(&path, &head);
        if stream.write_all(&response).await.is_err() {
            return;
        }
    }
}

fn respond(path: &str, head: &str) -> Vec<u8> {
    let reply = |status: &str, headers: &str, body: &[u8]| {
        let mut r = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    match path {
        "/hello" => reply(
            "200 OK",
            "Content-Type: text/plain\r\n",
            b"hello over the wire",
        ),
        "/to-hello" => reply("302 Found", "Location: /hello\r\n", b""),
        "/loop" => reply("302 Found", "Location: /loop\r\n", b""),
        "/gzip" if head.contains("\r\naccept-encoding: gzip") => {
            use std::io::Write;
            let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(br#"{"compressed":true,"words":["a","b"]}"#)
                .unwrap();
            let body = gz.finish().unwrap();
            let headers = "Content-Type: application/json\r\nContent-Encoding: gzip\r\n";
            reply("200 OK", headers, &body)
        }
        _ => reply("404 Not Found", "", b"no such path"),
    }
}

fn agent(config: Value) -> HttpRequest {
    HttpRequest::from_config(&config).unwrap()
}

async fn get(agent: &HttpRequest, url: String) -> Result<HttpReply, HttpError> {
    let call = agent.prepare(json!(url))?;
    agent.call(call).await
}

#[tokio::test]
async fn https_with_a_ca_file_is_trusted() {
    let pki = Pki::new();
    let server = server(Some(pki.acceptor.clone())).await;
    let http = agent(json!({"ca_file": pki.ca_file()}));
    let reply = get(&http, format!("{}/hello", server.base)).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!("hello over the wire"));
}

#[tokio::test]
async fn https_without_the_ca_is_refused_as_a_tls_error() {
    let pki = Pki::new();
    let server = server(Some(pki.acceptor.clone())).await;
    let err = get(&agent(Value::Null), format!("{}/hello", server.base))
        .await
        .unwrap_err();
    let addr = server.base.trim_start_matches("https://");
    assert!(
        matches!(&err, HttpError::Tls { certificate: true, addr: a, .. } if a == addr),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("TLS with {addr} failed: ")),
        "{text}"
    );
    assert!(text.contains("certificate"), "{text}");
    assert!(!AgentError::from(err).is_retryable());
}

#[tokio::test]
async fn two_requests_share_one_kept_alive_connection() {
    let pki = Pki::new();
    for tls in [None, Some(pki.acceptor.clone())] {
        let server = server(tls).await;
        let http = agent(json!({"ca_file": pki.ca_file()}));
        for _ in 0..2 {
            let reply = get(&http, format!("{}/hello", server.base)).await.unwrap();
            assert_eq!(reply.body, json!("hello over the wire"));
        }
        assert_eq!(
            server.connections.load(Ordering::SeqCst),
            1,
            "{}",
            server.base
        );
    }
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let pki = Pki::new();
    let server = server(Some(pki.acceptor.clone())).await;
    let http = agent(json!({"ca_file": pki.ca_file()}));
    let reply = get(&http, format!("{}/to-hello", server.base))
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.body),
        (200, json!("hello over the wire"))
    );

    let err = get(&http, format!("{}/loop", server.base))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}/loop: more than 10 redirects (config `max_redirects`)",
            server.base
        )),
        "{text}"
    );
    assert!(!AgentError::from(err).is_retryable());

    let no_follow = agent(json!({"ca_file": pki.ca_file(), "max_redirects": 0}));
    let reply = get(&no_follow, format!("{}/to-hello", server.base))
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.headers["location"].as_str()),
        (302, "/hello")
    );
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let server = server(None).await;
    let reply = get(&agent(Value::Null), format!("{}/gzip", server.base))
        .await
        .unwrap();
    assert_eq!(reply.body, json!({"compressed": true, "words": ["a", "b"]}));
    assert!(
        !reply.headers.contains_key("content-encoding"),
        "{:?}",
        reply.headers
    );
}

#[test]
fn bad_ca_files_name_the_field() {
    let missing = HttpRequest::from_config(&json!({"ca_file": "/nonexistent/ca.pem"}))
        .unwrap_err()
        .legacy();
    assert!(
        missing.starts_with("field `ca_file`: cannot read `/nonexistent/ca.pem`: "),
        "{missing}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pem");
    std::fs::write(&path, "not a certificate\n").unwrap();
    let err = HttpRequest::from_config(&json!({"ca_file": path}))
        .unwrap_err()
        .legacy();
    assert_eq!(
        err,
        format!(
            "field `ca_file`: `{}` holds no PEM certificate",
            path.display()
        )
    );
    let garbled = dir.path().join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = HttpRequest::from_config(&json!({"ca_file": garbled}))
        .unwrap_err()
        .legacy();
    assert!(
        err.starts_with(&format!("field `ca_file`: `{}` ", garbled.display())),
        "{err}"
    );
}
