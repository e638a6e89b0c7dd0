//! `troupe node` child processes for the multi-process tests (tests/cluster.rs,
//! tests/cluster_runs.rs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};

/// The cookie of the test clusters.
pub const COOKIE: &str = "multi-process-cookie";

/// A `troupe node` child process, killed when dropped. Started with `--exit-with-stdin`, so
/// it also exits if this test process dies without dropping it (SIGKILL, a hung test killed).
pub struct NodeProc {
    /// The node's name.
    pub name: String,
    /// Its transport address.
    pub listen: SocketAddr,
    /// Its gossip address (others join through it).
    pub gossip: SocketAddr,
    /// The process.
    pub child: Child,
    /// The write end of the node's stdin, held for the child's lifetime (closing it stops the
    /// node).
    _stdin: ChildStdin,
}

/// A free TCP and UDP address on `ip`.
pub fn free_addrs(ip: &str) -> (SocketAddr, SocketAddr) {
    let tcp = std::net::TcpListener::bind(format!("{ip}:0")).unwrap();
    let udp = std::net::UdpSocket::bind(format!("{ip}:0")).unwrap();
    (tcp.local_addr().unwrap(), udp.local_addr().unwrap())
}

/// How [`NodeProc::spawn`] starts a node beyond its addresses and seeds.
struct Launch<'a> {
    store: &'a str,
    extra: &'a [&'a str],
    /// How many lines after the "up" line to read and return.
    more: usize,
    cookie: &'a str,
    /// A file for the node's debug log.
    log: Option<&'a std::path::Path>,
}

impl<'a> Launch<'a> {
    fn new(store: &'a str, extra: &'a [&'a str]) -> Self {
        Launch {
            store,
            extra,
            more: 0,
            cookie: COOKIE,
            log: None,
        }
    }
}

impl NodeProc {
    pub fn start(name: &str, ip: &str, seeds: &[&NodeProc]) -> NodeProc {
        Self::start_with_store(name, ip, seeds, "memory")
    }

    /// A node keeping its runs in `store`.
    pub fn start_with_store(name: &str, ip: &str, seeds: &[&NodeProc], store: &str) -> NodeProc {
        Self::start_with_args(name, ip, seeds, store, &[])
    }

    /// A node keeping its runs in `store`, with `extra` flags (e.g. `--resources ...`) and
    /// `TROUPE_TEST_NODE` set to its name (shell tasks can log where they ran).
    pub fn start_with_args(
        name: &str,
        ip: &str,
        seeds: &[&NodeProc],
        store: &str,
        extra: &[&str],
    ) -> NodeProc {
        // The free ports are picked here and bound by the child: another process may take
        // one in between, so try again with new ones.
        for _ in 0..3 {
            let (listen, gossip) = free_addrs(ip);
            if let Some((node, _)) =
                Self::spawn(name, listen, gossip, seeds, Launch::new(store, extra))
            {
                return node;
            }
        }
        panic!("node {name} did not start on free ports three times");
    }

    pub fn start_at(
        name: &str,
        listen: SocketAddr,
        gossip: SocketAddr,
        seeds: &[&NodeProc],
    ) -> NodeProc {
        Self::try_start(name, listen, gossip, seeds, "memory")
            .unwrap_or_else(|| panic!("node {name} did not start on {listen}/{gossip}"))
    }

    fn try_start(
        name: &str,
        listen: SocketAddr,
        gossip: SocketAddr,
        seeds: &[&NodeProc],
        store: &str,
    ) -> Option<NodeProc> {
        Self::spawn(name, listen, gossip, seeds, Launch::new(store, &[])).map(|(node, _)| node)
    }

    /// A node with the HTTP API on `ip` (`--api IP:0`): the node, the API's base URL and the
    /// admin token it printed.
    pub fn start_with_api(name: &str, ip: &str, seeds: &[&NodeProc]) -> (NodeProc, String, String) {
        let api = format!("{ip}:0");
        for _ in 0..3 {
            let (listen, gossip) = free_addrs(ip);
            let extra = ["--api", api.as_str()];
            let launch = Launch {
                more: 2,
                ..Launch::new("memory", &extra)
            };
            if let Some((node, lines)) = Self::spawn(name, listen, gossip, seeds, launch) {
                let base = lines[0]
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .unwrap_or_else(|| panic!("no API address in {:?}", lines[0]))
                    .to_string();
                assert!(lines[1].starts_with("admin token"), "{:?}", lines[1]);
                let token = lines[1].rsplit(' ').next().unwrap().to_string();
                return (node, base, token);
            }
        }
        panic!("node {name} did not start on free ports three times");
    }

    /// A node with cookie `cookie` whose log, at debug level, goes to the file `log`.
    pub fn start_logged(
        name: &str,
        ip: &str,
        seeds: &[&NodeProc],
        cookie: &str,
        log: &std::path::Path,
    ) -> NodeProc {
        for _ in 0..3 {
            let (listen, gossip) = free_addrs(ip);
            let launch = Launch {
                cookie,
                log: Some(log),
                ..Launch::new("memory", &[])
            };
            if let Some((node, _)) = Self::spawn(name, listen, gossip, seeds, launch) {
                return node;
            }
        }
        panic!("node {name} did not start on free ports three times");
    }

    /// Starts `troupe node` as `launch` says; returns it and the `launch.more` lines it
    /// printed after its "up" line.
    fn spawn(
        name: &str,
        listen: SocketAddr,
        gossip: SocketAddr,
        seeds: &[&NodeProc],
        launch: Launch,
    ) -> Option<(NodeProc, Vec<String>)> {
        let Launch {
            store,
            extra,
            more,
            cookie,
            log,
        } = launch;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_troupe"));
        cmd.args(["node", "--exit-with-stdin", "--name", name])
            .env("TROUPE_TEST_NODE", name)
            .args(["--store", store])
            // A killed node's lease on its runs expires soon, so a restart resumes them soon.
            .env("TROUPE_LEASE_TTL_MS", "1000")
            .args(["--listen", &listen.to_string()])
            .args([
                "--gossip",
                &gossip.to_string(),
                "--cookie",
                cookie,
                "--task-slots",
                "2",
            ])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // TROUPE_TEST_NODE_LOGS=DIR keeps each node's debug log (for diagnosing a failure).
        if let Some(log) = log {
            let file = std::fs::File::create(log).expect("log file");
            cmd.args(["--log", "debug"]).stderr(file);
        } else if let Some(dir) = std::env::var_os("TROUPE_TEST_NODE_LOGS") {
            let file =
                std::fs::File::create(std::path::Path::new(&dir).join(format!("{name}.log")))
                    .expect("log file");
            cmd.args(["--log", "troupe::cluster=debug"]).stderr(file);
        }
        for s in seeds {
            cmd.args(["--seed", &s.gossip.to_string()]);
        }
        let mut child = cmd.spawn().expect("troupe node starts");
        let stdin = child.stdin.take().unwrap();
        // Wait for its "up" line: the transport and gossip sockets are bound.
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).unwrap();
        if !line.contains(" up: ") {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        let mut lines = Vec::new();
        for _ in 0..more {
            let mut next = String::new();
            reader.read_line(&mut next).unwrap();
            lines.push(next.trim_end().to_string());
        }
        let node = NodeProc {
            name: name.into(),
            listen,
            gossip,
            child,
            _stdin: stdin,
        };
        Some((node, lines))
    }

    /// Writes `line` to the node's stdin (fault injection: `partition ADDR,...`, `heal`).
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write as _;
        writeln!(self._stdin, "{line}").unwrap();
        self._stdin.flush().unwrap();
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}
