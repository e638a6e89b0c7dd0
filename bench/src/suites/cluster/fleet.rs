//! The nodes the cluster scenarios run against: `troupe node` child processes started here
//! ([`NodeProcess`], killed when dropped), or a running cluster joined through a seed, and
//! this process as a client node of it ([`Fleet`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use troupe_cluster::node::{ClusterConfig, ClusterNode};
use troupe_cluster::registry::NodeName;
use troupe_runtime::{Runtime, RuntimeConfig};

use super::super::Context;
use crate::scenario::{reason, Reason};

/// How long a node process may take to come up, and a client to be linked to its members.
pub(crate) const START: Duration = Duration::from_secs(20);

/// The loopback addresses the nodes of one cluster listen on, one each (Linux answers on all
/// of 127.0.0.0/8).
pub(crate) const IPS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

/// A short random word, for cookies, node names and agent ids.
pub(crate) fn nonce() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(8)
        .collect()
}

/// A `troupe node` child process; killed (SIGKILL) and reaped when dropped — on success,
/// error or panic alike. Started with `--exit-with-stdin`: if this process dies without
/// dropping it (SIGKILL), the node sees its stdin close and exits too.
#[derive(Debug)]
pub(crate) struct NodeProcess {
    /// Its node name.
    pub name: NodeName,
    /// Its membership (UDP) address: what others join through.
    pub gossip: SocketAddr,
    child: Child,
    /// The write end of the node's stdin, held for the child's lifetime: closing it (by
    /// dropping it, or by this process dying) stops the node.
    _stdin: ChildStdin,
}

impl NodeProcess {
    /// Starts `exe node` named `name` on `ip` (free ports), joining through `seeds`, with
    /// `--store store` (`memory`, or a `postgres://` URL a run fails over through), and waits
    /// for its `up` line.
    pub async fn start(
        exe: &Path,
        name: &str,
        ip: &str,
        cookie: &str,
        seeds: &[SocketAddr],
        store: &str,
    ) -> Result<Self, Reason> {
        Self::start_env(exe, name, ip, cookie, seeds, store, &[]).await
    }

    /// [`NodeProcess::start`] with these environment variables set for the node.
    pub async fn start_env(
        exe: &Path,
        name: &str,
        ip: &str,
        cookie: &str,
        seeds: &[SocketAddr],
        store: &str,
        env: &[(&str, &str)],
    ) -> Result<Self, Reason> {
        let mut cmd = Command::new(exe);
        cmd.envs(env.iter().copied());
        cmd.args(["node", "--exit-with-stdin", "--name", name])
            .args([
                "--listen",
                &format!("{ip}:0"),
                "--gossip",
                &format!("{ip}:0"),
            ])
            .args(["--cookie", cookie])
            .args(["--store", store])
            .env_remove("RUST_LOG")
            .env_remove("TROUPE_COOKIE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for s in seeds {
            cmd.args(["--seed", &s.to_string()]);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start troupe node {}: {e}", exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("troupe node has no stdin or stdout pipe".into());
        };
        // From here on the guard kills the child on every way out.
        let mut node = Self {
            name: NodeName::new(name),
            gossip: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            _stdin: stdin,
        };
        let read = tokio::task::spawn_blocking(move || {
            use std::io::BufRead as _;
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        });
        let line = match tokio::time::timeout(START, read).await {
            Ok(Ok(Ok(line))) => line,
            Ok(Ok(Err(e))) => return Err(format!("reading node {name}'s up line: {e}")),
            Ok(Err(e)) => return Err(format!("reading node {name}'s up line: {e}")),
            Err(_) => return Err(format!("node {name} did not come up within {START:?}")),
        };
        // `troupe node N up: transport ADDR, gossip ADDR`
        let gossip = line
            .trim()
            .rsplit_once("gossip ")
            .and_then(|(_, a)| a.trim().parse().ok())
            .ok_or_else(|| format!("node {name} said {line:?}, not its up line"))?;
        node.gossip = gossip;
        Ok(node)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, and reap it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A cluster to measure, and this process's client node in it (it hosts no agents and runs no
/// tasks). Dropping it kills the node processes it started and crashes the client node; call
/// [`Fleet::shutdown`] to leave cleanly instead.
pub(crate) struct Fleet {
    client: Option<ClusterNode>,
    /// The worker node processes started for this fleet (empty for a joined cluster).
    pub nodes: Vec<NodeProcess>,
    /// The cluster's cookie.
    pub cookie: String,
    /// The gossip address new nodes and clients join through.
    pub seed: SocketAddr,
    /// The `--store` of its node processes.
    pub store: String,
    exe: Option<PathBuf>,
    /// Agents started in a joined cluster, stopped again at shutdown.
    agents: std::sync::Mutex<Vec<String>>,
}

impl Fleet {
    /// `workers` node processes of its own on 127.0.0.1, .2, .3 (then round again), named
    /// `<tag>-<nonce>-<i>`, with a fresh random cookie; and a client node linked to all.
    /// The nodes keep their runs in memory (the bench's runs need not outlive it).
    pub async fn local(ctx: &Context, workers: usize, tag: &str) -> Result<Fleet, Reason> {
        Self::local_with(ctx, workers, tag, "memory", &[]).await
    }

    /// As [`Fleet::local`], the node processes started with `--store store`.
    pub async fn local_on(
        ctx: &Context,
        workers: usize,
        tag: &str,
        store: &str,
    ) -> Result<Fleet, Reason> {
        Self::local_with(ctx, workers, tag, store, &[]).await
    }

    /// [`Fleet::local`] with these environment variables set for every node process.
    pub async fn local_env(
        ctx: &Context,
        workers: usize,
        tag: &str,
        env: &[(&str, &str)],
    ) -> Result<Fleet, Reason> {
        Self::local_with(ctx, workers, tag, "memory", env).await
    }

    /// The node processes started with `--store store` and `env` set.
    async fn local_with(
        ctx: &Context,
        workers: usize,
        tag: &str,
        store: &str,
        env: &[(&str, &str)],
    ) -> Result<Fleet, Reason> {
        let exe = ctx.exe()?;
        let run = nonce();
        let cookie = format!("bench-{}", nonce());
        let mut nodes: Vec<NodeProcess> = Vec::with_capacity(workers);
        for i in 0..workers {
            let seeds: Vec<SocketAddr> = nodes.first().map(|n| n.gossip).into_iter().collect();
            let name = format!("{tag}-{run}-{}", i + 1);
            let ip = IPS[i % IPS.len()];
            nodes.push(NodeProcess::start_env(&exe, &name, ip, &cookie, &seeds, store, env).await?);
        }
        let seed = nodes
            .first()
            .map(|n| n.gossip)
            .ok_or("a fleet needs a node")?;
        let client = client_node(&format!("{tag}-{run}-client"), seed, &cookie).await?;
        let fleet = Fleet {
            client: Some(client),
            nodes,
            cookie,
            seed,
            store: store.to_string(),
            exe: Some(exe),
            agents: Default::default(),
        };
        let names: Vec<NodeName> = fleet.nodes.iter().map(|n| n.name.clone()).collect();
        fleet.wait_linked(&names).await?;
        Ok(fleet)
    }

    /// Joins the running cluster at `seed` (a member's gossip address) with `cookie`, and waits
    /// until the client is linked to every member it has heard of.
    pub async fn join(ctx: &Context, seed: &str, cookie: &str) -> Result<Fleet, Reason> {
        let addr = tokio::net::lookup_host(seed)
            .await
            .map_err(|e| format!("--cluster {seed}: {e}"))?
            .next()
            .ok_or_else(|| format!("--cluster {seed}: no address"))?;
        let name = format!("bench-client-{}-{}", std::process::id(), nonce());
        let client = client_node(&name, addr, cookie).await?;
        let fleet = Fleet {
            client: Some(client),
            nodes: Vec::new(),
            cookie: cookie.to_string(),
            seed: addr,
            store: "memory".into(),
            exe: ctx.exe().ok(),
            agents: Default::default(),
        };
        let deadline = Instant::now() + START;
        let mut stable: Option<(usize, Instant)> = None;
        loop {
            let members = fleet.client().members().len();
            let linked = fleet.client().linked().len();
            if members > 1 && linked + 1 == members {
                match stable {
                    Some((n, at)) if n == members && at.elapsed() > Duration::from_millis(300) => {
                        return Ok(fleet)
                    }
                    Some((n, _)) if n == members => {}
                    _ => stable = Some((members, Instant::now())),
                }
            }
            if Instant::now() > deadline {
                let reason = format!(
                    "could not join the cluster at {seed} within {START:?} ({} members seen, {linked} \
                     linked); check the address (a member's gossip address) and the cookie",
                    members - 1
                );
                fleet.shutdown().await;
                return Err(reason);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The client node.
    pub fn client(&self) -> &ClusterNode {
        self.client
            .as_ref()
            .expect("the client runs until shutdown")
    }

    /// Starts one more node process on `ip` joining this fleet (not owned by the fleet: the
    /// caller kills it).
    pub async fn start_node(&self, name: &str, ip: &str) -> Result<NodeProcess, Reason> {
        let exe = self
            .exe
            .as_deref()
            .ok_or("cannot find the troupe executable for node processes")?;
        NodeProcess::start(exe, name, ip, &self.cookie, &[self.seed], &self.store).await
    }

    /// Waits until the client is linked to every node in `names`.
    pub async fn wait_linked(&self, names: &[NodeName]) -> Result<(), Reason> {
        let deadline = Instant::now() + START;
        loop {
            let linked = self.client().linked();
            if names.iter().all(|n| linked.contains(n)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the client was not linked to {names:?} within {START:?} (linked: {linked:?})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A note naming the node processes started (with their pids), or the cluster joined.
    pub fn note(&self) -> String {
        if self.nodes.is_empty() {
            return format!("joined the cluster at {}", self.seed);
        }
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{} (pid {})", n.name, n.pid()))
            .collect();
        format!("node processes: {}", nodes.join(", "))
    }

    /// Members other than the client that host `kind`, by name.
    pub fn hosts(&self, kind: &str) -> Vec<NodeName> {
        let client = self.client();
        let linked = client.linked();
        client
            .members()
            .into_iter()
            .filter(|m| &m.name != client.name() && linked.contains(&m.name))
            .filter(|m| {
                m.meta
                    .kinds
                    .as_ref()
                    .is_none_or(|k| k.iter().any(|k| k == kind))
            })
            .map(|m| m.name)
            .collect()
    }

    /// Starts agent `id` of `kind` on `node` (pinned there); in a joined cluster it is
    /// stopped again at [`Fleet::shutdown`].
    pub async fn spawn_on(
        &self,
        node: &NodeName,
        kind: &str,
        id: &str,
        config: serde_json::Value,
    ) -> Result<(), Reason> {
        self.client()
            .spawn_on(node, kind, id, config, false)
            .await
            .map_err(|e| format!("starting {kind} agent {id} on {node}: {e}"))?;
        if self.nodes.is_empty() {
            if let Ok(mut agents) = self.agents.lock() {
                agents.push(id.to_string());
            }
        }
        Ok(())
    }

    /// Stops the agents started in a joined cluster, leaves the cluster, stops the client's
    /// runtime, and kills the node processes.
    pub async fn shutdown(mut self) {
        let agents = std::mem::take(&mut *self.agents.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(client) = self.client.take() {
            for id in agents {
                let _ = client.stop(&id).await;
            }
            client.shutdown().await;
            client.runtime().shutdown().await;
        }
        self.nodes.clear();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Not shut down (an error or a panic on the way): stop the client node without the
        // goodbyes; the node processes are killed by their own guards.
        if let Some(client) = self.client.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    client.crash().await;
                    client.runtime().shutdown().await;
                });
            }
        }
    }
}

/// A client node named `name` joining through `seed`: it hosts no kinds and runs no tasks.
async fn client_node(name: &str, seed: SocketAddr, cookie: &str) -> Result<ClusterNode, Reason> {
    let rt = Runtime::start(RuntimeConfig::named(name))
        .await
        .map_err(reason)?;
    troupe_agents::register_all(rt.kinds());
    // The client's sockets on the interface that reaches the seed, so that its members can
    // reach it back.
    let any = SocketAddr::new(local_ip_towards(seed)?, 0);
    let mut config = ClusterConfig::new(name, any, any, cookie).with_seeds([seed]);
    config.kinds = Some(Vec::new());
    config.task_slots = 0;
    match ClusterNode::start(config, rt.clone()).await {
        Ok(node) => Ok(node),
        Err(e) => {
            rt.shutdown().await;
            Err(format!("cannot start the client node: {e}"))
        }
    }
}

/// The local address the OS would use to reach `peer` (no packet is sent).
fn local_ip_towards(peer: SocketAddr) -> Result<std::net::IpAddr, Reason> {
    if peer.ip().is_loopback() {
        return Ok(peer.ip());
    }
    let unspecified: SocketAddr = match peer {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().map_err(reason)?,
        SocketAddr::V6(_) => "[::]:0".parse().map_err(reason)?,
    };
    let socket = std::net::UdpSocket::bind(unspecified).map_err(reason)?;
    socket
        .connect(peer)
        .map_err(|e| format!("no route to the seed {peer}: {e}"))?;
    Ok(socket.local_addr().map_err(reason)?.ip())
}
