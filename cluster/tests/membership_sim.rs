//! The real membership shell over turmoil's simulated UDP: three nodes converge; a node
//! partitioned away is declared down by the majority; once the partition heals it rejoins
//! with a higher incarnation and every view converges.
//!
//! Runs several seeds; a failure names its seed, and `MEMBERSHIP_SIM_SEED=<n>` replays just
//! that one.

#[path = "common/sim_net.rs"]
mod sim_net;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use troupe_cluster::membership::{MemberEvent, MembershipConfig, MembershipHandle, NodeIdentity};
use turmoil::Sim;

use sim_net::SimSocket;

const PORT: u16 = 7000;
const NODES: [&str; 3] = ["n1", "n2", "n3"];
const SEEDS: u64 = 8;
/// Simulated-time budget for each phase; a failure guard, not a timing assertion.
const PHASE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct World {
    me: BTreeMap<String, NodeIdentity>,
    views: BTreeMap<String, BTreeMap<String, NodeIdentity>>,
}

type Shared = Arc<Mutex<World>>;

fn host(sim: &mut Sim<'_>, name: &'static str, seed: u64, world: Shared) {
    sim.host(name, move || {
        let world = Arc::clone(&world);
        async move {
            let ip = turmoil::lookup(name);
            let socket =
                turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            let identity =
                NodeIdentity::new(name, SocketAddr::new(ip, PORT), SocketAddr::new(ip, 9000));
            let seeds = vec![SocketAddr::new(turmoil::lookup("n1"), PORT)];
            let config = MembershipConfig::lan();
            let rng_seed = seed
                .wrapping_mul(31)
                .wrapping_add(name.len() as u64 + u64::from(name.as_bytes()[1]));
            let (handle, mut events) = MembershipHandle::start_seeded(
                identity,
                config,
                seeds,
                SimSocket(socket, Arc::default()),
                rng_seed,
            )
            .await?;
            world
                .lock()
                .unwrap()
                .me
                .insert(name.into(), handle.identity());
            while let Some(event) = events.recv().await {
                let mut world = world.lock().unwrap();
                world.me.insert(name.into(), handle.identity());
                let view = world.views.entry(name.into()).or_default();
                match event {
                    MemberEvent::Up(id) => view.insert(id.name.to_string(), id),
                    MemberEvent::Down(id) => view.remove(id.name.as_str()),
                    // `MemberEvent` is non-exhaustive: later kinds of event change no view.
                    _ => None,
                };
            }
            Ok(())
        }
    });
}

/// Steps the simulation until `done` holds, failing after `PHASE` of simulated time.
fn run_until(sim: &mut Sim<'_>, world: &Shared, what: &str, done: impl Fn(&World) -> bool) {
    let end = sim.elapsed() + PHASE;
    while !done(&world.lock().unwrap()) {
        assert!(
            sim.elapsed() < end,
            "{what}: not reached within {PHASE:?} of simulated time"
        );
        sim.step().expect("simulation step");
    }
}

/// Every node sees exactly the current identities of all the others.
fn converged(world: &World) -> bool {
    NODES.iter().all(|me| {
        let expected: BTreeMap<String, NodeIdentity> = world
            .me
            .iter()
            .filter(|(name, _)| name.as_str() != *me)
            .map(|(name, id)| (name.clone(), id.clone()))
            .collect();
        expected.len() == NODES.len() - 1 && world.views.get(*me) == Some(&expected)
    })
}

fn sees(world: &World, me: &str, other: &str) -> Option<NodeIdentity> {
    world.views.get(me)?.get(other).cloned()
}

fn partition_and_heal(seed: u64) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(600))
        .tick_duration(Duration::from_millis(5))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .build();
    let world = Shared::default();
    for name in NODES {
        host(&mut sim, name, seed, Arc::clone(&world));
    }
    run_until(&mut sim, &world, "initial convergence", converged);
    // First a plain member, then the seed itself (which has no seed of its own and finds the
    // others again through the addresses it has seen them at).
    for victim in ["n3", "n1"] {
        let others: Vec<&str> = NODES.into_iter().filter(|n| *n != victim).collect();
        let before = world.lock().unwrap().me[victim].clone();
        for other in &others {
            sim.partition(victim, *other);
        }
        run_until(
            &mut sim,
            &world,
            &format!("majority declares {victim} down"),
            |w| others.iter().all(|o| sees(w, o, victim).is_none()),
        );
        run_until(
            &mut sim,
            &world,
            &format!("{victim} declares the majority down"),
            |w| w.views.get(victim).is_some_and(|v| v.is_empty()),
        );
        for other in &others {
            sim.repair(victim, *other);
        }
        run_until(
            &mut sim,
            &world,
            &format!("views converge after {victim} heals"),
            converged,
        );
        let after = world.lock().unwrap().me[victim].clone();
        assert!(
            after.incarnation > before.incarnation,
            "{victim} rejoined as {after:?}, not above {before:?}"
        );
    }
}

#[test]
fn a_partitioned_node_is_declared_down_and_rejoins_after_the_heal() {
    let seeds: Vec<u64> = match std::env::var("MEMBERSHIP_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("MEMBERSHIP_SIM_SEED must be a u64")],
        Err(_) => (0..SEEDS).collect(),
    };
    for seed in seeds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| partition_and_heal(seed))) {
            eprintln!(
                "membership_sim failed with seed {seed}; replay with MEMBERSHIP_SIM_SEED={seed}"
            );
            resume_unwind(panic);
        }
    }
}
