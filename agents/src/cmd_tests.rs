use super::*;
use crate::shape::Legacy;
use serde_json::json;

fn agent(config: Value) -> CmdRun {
    CmdRun::from_config(&config).unwrap()
}

fn req(value: Value) -> CmdRequest {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn runs_a_program_with_args_without_a_shell() {
    let echo = agent(json!({"program": "echo", "args": ["hello", "$HOME", "a b"]}));
    let out = echo.run(req(Value::Null)).await.unwrap();
    assert_eq!(out.status, Some(0));
    assert_eq!(out.stdout, "hello $HOME a b\n", "no shell expansion");
    assert_eq!(out.stderr, "");
    assert!(!out.truncated);
}

#[tokio::test]
async fn feeds_the_request_to_stdin_or_as_an_argument() {
    let cat = agent(json!({"program": "cat"}));
    let out = cat.run(req(json!("line one\nline two"))).await.unwrap();
    assert_eq!(out.stdout, "line one\nline two");
    let out = cat.run(req(json!({"stdin": "from object"}))).await.unwrap();
    assert_eq!(out.stdout, "from object");

    let echo = agent(json!({"program": "echo", "args": ["n ="], "input": "arg"}));
    assert_eq!(echo.run(req(json!(42))).await.unwrap().stdout, "n = 42\n");
    assert_eq!(
        echo.run(req(json!(["x", 1]))).await.unwrap().stdout,
        "n = x 1\n"
    );
}

#[tokio::test]
async fn shell_mode_env_and_cwd() {
    let dir = std::env::temp_dir();
    let sh = agent(json!({
        "program": "echo \"$GREETING $1\"; pwd",
        "shell": true,
        "env": {"GREETING": "hi"},
        "cwd": dir,
        "input": "arg",
    }));
    let out = sh.run(req(json!("there"))).await.unwrap();
    let canonical = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(out.stdout, format!("hi there\n{}\n", canonical.display()));
    let out = sh
        .run(req(json!({"args": ["you"], "env": {"GREETING": "bye"}})))
        .await
        .unwrap();
    assert!(out.stdout.starts_with("bye you\n"), "{}", out.stdout);
}

#[tokio::test]
async fn non_zero_exit_is_a_transient_error_unless_configured() {
    let fail = agent(json!({"program": "echo oops >&2; exit 3", "shell": true}));
    let err = fail.run(req(Value::Null)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`echo oops >&2; exit 3` exited with status 3: oops"
    );
    assert!(AgentError::from(err).is_retryable());

    let tolerant =
        agent(json!({"program": "sh", "args": ["-c", "exit 3"], "fail_on_nonzero": false}));
    let out = tolerant.run(req(Value::Null)).await.unwrap();
    assert_eq!(out.status, Some(3));
}

#[tokio::test]
async fn a_slow_program_is_killed_at_the_timeout() {
    let slow = agent(json!({"program": "sleep", "args": ["5"], "timeout": "100ms"}));
    let err = slow.run(req(Value::Null)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`sleep` did not finish within 100ms and was killed (config `timeout`)"
    );
    assert!(AgentError::from(err).is_retryable());
}

#[tokio::test]
async fn output_is_capped() {
    let big = agent(
        json!({"program": "head", "args": ["-c", "100000", "/dev/zero"], "max_output_bytes": 10}),
    );
    let out = big.run(req(Value::Null)).await.unwrap();
    assert_eq!(out.stdout.len(), 10);
    assert!(out.truncated);
}

#[tokio::test]
async fn a_missing_program_is_a_permanent_error() {
    let missing = agent(json!({"program": "troupe-no-such-program-xyz"}));
    let err = missing.run(req(Value::Null)).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot start `troupe-no-such-program-xyz`"),
        "{err}"
    );
    assert!(!AgentError::from(err).is_retryable());
}

#[test]
fn bad_config_and_requests_say_what_is_wrong() {
    let bad = |c: Value| CmdRun::from_config(&c).unwrap_err().legacy();
    assert_eq!(bad(Value::Null), "missing field `program`");
    assert_eq!(
        bad(json!({"program": "x", "timeout": 0})),
        "field `timeout`: duration \"0\" must be more than zero"
    );
    assert!(bad(json!({"program": "x", "args": "a b"})).starts_with("field `args`: invalid type"));
    assert!(bad(json!({"program": "x", "input": "file"}))
        .starts_with("field `input`: unknown variant `file`"));
    assert!(bad(json!({"program": "x", "timeout_ms": 5})).contains("unknown field `timeout_ms`"));
    let tree = |w: Value| bad(json!({"program": "x", "worktree": w, "cwd": "/abs"}));
    assert_eq!(tree(json!({})), "field `worktree`: missing field `repo`");
    assert_eq!(
        tree(json!({"repo": "r", "branch_prefix": "a..b/"})),
        "field `worktree.branch_prefix`: must not contain `..`"
    );
    assert_eq!(
        tree(json!({"repo": "r"})),
        "field `cwd`: must be a relative path (inside the worktree) with `worktree`"
    );
    assert!(tree(json!({"repo": "r", "commmit": true})).contains("unknown field `commmit`"));

    let err = serde_json::from_value::<CmdRequest>(json!({"stdin": 1})).unwrap_err();
    assert!(
        err.to_string().starts_with("field `stdin`: invalid type"),
        "{err}"
    );
    let err = serde_json::from_value::<CmdRequest>(json!([{"a": 1}])).unwrap_err();
    assert!(
        err.to_string()
            .contains("argument 0 must be a string or a number, got an object"),
        "{err}"
    );
}

#[test]
fn stderr_tail_keeps_the_end() {
    assert_eq!(stderr_tail("  \n"), "");
    assert_eq!(stderr_tail("boom\n"), ": boom");
    let long = "x".repeat(1000) + "END";
    let tail = stderr_tail(&long);
    assert!(tail.starts_with(": ...") && tail.ends_with("END"), "{tail}");
    assert_eq!(tail.chars().count(), 400 + 5);
}
