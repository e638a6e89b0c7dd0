//! What the binary's end-to-end tests share.

use std::process::{Command, Output};

/// Runs the `troupe` binary with `args` from the repository root, its runs journaled in a
/// temporary data directory, and waits for it.
pub fn troupe(args: &[&str]) -> Output {
    troupe_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Runs the `troupe` binary with `args` in directory `dir` (else as [`troupe`] does).
#[allow(dead_code)] // Only some of the test files that share this module use it.
pub fn troupe_in(dir: &std::path::Path, args: &[&str]) -> Output {
    troupe_command(dir)
        .args(args)
        .output()
        .expect("troupe runs")
}

/// The `troupe` binary as [`troupe_in`] runs it, to add arguments and environment to.
#[allow(dead_code)] // Only some of the test files that share this module use it.
pub fn troupe_command(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        // `troupe run` journals to the default store under $XDG_DATA_HOME: keep the tests' runs
        // out of the user's own store.
        .env(
            "XDG_DATA_HOME",
            std::env::temp_dir().join("troupe-tests-data"),
        );
    c
}
