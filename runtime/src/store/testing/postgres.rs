//! A real PostgreSQL server for tests and benchmarks, started from the installed binaries
//! (`/usr/lib/postgresql/*/bin`) in a temporary directory on a free loopback port, and stopped
//! when its guard is dropped (also when a test fails half-way).
//!
//! PostgreSQL refuses to run as root: when the caller is root, the server runs as the
//! unprivileged `postgres` user (created by the Debian package; `troupe-pg` is created if it is
//! missing) through `runuser -u USER --`, and that user is given the temporary directory.
//!
//! Used by `runtime/tests/store_postgres.rs` (the conformance suite) and by `troupe bench
//! --suite durable` (with `fsync` on: a durable commit costs what it costs in production).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::TempDir;

/// The newest installed PostgreSQL's `bin` directory, if any.
pub fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// What to do about the binaries: run with them, skip (`Ok(None)`), or fail in CI.
pub fn decide(bin: Option<PathBuf>, in_ci: bool) -> Result<Option<PathBuf>, String> {
    match bin {
        Some(bin) => Ok(Some(bin)),
        None if in_ci => Err(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) but CI=true: \
             .ci/run installs it"
                .into(),
        ),
        None => Ok(None),
    }
}

/// The binaries, or `None` after printing a loud SKIPPED line naming `test`; a panic in CI
/// (`CI=true`), where a missing server is a failure.
pub fn pg_bin_or_skip(test: &str) -> Option<PathBuf> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let bin = decide(pg_bin(), in_ci).unwrap_or_else(|e| panic!("{e}"));
    if bin.is_none() {
        eprintln!(
            "\n==============================================================\n\
             SKIPPED: PostgreSQL store tests (install postgresql) [{test}]\n\
             ==============================================================\n"
        );
    }
    bin
}

/// Runs `command`; an error naming `what` and the output unless it succeeds.
fn run(mut command: Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("{what}: cannot run {command:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn user_exists(user: &str) -> bool {
    Command::new("getent")
        .args(["passwd", user])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The unprivileged user the server runs as when we are root.
fn server_user() -> Result<String, String> {
    if user_exists("postgres") {
        return Ok("postgres".into());
    }
    if !user_exists("troupe-pg") {
        let mut add = Command::new("useradd");
        add.args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "troupe-pg",
        ]);
        run(add, "creating the user troupe-pg")?;
    }
    Ok("troupe-pg".into())
}

/// A running PostgreSQL server in a temporary directory; stopped when dropped.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    user: Option<String>,
    port: u16,
    _dir: TempDir,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl PgServer {
    fn command(bin: &Path, user: &Option<String>, program: &str) -> Command {
        match user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin.join(program));
                c
            }
            None => Command::new(bin.join(program)),
        }
    }

    /// Initialises and starts a server from the binaries in `bin`. With `fsync` off the
    /// server does not flush (fast tests); benchmarks keep it on.
    pub fn start(bin: PathBuf, fsync: bool) -> Result<Self, String> {
        let user = if is_root() {
            Some(server_user()?)
        } else {
            None
        };
        // Under /tmp when the server runs as another user: $TMPDIR may be private to root.
        let base = if user.is_some() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = TempDir::new_in(&base, "troupe-pg")
            .map_err(|e| format!("cannot make a temp dir in {}: {e}", base.display()))?;
        if let Some(user) = &user {
            let mut chown = Command::new("chown");
            chown.arg("-R").arg(user).arg(dir.path());
            run(chown, "giving the temp dir to the server's user")?;
        }
        let data = dir.path().join("data");
        let mut initdb = Self::command(&bin, &user, "initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "troupe",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let mut pg_ctl = Self::command(&bin, &user, "pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={}",
                dir.path().display(),
                if fsync { "on" } else { "off" }
            ))
            .args(["-w", "-t", "60", "start"]);
        let server = Self {
            bin,
            data,
            user,
            port,
            _dir: dir,
        };
        // From here on the guard stops the server even if starting fails half-way.
        run(pg_ctl, "starting PostgreSQL")?;
        Ok(server)
    }

    /// The address of database `db` on the server (user `troupe`, no password).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://troupe@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as the superuser on the `postgres` database (on a plain thread: the blocking
    /// client must not run on the async executor).
    pub fn admin(&self, sql: String) -> Result<(), String> {
        let url = self.url("postgres");
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)
                .map_err(|e| format!("connecting to {url}: {e}"))?;
            client.batch_execute(&sql).map_err(|e| {
                let why = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_owned());
                format!("{sql}: {why}")
            })
        })
        .join()
        .map_err(|_| "the admin thread panicked".to_string())?
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut stop = Self::command(&self.bin, &self.user, "pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_postgres_skips_outside_ci_and_fails_in_ci() {
        let bin = PathBuf::from("/usr/lib/postgresql/16/bin");
        assert_eq!(decide(Some(bin.clone()), true), Ok(Some(bin.clone())));
        assert_eq!(decide(Some(bin.clone()), false), Ok(Some(bin)));
        assert_eq!(decide(None, false), Ok(None));
        let err = decide(None, true).expect_err("CI needs the server");
        assert!(err.contains("CI=true"), "{err}");
    }
}
