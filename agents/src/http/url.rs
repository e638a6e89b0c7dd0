//! URLs, methods and headers of `http.request`: parsed and checked before anything is sent.

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// Host name or address as written (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: String,
}

impl Url {
    /// Parses `http://host[:port][/path][?query]` (a `#fragment` is dropped).
    pub fn parse(url: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("bad url `{url}`: {why}"));
        let Some((scheme, rest)) = url.split_once("://") else {
            return bad("expected http://host[:port]/path");
        };
        if scheme.eq_ignore_ascii_case("https") {
            return bad(
                "https is not supported (plain http only; put a TLS-terminating proxy in front)",
            );
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return bad(&format!("unsupported scheme `{scheme}` (only http)"));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return bad("credentials in the url are not supported (use an `authorization` header)");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return bad("unclosed `[` in host");
            };
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return bad("missing host");
        }
        let port = match port {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return bad(&format!("bad port `{p}`")),
            },
        };
        if target.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("whitespace or control characters in the path (percent-encode them)");
        }
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
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
