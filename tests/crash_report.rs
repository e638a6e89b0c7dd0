//! A supervised crash is news, not noise: with RUST_BACKTRACE=1, `troupe run` of the fault
//! tolerance example prints no panic backtrace for the `util.crash` agent its supervisor
//! restarts by design, but one crash report line: which agent, the panic message, what the
//! supervisor did.

use std::process::Command;

#[test]
fn an_agent_panic_is_one_crash_line_without_a_backtrace() {
    let out = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["run", "--no-progress", "examples/fault_tolerance.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1")
        .env(
            "XDG_DATA_HOME",
            std::env::temp_dir().join("troupe-tests-data"),
        )
        .output()
        .expect("troupe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    let crash: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("crash: "))
        .collect();
    assert_eq!(crash.len(), 1, "one crash report line:\n{stderr}");
    let line = crash[0];
    assert!(line.contains("/crashy/0"), "which agent: {line}");
    assert!(
        line.contains("crashing on purpose"),
        "the panic message: {line}"
    );
    assert!(line.contains("restart"), "what the supervisor did: {line}");
    for noise in [
        "stack backtrace",
        "panicked at",
        "rust_begin_unwind",
        "note: run with",
    ] {
        assert!(!stderr.contains(noise), "{noise:?} on stderr:\n{stderr}");
    }
}
