//! `troupe validate` decodes every pool's config with its kind's own decoder, without starting
//! agents: a bad config is refused with the file's line and column and exit code 2.

use std::path::PathBuf;

mod common;
use common::troupe;

fn file(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

const BAD_URL: &str = "workflow:
  name: fetch
  agents:
    web: { type: http.request, config: { url: \"ftp://example.test/\" } }
  tasks:
    - { id: get, agent: web }
";

#[test]
fn a_bad_agent_config_fails_validate_with_its_line_and_column() {
    let path = file("ftp.yaml", BAD_URL);
    let out = troupe(&["validate", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains(
            "pool \"web\" at line 4, column 5: http.request config at /url: bad url `ftp://example.test/`: unsupported scheme `ftp`"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("is valid"), "{stderr}");
}

#[test]
fn a_bad_agent_config_fails_run_before_any_agent_starts_and_never_reads_as_a_panic() {
    let path = file("ftp-run.yaml", BAD_URL);
    let out = troupe(&["run", "--no-progress", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("line 4, column 5"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_good_config_still_validates() {
    let good = BAD_URL.replace("ftp://", "https://");
    let path = file("http.yaml", &good);
    let out = troupe(&["validate", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("is valid"), "{stdout}");
}

/// `troupe validate FILE`: (exit code, stderr).
fn validate(name: &str, body: &str) -> (Option<i32>, String) {
    let path = file(name, body);
    let out = troupe(&["validate", path.to_str().unwrap()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_member_config_inside_a_pattern_block_fails_validate_with_its_path() {
    let body = "workflow:
  name: crew
  orchestration_pattern: supervisor
  pattern:
    members:
      web: { type: http.request, config: { url: \"ftp://example.test/\" } }
  tasks:
    - { id: get, input: { url: \"https://example.test/\" } }
";
    let (code, stderr) = validate("member.yaml", body);
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("pool \"pattern\" at line 5, column 5: http.request config at /members/web/config/url: bad url `ftp://example.test/`"),
        "{stderr}"
    );
    let (code, stderr) = validate("member-ok.yaml", &body.replace("ftp://", "https://"));
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
}

#[test]
fn a_bad_config_deep_in_a_sub_team_or_a_custom_node_fails_validate() {
    let tree = "workflow:
  name: tree
  orchestration_pattern: hierarchical
  pattern:
    members:
      sub:
        members:
          web: { type: http.request, config: { url: \"ftp://example.test/\" } }
  tasks:
    - { id: get }
";
    let (code, stderr) = validate("tree.yaml", tree);
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains(
            "line 5, column 5: http.request config at /members/sub/members/web/config/url: bad url"
        ),
        "{stderr}"
    );
    let custom = "workflow:
  name: graph
  orchestration_pattern: custom
  pattern:
    nodes:
      fetch: { type: http.request, config: { url: \"ftp://example.test/\" } }
      also: { type: no.such.kind }
    edges:
      - { from: fetch, to: also }
  tasks:
    - { id: get }
";
    let (code, stderr) = validate("graph.yaml", custom);
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("line 5, column 5"), "{stderr}");
    let fixed = custom.replace(
        "no.such.kind",
        "http.request, config: { url: \"https://example.test/\" }",
    );
    let (code, stderr) = validate("graph-kind.yaml", &fixed);
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("http.request config at /nodes/fetch/config/url: bad url"),
        "{stderr}"
    );
}
