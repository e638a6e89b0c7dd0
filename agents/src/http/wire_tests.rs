use super::*;
use crate::http::url::{check_header, check_method};

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// Decodes `bytes` fed in pieces of `step` bytes, then at end of stream if still incomplete.
fn decode(bytes: &[u8], step: usize, max: usize) -> Result<Response, WireError> {
    let mut d = ResponseDecoder::new(max, false);
    for piece in bytes.chunks(step.max(1)) {
        if let Some(r) = d.feed(piece)? {
            return Ok(r);
        }
    }
    d.finish()
}

/// Decodes `bytes` split at every possible position, checking every split gives the same result.
fn decode_all_splits(bytes: &[u8]) -> Response {
    let whole = decode(bytes, bytes.len(), 1 << 20).unwrap();
    for step in 1..bytes.len() {
        assert_eq!(decode(bytes, step, 1 << 20).unwrap(), whole, "step {step}");
    }
    whole
}

#[test]
fn parses_http_urls() {
    assert_eq!(
        url("http://example.test"),
        Url {
            host: "example.test".into(),
            port: 80,
            target: "/".into()
        }
    );
    let u = url("http://127.0.0.1:8080/a/b?x=1#frag");
    assert_eq!(
        (u.host.as_str(), u.port, u.target.as_str()),
        ("127.0.0.1", 8080, "/a/b?x=1")
    );
    assert_eq!(u.host_header(), "127.0.0.1:8080");
    let u = url("HTTP://[::1]:81?q");
    assert_eq!(
        (u.host.as_str(), u.port, u.target.as_str()),
        ("::1", 81, "/?q")
    );
    assert_eq!(u.host_header(), "[::1]:81");
}

#[test]
fn refuses_https_and_bad_urls_with_reasons() {
    let err = |s: &str| Url::parse(s).unwrap_err();
    assert!(err("https://example.test/").contains("https is not supported (plain http only"));
    assert!(err("ftp://x/").contains("unsupported scheme `ftp`"));
    assert!(err("example.test/x").contains("expected http://host"));
    assert!(err("http://:80/").contains("missing host"));
    assert!(err("http://h:99999/").contains("bad port `99999`"));
    assert!(err("http://u:p@h/").contains("credentials"));
    assert!(err("http://h/a b").contains("whitespace"));
}

#[test]
fn checks_headers_and_methods() {
    assert!(check_header("X-Token", "abc").is_ok());
    assert!(check_header("Bad Name", "v")
        .unwrap_err()
        .contains("bad header name"));
    assert!(check_header("X", "a\r\nEvil: 1")
        .unwrap_err()
        .contains("line break"));
    assert_eq!(check_method("post").unwrap(), "POST");
    assert!(check_method("GE T").is_err());
}

#[test]
fn encodes_a_request() {
    let headers = vec![
        ("X-A".to_owned(), "1".to_owned()),
        ("content-length".to_owned(), "999".to_owned()),
    ];
    let bytes = encode_request("POST", &url("http://h:8080/p?q=1"), &headers, b"{}");
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(
        text,
        "POST /p?q=1 HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: troupe-agents\r\nAccept: */*\r\n\
         X-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    );
    let get = String::from_utf8(encode_request("GET", &url("http://h/"), &[], b"")).unwrap();
    assert!(!get.contains("Content-Length"), "{get}");
}

#[test]
fn decodes_content_length_bodies_at_any_split() {
    let r = decode_all_splits(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.body, b"hello");
}

#[test]
fn decodes_chunked_bodies_with_extensions_and_trailers_at_any_split() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n";
    let r = decode_all_splits(raw);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "Wikipedia in\r\n\r\nchunks."
    );
}

#[test]
fn skips_interim_responses_and_reads_until_close_without_length() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 500 Internal Server Error\r\n\r\nboom";
    let r = decode_all_splits(raw);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (500, "Internal Server Error")
    );
    assert_eq!(r.body, b"boom");
}

#[test]
fn head_requests_and_204_have_no_body() {
    let mut d = ResponseDecoder::new(100, true);
    let r = d
        .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(r.body.is_empty());
    let r = decode(b"HTTP/1.1 204 No Content\r\n\r\n", 100, 100).unwrap();
    assert_eq!(r.status, 204);
}

#[test]
fn enforces_the_body_limit() {
    let err = decode(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 100, 10).unwrap_err();
    assert_eq!(err, WireError::TooLarge(10));
    let err = decode(b"HTTP/1.1 200 OK\r\n\r\n0123456789ab", 3, 10).unwrap_err();
    assert_eq!(err, WireError::TooLarge(10));
    let err = decode(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n", 5, 10)
        .unwrap_err();
    assert_eq!(err, WireError::TooLarge(10));
    assert!(err.to_string().contains("`max_body_bytes`"));
}

#[test]
fn reports_truncated_and_malformed_responses() {
    let err = decode(b"HTTP/1.1 200 OK\r\nContent-Len", 100, 100).unwrap_err();
    assert_eq!(
        err.to_string(),
        "connection closed before the end of the response head"
    );
    let err = decode(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 100, 100).unwrap_err();
    assert!(matches!(err, WireError::Truncated(_)), "{err}");
    let err = decode(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        100,
        100,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "connection closed in the middle of a chunked body"
    );
    let err = decode(b"SSH-2.0-OpenSSH\r\n\r\n", 100, 100).unwrap_err();
    assert!(err.to_string().contains("bad status line"), "{err}");
    let err = decode(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        100,
        100,
    )
    .unwrap_err();
    assert!(err.to_string().contains("bad chunk size `zz`"), "{err}");
    let err = decode(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 100, 100).unwrap_err();
    assert!(err.to_string().contains("bad header line"), "{err}");
    let err = decode(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 100, 100).unwrap_err();
    assert!(err.to_string().contains("bad Content-Length"), "{err}");
}
