//! Tests against a real HTTP server on 127.0.0.1 (loopback only), written by hand in each test.

use super::*;
use crate::shape::Legacy;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Serves one connection: reads the request (head and `Content-Length` body), answers
/// `response`, closes. The handle yields the raw request.
async fn serve_once(response: &'static [u8]) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let request = read_request(&mut sock).await;
        // The client may hang up early (a refused body): not the server's problem.
        let _ = sock.write_all(response).await;
        let _ = sock.shutdown().await;
        request
    });
    (base, handle)
}

async fn read_request(sock: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.read(&mut buf).await.unwrap();
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length: ").map(str::to_owned))
                .map_or(0, |n| n.parse::<usize>().unwrap());
            if data.len() >= end + 4 + len {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

fn agent(config: Value) -> HttpRequest {
    HttpRequest::from_config(&config).unwrap()
}

async fn send(agent: &HttpRequest, request: Value) -> Result<HttpReply, HttpError> {
    let call = agent.prepare(request)?;
    agent.call(call).await
}

#[tokio::test]
async fn gets_json_with_content_length() {
    let (base, server) =
        serve_once(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Tag: a\r\nX-Tag: b\r\nContent-Length: 21\r\n\r\n{\"ok\":true,\"n\":[1,2]}")
            .await;
    let http = agent(json!({"url": format!("{base}/items?limit=2"), "headers": {"X-Token": "t"}}));
    let reply = send(&http, Value::Null).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"ok": true, "n": [1, 2]}));
    assert_eq!(reply.headers["x-tag"], "a, b");
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /items?limit=2 HTTP/1.1\r\n"),
        "{request}"
    );
    let host = base.trim_start_matches("http://");
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("\r\nhost: {host}\r\n")),
        "{request}"
    );
    assert!(lower.contains("\r\nx-token: t\r\n"), "{request}");
    assert!(
        lower.contains("\r\nuser-agent: troupe-agents\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn posts_the_request_as_a_json_body() {
    let (base, server) = serve_once(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone").await;
    let http = agent(json!({"url": base, "method": "post", "input": "body"}));
    let reply = send(&http, json!({"a": 1})).await.unwrap();
    assert_eq!((reply.status, reply.body), (201, json!("done")));
    let request = server.await.unwrap();
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains("\r\ncontent-type: application/json\r\n"),
        "{request}"
    );
    assert!(request.ends_with("\r\n\r\n{\"a\":1}"), "{request}");
}

#[tokio::test]
async fn request_fields_override_the_config() {
    let (base, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let http = agent(json!({"url": "http://127.0.0.1:9/unused", "headers": {"X-A": "config"}}));
    let reply = send(
        &http,
        json!({"url": format!("{base}/x"), "method": "PUT", "headers": {"x-a": "request"}, "body": "text"}),
    )
    .await
    .unwrap();
    assert_eq!((reply.status, reply.body), (200, json!("")));
    let request = server.await.unwrap();
    assert!(request.starts_with("PUT /x HTTP/1.1\r\n"), "{request}");
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nx-a: request\r\n") && !lower.contains("config"),
        "{request}"
    );
    assert!(
        lower.contains("\r\ncontent-type: text/plain; charset=utf-8\r\n"),
        "{request}"
    );
    assert!(request.ends_with("\r\n\r\ntext"), "{request}");
}

#[tokio::test]
async fn reads_a_chunked_response() {
    let (base, _server) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
    )
    .await;
    let reply = send(&agent(Value::Null), json!(base)).await.unwrap();
    assert_eq!(reply.body, json!("hello, world"));
}

#[tokio::test]
async fn server_errors_are_transient_client_errors_permanent() {
    let (base, _s) =
        serve_once(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom").await;
    let err = send(&agent(json!({"url": base.clone()})), Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("GET {base} answered 500 Internal Server Error: boom")
    );
    assert!(AgentError::from(err).is_retryable());

    let (base, _s) = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
    let err = send(&agent(json!({"url": base.clone()})), Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("GET {base} answered 404 Not Found")
    );
    assert!(!AgentError::from(err).is_retryable());

    let (base, _s) = serve_once(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n").await;
    let lenient = agent(json!({"url": base, "error_for_status": false}));
    assert_eq!(send(&lenient, Value::Null).await.unwrap().status, 503);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let (base, _s) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n").await;
    let err = send(
        &agent(json!({"url": base, "max_body_bytes": 10})),
        Value::Null,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("larger than 10 bytes (config `max_body_bytes`)"),
        "{err}"
    );
    assert!(!AgentError::from(err).is_retryable());
}

#[tokio::test]
async fn refused_connections_and_silent_servers_are_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = send(
        &agent(json!({"url": format!("http://{addr}/")})),
        Value::Null,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to {addr}")),
        "{err}"
    );
    assert!(AgentError::from(err).is_retryable());

    // A server that accepts and reads but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let _server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut sink = Vec::new();
        let _ = sock.read_to_end(&mut sink).await;
    });
    let err = send(
        &agent(json!({"url": base.clone(), "timeout": "100ms"})),
        Value::Null,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("request to {base} did not complete within 100ms (config `timeout`)")
    );
    assert!(AgentError::from(err).is_retryable());
}

#[test]
fn bad_config_and_requests_say_what_is_wrong() {
    let bad = |c: Value| HttpRequest::from_config(&c).unwrap_err().legacy();
    assert!(bad(json!({"url": "ftp://example.test/"}))
        .starts_with("field `url`: bad url `ftp://example.test/`: unsupported scheme `ftp`"));
    assert!(HttpRequest::from_config(&json!({"url": "https://example.test/"})).is_ok());
    assert!(bad(json!({"method": "G T"})).starts_with("field `method`: bad method"));
    assert!(bad(json!({"headers": {"X": "a\nb"}})).starts_with("field `headers`: header `X`"));
    assert!(bad(json!({"connect_timeout": "0ms"}))
        .contains("field `connect_timeout`: duration \"0ms\" must be more than zero"));
    assert!(bad(json!({"uri": "x"})).contains("unknown field `uri`"));

    let http = agent(Value::Null);
    let err = http.prepare(Value::Null).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no url: set `url` in the config or the request"
    );
    let err = http.prepare(json!(12)).unwrap_err();
    assert!(err.to_string().contains("got a number"), "{err}");
    let err = http
        .prepare(json!({"url": "http://h/", "verb": "GET"}))
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `verb`"), "{err}");
    assert!(!AgentError::from(err).is_retryable());
}

#[tokio::test]
async fn other_schemes_in_a_request_are_refused_before_connecting() {
    let err = send(&agent(Value::Null), json!("ftp://example.test/"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unsupported scheme `ftp`"),
        "{err}"
    );
    assert!(!AgentError::from(err).is_retryable());
}

#[test]
fn reply_bodies_follow_the_content_type() {
    let response = |ct: &str, body: &[u8]| Response {
        status: 200,
        reason: "OK".into(),
        headers: vec![("content-type".into(), ct.into())],
        body: body.to_vec(),
    };
    assert_eq!(
        to_reply(response("application/json; charset=utf-8", b"[1]")).body,
        json!([1])
    );
    assert_eq!(
        to_reply(response("application/problem+json", b"{}")).body,
        json!({})
    );
    assert_eq!(
        to_reply(response("application/json", b"")).body,
        Value::Null
    );
    assert_eq!(
        to_reply(response("application/json", b"not json")).body,
        json!("not json")
    );
    assert_eq!(to_reply(response("text/html", b"<p>")).body, json!("<p>"));
}

// What the hand-written wire decoder's tests covered, now through the client on real sockets.

#[tokio::test]
async fn skips_interim_responses_and_reads_until_close_without_length() {
    let (base, _s) =
        serve_once(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 500 Internal Server Error\r\n\r\nboom")
            .await;
    let lenient = agent(json!({"url": base, "error_for_status": false}));
    let reply = send(&lenient, Value::Null).await.unwrap();
    assert_eq!((reply.status, reply.body), (500, json!("boom")));
}

#[tokio::test]
async fn head_requests_and_204_have_no_body() {
    let (base, _s) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n").await;
    let reply = send(&agent(json!({"url": base, "method": "HEAD"})), Value::Null)
        .await
        .unwrap();
    assert_eq!((reply.status, reply.body), (200, json!("")));
    let (base, _s) = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n").await;
    let reply = send(&agent(json!({"url": base})), Value::Null)
        .await
        .unwrap();
    assert_eq!((reply.status, reply.body), (204, json!("")));
}

#[tokio::test]
async fn chunked_and_unsized_bodies_past_the_limit_are_refused() {
    let (base, _s) = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n",
    )
    .await;
    let err = send(
        &agent(json!({"url": base, "max_body_bytes": 10})),
        Value::Null,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("larger than 10 bytes (config `max_body_bytes`)"),
        "{err}"
    );
    assert!(!AgentError::from(err).is_retryable());
    let (base, _s) = serve_once(b"HTTP/1.1 200 OK\r\n\r\n0123456789ab").await;
    let err = send(
        &agent(json!({"url": base, "max_body_bytes": 10})),
        Value::Null,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HttpError::TooLarge { max: 10, .. }), "{err}");
}

#[tokio::test]
async fn truncated_and_malformed_responses_are_transient_errors() {
    let responses: [&'static [u8]; 4] = [
        b"HTTP/1.1 200 OK\r\nContent-Len",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ];
    for raw in responses {
        let (base, _s) = serve_once(raw).await;
        let err = send(&agent(json!({"url": base.clone()})), Value::Null)
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::Io { .. }), "{err:?}");
        assert!(err.to_string().starts_with(&format!("{base}: ")), "{err}");
        assert!(AgentError::from(err).is_retryable());
    }
}

#[tokio::test]
async fn managed_headers_of_the_config_are_left_to_the_client() {
    let (base, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let http = agent(json!({
        "url": base, "method": "POST", "body": "{}",
        "headers": {"Content-Length": "999", "Connection": "close", "User-Agent": "mine"},
    }));
    send(&http, Value::Null).await.unwrap();
    let lower = server.await.unwrap().to_ascii_lowercase();
    assert!(lower.contains("\r\ncontent-length: 2\r\n"), "{lower}");
    assert!(
        !lower.contains("999") && !lower.contains("connection: close"),
        "{lower}"
    );
    assert!(lower.contains("\r\nuser-agent: mine\r\n"), "{lower}");
}
