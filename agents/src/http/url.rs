//! URLs, methods and headers of `http.request`: parsed and checked before anything is sent.

/// Why a URL was refused: the URL as written and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad url `{url}`: {reason}")]
pub(crate) struct UrlError {
    /// The URL as written.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A checked `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url(pub reqwest::Url);

impl Url {
    /// Parses `http[s]://host[:port][/path][?query]` (a `#fragment` is dropped).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |why: &str| {
            Err(UrlError {
                url: url.to_owned(),
                reason: why.to_owned(),
            })
        };
        let Some((scheme, _)) = url.split_once("://") else {
            return bad("expected http[s]://host[:port]/path");
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return bad(&format!(
                "unsupported scheme `{scheme}` (only http and https)"
            ));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("whitespace or control characters in the url (percent-encode them)");
        }
        let mut parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(::url::ParseError::EmptyHost) => return bad("missing host"),
            Err(::url::ParseError::InvalidPort) => return bad("bad port"),
            Err(e) => return bad(&e.to_string()),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return bad("credentials in the url are not supported (use an `authorization` header)");
        }
        if parsed.port() == Some(0) {
            return bad("bad port `0`");
        }
        parsed.set_fragment(None);
        Ok(Self(parsed))
    }

    /// `host:port` as connected to (the scheme's port when none is written).
    pub fn authority(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

/// Checks a header name and value (no CR/LF injection, token characters in the name).
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("bad header name `{name}`"));
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(format!(
            "header `{name}`: value contains a line break or NUL"
        ));
    }
    Ok(())
}

/// Checks an HTTP method and returns it uppercased.
pub(crate) fn check_method(method: &str) -> Result<String, String> {
    if method.is_empty() || !method.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!("bad method `{method}`"));
    }
    Ok(method.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_and_https_urls() {
        let u = Url::parse("http://127.0.0.1:8080/a/b?x=1#frag").unwrap();
        assert_eq!(u.0.as_str(), "http://127.0.0.1:8080/a/b?x=1");
        assert_eq!(u.authority(), "127.0.0.1:8080");
        let u = Url::parse("HTTPS://example.test?q").unwrap();
        assert_eq!(u.0.as_str(), "https://example.test/?q");
        assert_eq!(u.authority(), "example.test:443");
        assert_eq!(
            Url::parse("http://[::1]:81/").unwrap().authority(),
            "[::1]:81"
        );
        assert_eq!(Url::parse("http://h/").unwrap().authority(), "h:80");
    }

    #[test]
    fn refuses_bad_urls_with_reasons() {
        let err = |s: &str| Url::parse(s).unwrap_err().to_string();
        assert_eq!(Url::parse("ftp://x/").unwrap_err().url, "ftp://x/");
        assert!(err("ftp://x/").contains("unsupported scheme `ftp`"));
        assert!(err("example.test/x").contains("expected http[s]://host"));
        assert!(
            err("http://:80/").contains("missing host"),
            "{}",
            err("http://:80/")
        );
        assert!(err("http://h:99999/").contains("bad port"));
        assert!(err("http://h:0/").contains("bad port `0`"));
        assert!(err("http://u:p@h/").contains("credentials"));
        assert!(err("http://h/a b").contains("whitespace"));
    }

    #[test]
    fn checks_headers_and_methods() {
        assert!(check_header("X-Ok", "v").is_ok());
        assert!(check_header("Bad Name", "v")
            .unwrap_err()
            .contains("bad header name"));
        assert!(check_header("X", "a\r\nInjected: 1")
            .unwrap_err()
            .contains("line break"));
        assert_eq!(check_method("post").unwrap(), "POST");
        assert!(check_method("G T").is_err());
    }
}
