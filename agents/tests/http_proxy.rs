//! `http.request` takes its proxy from the environment (`HTTP_PROXY`). Its own test binary with
//! a single test: the variables are set before any client is built, and no other test of this
//! process can see them.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use troupe_runtime::Runtime;

#[tokio::test]
async fn plain_http_goes_through_the_proxy_named_by_the_environment() {
    // A "proxy" that answers every request itself and hands back the request line it got.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        let body = b"via proxy";
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(body).await.unwrap();
        let text = String::from_utf8_lossy(&seen).into_owned();
        text.lines().next().unwrap_or_default().to_owned()
    });
    for name in [
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "http_proxy",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("HTTP_PROXY", &proxy);

    let runtime = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(runtime.kinds());
    let http = runtime
        .spawn_kind("http.request", "http", Value::Null)
        .await
        .unwrap();
    // `.invalid` never resolves: only the proxy can answer.
    let reply = http
        .ask_value(json!("http://origin.invalid/x?y=1"), None)
        .await
        .unwrap();
    assert_eq!(reply["status"], json!(200));
    assert_eq!(reply["body"], json!("via proxy"));
    assert_eq!(
        server.await.unwrap(),
        "GET http://origin.invalid/x?y=1 HTTP/1.1"
    );
    runtime.shutdown().await;
}
