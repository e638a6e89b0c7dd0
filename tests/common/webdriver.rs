//! A small W3C WebDriver client for the UI tests: Debian's `chromedriver` driving headless
//! `chromium`, over HTTP with reqwest. Missing browser: `SKIPPED` outside CI, a failure with
//! `CI=true`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a test waits for the page to show something before failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A chromedriver process and one browser session on it, both ended when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

/// Where the tests' screenshots go: `ui-screenshots/` under the target directory.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    /// Starts chromedriver and a headless chromium of `width`×`height`; `None` (after a
    /// `SKIPPED` line) when they are not installed and this is not CI.
    pub async fn start(test: &str, width: u32, height: u32) -> Option<Browser> {
        let (Some(driver), Some(chromium)) = (
            find(&["chromedriver"]),
            find(&["chromium", "chromium-browser"]),
        ) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: chromium and chromedriver are required in CI (apt-get install chromium chromium-driver)"
            );
            println!(
                "SKIPPED: {test}: no chromium/chromedriver (install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut browser = Browser {
            driver: child,
            base,
            session: String::new(),
            http,
        };
        // Ready once its /status says so.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = browser
                .http
                .get(format!("{}/status", browser.base))
                .send()
                .await;
            if let Ok(r) = ready {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver never got ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("troupe-ui-chromium-{}-{test}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display())],
            }
        }}});
        let v = browser.post("/session", caps).await;
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Some(browser)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.post(&self.at("/url"), json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.post(
            &self.at("/execute/sync"),
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Waits until `expr` (a JavaScript expression) is true in the page.
    pub async fn wait_for(&self, what: &str, expr: &str) {
        let deadline = Instant::now() + PATIENCE;
        let script = format!("try {{ return !!({expr}); }} catch (e) {{ return false; }}");
        while self.js(&script, json!([])).await != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "the page never showed {what} ({expr}); it shows: {}",
                self.js("return document.body.innerText", json!([])).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element matching `css` (its WebDriver reference).
    pub async fn element(&self, css: &str) -> Value {
        let v = self
            .post(
                &self.at("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next().cloned())
            .unwrap_or_else(|| panic!("no element {css}"))
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let e = self.element(css).await;
        let id = e.as_str().unwrap();
        self.post(&self.at(&format!("/element/{id}/click")), json!({}))
            .await;
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        let id = e.as_str().unwrap();
        self.post(
            &self.at(&format!("/element/{id}/value")),
            json!({ "text": text }),
        )
        .await;
    }

    /// Presses Enter on the focused element, as a keyboard does (W3C actions).
    pub async fn press_enter(&self) {
        let key = |t: &str| json!({"type": t, "value": "\u{E007}"});
        self.post(
            &self.at("/actions"),
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [key("keyDown"), key("keyUp")]}]}),
        )
        .await;
    }

    /// Saves a PNG of the viewport as `name` in [`screenshot_dir`]; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let r = self
            .http
            .get(format!("{}{}", self.base, self.at("/screenshot")))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let b64 = v["value"].as_str().expect("a screenshot");
        let path = screenshot_dir().join(name);
        std::fs::write(&path, base64_decode(b64)).unwrap();
        path
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) {
        self.post(
            &self.at("/window/rect"),
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Signs in on the UI's form with `token` (the page must show it).
    pub async fn sign_in(&self, token: &str) {
        self.wait_for("the sign-in form", "document.getElementById('token-input')")
            .await;
        self.type_into("#token-input", token).await;
        self.click("#signin").await;
        self.wait_for(
            "a signed-in page",
            "!document.getElementById('token-input')",
        )
        .await;
    }

    /// Ends the session and the driver.
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and so the chromium process) also when a test failed before
        // `quit`: a plain blocking HTTP request, as Drop cannot await.
        if let Some(addr) = self.base.strip_prefix("http://") {
            use std::io::{Read, Write};
            if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    s,
                    "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.session
                );
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
