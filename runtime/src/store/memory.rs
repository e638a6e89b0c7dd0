//! [`MemoryStore`]: the store in maps behind one mutex. Nothing survives the process; for
//! tests and `--store memory`. It follows the same contract as the SQL stores (the
//! conformance suite runs on it too), and counts one commit per write.

use std::collections::{BTreeMap, HashMap};
use std::future::ready;
use std::time::Duration;

use parking_lot::Mutex;

use super::sql::writer::Counters;
use super::types::*;
use super::{Store, StoreError, StoreFuture};
use crate::ids::{AgentId, RunId};

#[derive(Debug)]
struct MemRun {
    record: RunRecord,
    journal: BTreeMap<u64, JournalEntry>,
    snapshot: Option<RunSnapshot>,
}

#[derive(Debug)]
struct MemLease {
    owner: Option<String>,
    token: u64,
    until: Timestamp,
}

#[derive(Debug, Default)]
struct State {
    runs: HashMap<RunId, MemRun>,
    next_ordinal: u64,
    agents: HashMap<AgentId, AgentSnapshot>,
    letters: BTreeMap<u64, DeadLetter>,
    next_letter: u64,
    leases: HashMap<RunId, MemLease>,
    requests: BTreeMap<u64, RunRequest>,
    next_request: u64,
    keyed: BTreeMap<(String, String), KeyedRecord>,
}

/// A store in memory (see the module docs).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    config: StoreConfig,
    counters: Counters,
}

impl MemoryStore {
    /// An empty store with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with these limits.
    pub fn with_config(config: StoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::default()
        })
    }

    fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&State) -> Result<T, StoreError>,
    ) -> StoreFuture<'_, T> {
        let result = op(&self.state.lock());
        Box::pin(ready(result))
    }

    fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> StoreFuture<'_, T> {
        let result = op(&mut self.state.lock());
        if result.is_ok() {
            self.counters.committed();
        }
        Box::pin(ready(result))
    }
}

fn no_run(run: &RunId) -> StoreError {
    StoreError::not_found(format!("run {:?}", run.as_str()))
}

fn run_mut<'a>(state: &'a mut State, run: &RunId) -> Result<&'a mut MemRun, StoreError> {
    state.runs.get_mut(run).ok_or_else(|| no_run(run))
}

fn current_lease(state: &State, run: &RunId) -> Option<Lease> {
    let lease = state.leases.get(run)?;
    Some(Lease {
        run: run.clone(),
        owner: lease.owner.clone()?,
        token: lease.token,
        until: lease.until,
    })
}

fn held_lease<'a>(state: &'a mut State, lease: &Lease) -> Result<&'a mut MemLease, StoreError> {
    match state.leases.get_mut(&lease.run) {
        Some(held) if held.token == lease.token && held.owner.as_ref() == Some(&lease.owner) => {
            Ok(held)
        }
        _ => Err(StoreError::LeaseLost {
            run: lease.run.clone(),
            token: lease.token,
        }),
    }
}

impl Store for MemoryStore {
    fn location(&self) -> &str {
        "memory"
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }

    fn schema_version(&self) -> StoreFuture<'_, u32> {
        Box::pin(ready(Ok(super::sql::schema::LATEST)))
    }

    fn create_run(&self, run: NewRun) -> StoreFuture<'_, RunRecord> {
        self.write(move |state| {
            if state.runs.contains_key(&run.id) {
                return Err(StoreError::AlreadyExists {
                    what: format!("run {:?}", run.id.as_str()),
                });
            }
            state.next_ordinal += 1;
            let record = RunRecord {
                id: run.id.clone(),
                ordinal: state.next_ordinal,
                workflow: run.workflow,
                definition: run.definition,
                definition_version: run.definition_version,
                input: run.input,
                options: run.options,
                tenant: run.tenant,
                status: RunStatus::Pending,
                owner: None,
                created_at: run.created_at,
                updated_at: run.created_at,
                finished_at: None,
                last_seq: 0,
                journal_bytes: 0,
            };
            state.runs.insert(
                run.id,
                MemRun {
                    record: record.clone(),
                    journal: BTreeMap::new(),
                    snapshot: None,
                },
            );
            Ok(record)
        })
    }

    fn get_run(&self, run: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        self.read(move |state| Ok(state.runs.get(&run).map(|r| r.record.clone())))
    }

    fn list_runs(&self, filter: RunFilter) -> StoreFuture<'_, RunPage> {
        self.read(move |state| {
            let mut runs: Vec<RunRecord> = state
                .runs
                .values()
                .map(|r| &r.record)
                .filter(|r| filter.status.is_none_or(|s| r.status == s))
                .filter(|r| filter.workflow.as_ref().is_none_or(|w| &r.workflow == w))
                .filter(|r| {
                    filter
                        .tenant
                        .as_ref()
                        .is_none_or(|t| r.tenant.as_ref() == Some(t))
                })
                .filter(|r| filter.after.is_none_or(|a| r.ordinal > a))
                .cloned()
                .collect();
            runs.sort_by_key(|r| r.ordinal);
            let limit = filter.limit.max(1);
            let next = if runs.len() > limit {
                runs.truncate(limit);
                runs.last().map(|r| r.ordinal)
            } else {
                None
            };
            Ok(RunPage { runs, next })
        })
    }

    fn set_run_status(&self, run: RunId, status: RunStatus, at: Timestamp) -> StoreFuture<'_, ()> {
        self.write(move |state| {
            let record = &mut run_mut(state, &run)?.record;
            record.status = status;
            record.updated_at = at;
            record.finished_at = status.is_finished().then_some(at);
            Ok(())
        })
    }

    fn set_run_owner(&self, run: RunId, owner: Option<String>) -> StoreFuture<'_, ()> {
        self.write(move |state| {
            run_mut(state, &run)?.record.owner = owner;
            Ok(())
        })
    }

    fn prune_runs(&self, rule: Retention) -> StoreFuture<'_, u64> {
        self.write(move |state| {
            let mut finished: Vec<(Timestamp, u64, RunId)> = state
                .runs
                .values()
                .filter_map(|r| {
                    let at = r.record.finished_at?;
                    Some((at, r.record.ordinal, r.record.id.clone()))
                })
                .collect();
            finished.sort_by(|a, b| b.cmp(a));
            let mut removed = 0;
            for (i, (at, _, id)) in finished.into_iter().enumerate() {
                let too_old = rule.finished_before.is_some_and(|t| at < t);
                let too_many = rule.keep_finished.is_some_and(|k| i as u64 >= k);
                if too_old || too_many {
                    state.runs.remove(&id);
                    state.leases.remove(&id);
                    state.requests.retain(|_, r| r.request.run != id);
                    // The snapshots of the run's own agents (`RUN/POOL/I`, `RUN/agents`).
                    let prefix = format!("{}/", id.as_str());
                    state
                        .agents
                        .retain(|agent, _| !agent.as_str().starts_with(&prefix));
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }

    fn append(
        &self,
        run: RunId,
        fence: Option<u64>,
        entries: Vec<NewEntry>,
    ) -> StoreFuture<'_, AppendAck> {
        let limit = self.config.journal_limit_bytes;
        let result = (|| {
            let mut state = self.state.lock();
            if entries.is_empty() {
                return Err(StoreError::invalid(
                    format!("append to run {:?}", run.as_str()),
                    "the batch is empty",
                ));
            }
            if let Some(token) = fence {
                if current_lease(&state, &run).map(|l| l.token) != Some(token) {
                    return Err(StoreError::LeaseLost { run, token });
                }
            }
            let mem = run_mut(&mut state, &run)?;
            let adding: u64 = entries.iter().map(NewEntry::size).sum();
            let size = mem.record.journal_bytes;
            if size.saturating_add(adding) > limit {
                return Err(StoreError::JournalFull {
                    run,
                    limit,
                    size,
                    adding,
                });
            }
            let first = mem.record.last_seq + 1;
            for entry in entries {
                mem.record.last_seq += 1;
                let seq = mem.record.last_seq;
                mem.journal.insert(
                    seq,
                    JournalEntry {
                        seq,
                        at: entry.at,
                        kind: entry.kind,
                        payload: entry.payload,
                    },
                );
            }
            mem.record.journal_bytes += adding;
            Ok(AppendAck {
                first,
                last: mem.record.last_seq,
            })
        })();
        if let Ok(ack) = &result {
            self.counters.committed();
            self.counters.appended(ack.last - ack.first + 1);
        }
        Box::pin(ready(result))
    }

    fn read_journal(&self, run: RunId, from: u64) -> StoreFuture<'_, JournalRead> {
        self.read(move |state| {
            let mem = state.runs.get(&run).ok_or_else(|| no_run(&run))?;
            let snapshot = mem.snapshot.clone().filter(|s| from <= s.seq);
            let start = snapshot.as_ref().map_or(from.max(1), |s| s.seq + 1);
            let entries = mem.journal.range(start..).map(|(_, e)| e.clone()).collect();
            Ok(JournalRead { snapshot, entries })
        })
    }

    fn compact(&self, run: RunId, snapshot: RunSnapshot) -> StoreFuture<'_, ()> {
        self.write(move |state| {
            let mem = run_mut(state, &run)?;
            let last = mem.record.last_seq;
            if snapshot.seq > last {
                return Err(StoreError::invalid(
                    format!("snapshot of run {:?}", run.as_str()),
                    format!(
                        "it is at seq {} but the journal ends at {last}",
                        snapshot.seq
                    ),
                ));
            }
            if let Some(existing) = &mem.snapshot {
                if existing.seq > snapshot.seq {
                    return Err(StoreError::conflict(format!(
                        "run {:?} has a snapshot at seq {}, newer than the one at seq {}",
                        run.as_str(),
                        existing.seq,
                        snapshot.seq
                    )));
                }
            }
            let kept = mem.journal.split_off(&(snapshot.seq + 1));
            let freed: u64 = mem
                .journal
                .values()
                .map(|e| (e.kind.len() + e.payload.len()) as u64)
                .sum();
            mem.journal = kept;
            mem.record.journal_bytes -= freed;
            mem.snapshot = Some(snapshot);
            Ok(())
        })
    }

    fn put_agent_snapshot(&self, snapshot: AgentSnapshot) -> StoreFuture<'_, ()> {
        self.write(move |state| {
            if let Some(stored) = state.agents.get(&snapshot.agent) {
                if stored.version >= snapshot.version {
                    return Err(StoreError::conflict(format!(
                        "agent {:?}: snapshot version {} is not newer than the stored version {}",
                        snapshot.agent.as_str(),
                        snapshot.version,
                        stored.version
                    )));
                }
            }
            state.agents.insert(snapshot.agent.clone(), snapshot);
            Ok(())
        })
    }

    fn get_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, Option<AgentSnapshot>> {
        self.read(move |state| Ok(state.agents.get(&agent).cloned()))
    }

    fn delete_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, bool> {
        self.write(move |state| Ok(state.agents.remove(&agent).is_some()))
    }

    fn put_dead_letter(&self, letter: NewDeadLetter) -> StoreFuture<'_, DeadLetter> {
        self.write(move |state| {
            state.next_letter += 1;
            let letter = DeadLetter {
                id: state.next_letter,
                letter,
            };
            state.letters.insert(letter.id, letter.clone());
            Ok(letter)
        })
    }

    fn list_dead_letters(&self, filter: DeadLetterFilter) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.read(move |state| {
            let after = filter.after.unwrap_or(0);
            Ok(state
                .letters
                .range(after.saturating_add(1)..)
                .map(|(_, l)| l)
                .filter(|l| filter.run.is_none() || l.letter.run == filter.run)
                .take(filter.limit.max(1))
                .cloned()
                .collect())
        })
    }

    fn get_dead_letter(&self, id: u64) -> StoreFuture<'_, Option<DeadLetter>> {
        self.read(move |state| Ok(state.letters.get(&id).cloned()))
    }

    fn drop_dead_letter(&self, id: u64) -> StoreFuture<'_, bool> {
        self.write(move |state| Ok(state.letters.remove(&id).is_some()))
    }

    fn acquire_lease(&self, request: LeaseRequest) -> StoreFuture<'_, Lease> {
        self.write(move |state| {
            let until = request.now.after(request.ttl);
            let lease = state.leases.entry(request.run.clone()).or_insert(MemLease {
                owner: None,
                token: 0,
                until: Timestamp::default(),
            });
            if let Some(holder) = &lease.owner {
                if holder != &request.owner && lease.until > request.now {
                    return Err(StoreError::LeaseHeld {
                        run: request.run,
                        holder: holder.clone(),
                        until: lease.until,
                    });
                }
            }
            lease.owner = Some(request.owner.clone());
            lease.token += 1;
            lease.until = until;
            Ok(Lease {
                run: request.run,
                owner: request.owner,
                token: lease.token,
                until,
            })
        })
    }

    fn renew_lease(&self, lease: Lease, ttl: Duration, now: Timestamp) -> StoreFuture<'_, Lease> {
        self.write(move |state| {
            let held = held_lease(state, &lease)?;
            held.until = now.after(ttl);
            Ok(Lease {
                until: held.until,
                ..lease
            })
        })
    }

    fn release_lease(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.write(move |state| {
            let held = held_lease(state, &lease)?;
            held.owner = None;
            held.until = Timestamp::default();
            Ok(())
        })
    }

    fn get_lease(&self, run: RunId) -> StoreFuture<'_, Option<Lease>> {
        self.read(move |state| Ok(current_lease(state, &run)))
    }

    fn post_request(&self, request: NewRunRequest) -> StoreFuture<'_, RunRequest> {
        self.write(move |state| {
            if !state.runs.contains_key(&request.run) {
                return Err(no_run(&request.run));
            }
            state.next_request += 1;
            let stored = RunRequest {
                id: state.next_request,
                request,
            };
            state.requests.insert(stored.id, stored.clone());
            Ok(stored)
        })
    }

    fn pending_requests(&self, run: RunId) -> StoreFuture<'_, Vec<RunRequest>> {
        self.read(move |state| {
            Ok(state
                .requests
                .values()
                .filter(|r| r.request.run == run)
                .cloned()
                .collect())
        })
    }

    fn ack_requests(&self, run: RunId, through: u64) -> StoreFuture<'_, u64> {
        self.write(move |state| {
            let before = state.requests.len();
            state
                .requests
                .retain(|&id, r| id > through || r.request.run != run);
            Ok((before - state.requests.len()) as u64)
        })
    }

    fn put_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, ()> {
        self.write(move |state| {
            let at = (record.kind.clone(), record.key.clone());
            state.keyed.insert(at, record);
            Ok(())
        })
    }

    fn insert_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, bool> {
        self.write(move |state| {
            let at = (record.kind.clone(), record.key.clone());
            if state.keyed.contains_key(&at) {
                return Ok(false);
            }
            state.keyed.insert(at, record);
            Ok(true)
        })
    }

    fn get_keyed(&self, kind: String, key: String) -> StoreFuture<'_, Option<KeyedRecord>> {
        self.read(move |state| Ok(state.keyed.get(&(kind, key)).cloned()))
    }

    fn list_keyed(&self, filter: KeyedFilter) -> StoreFuture<'_, Vec<KeyedRecord>> {
        self.read(move |state| {
            let from = (filter.kind.clone(), String::new());
            Ok(state
                .keyed
                .range(from..)
                .take_while(|((kind, _), _)| *kind == filter.kind)
                .filter(|((_, key), _)| {
                    filter
                        .prefix
                        .as_ref()
                        .is_none_or(|p| key.starts_with(p.as_str()))
                        && filter.after.as_ref().is_none_or(|a| key > a)
                })
                .take(filter.limit.max(1))
                .map(|(_, r)| r.clone())
                .collect())
        })
    }

    fn delete_keyed(&self, kind: String, key: String) -> StoreFuture<'_, bool> {
        self.write(move |state| Ok(state.keyed.remove(&(kind, key)).is_some()))
    }
}
