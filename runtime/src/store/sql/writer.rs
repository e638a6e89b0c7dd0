//! The group-commit writer: one thread per SQL store owns the connection, drains the queue of
//! jobs, runs everything queued at that moment in one transaction (each job in its own
//! savepoint), commits once, and only then answers each job's caller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::Sql;
use crate::store::{StoreError, StoreFuture, StoreStats};

/// The counters behind [`StoreStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    appends: AtomicU64,
    entries: AtomicU64,
    /// How long each write commit took (its fsync, on SQLite), not yet taken.
    commit_latencies: std::sync::Mutex<Vec<std::time::Duration>>,
}

/// At most this many commit latencies wait to be taken (later ones are dropped).
const MAX_PENDING_LATENCIES: usize = 4096;

impl Counters {
    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            commits: self.commits.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
        }
    }

    /// Counts a durable append of `entries` entries.
    pub(crate) fn appended(&self, entries: u64) {
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(entries, Ordering::Relaxed);
    }

    pub(crate) fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    fn commit_took(&self, d: std::time::Duration) {
        let mut pending = self
            .commit_latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if pending.len() < MAX_PENDING_LATENCIES {
            pending.push(d);
        }
    }

    /// The commit latencies recorded since the last call.
    pub(crate) fn take_commit_latencies(&self) -> Vec<std::time::Duration> {
        std::mem::take(
            &mut *self
                .commit_latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }
}

/// One queued operation.
trait Job: Send {
    fn writes(&self) -> bool;
    /// Runs the operation inside the open transaction (the writer puts it in a savepoint when
    /// it shares the transaction); its error, if it failed.
    fn run(&mut self, sql: &mut dyn Sql) -> Option<StoreError>;
    /// Answers the caller once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), &StoreError>, counters: &Counters);
}

type OnDurable<T> = fn(&T, &Counters);

struct Op<T, F> {
    write: bool,
    op: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
    on_durable: OnDurable<T>,
}

impl<T, F> Job for Op<T, F>
where
    T: Send,
    F: FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send,
{
    fn writes(&self) -> bool {
        self.write
    }

    fn run(&mut self, sql: &mut dyn Sql) -> Option<StoreError> {
        let op = self.op.take()?;
        let result = op(sql);
        let failed = result.as_ref().err().cloned();
        self.result = Some(result);
        failed
    }

    fn finish(self: Box<Self>, commit: Result<(), &StoreError>, counters: &Counters) {
        let answer = match (self.result, commit) {
            // The operation's own error explains more than the transaction's.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Err(e)) | (None, Err(e)) => Err(e.clone()),
            (Some(Ok(v)), Ok(())) => {
                (self.on_durable)(&v, counters);
                Ok(v)
            }
            (None, Ok(())) => Err(StoreError::Backend {
                location: "writer".into(),
                reason: "an operation was committed without running".into(),
            }),
        };
        let _ = self.reply.send(answer);
    }
}

/// The handle to a writer thread; dropping it stops the thread once the queue is drained.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    location: Arc<str>,
}

impl Writer {
    /// Starts the thread, which opens its connection with `connect` (and migrates it); resolves
    /// once the connection is ready.
    pub(crate) async fn start<C>(
        location: Arc<str>,
        max_batch: usize,
        connect: C,
    ) -> Result<Self, StoreError>
    where
        C: FnOnce() -> Result<Box<dyn Sql>, StoreError> + Send + 'static,
    {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let (ready_tx, ready) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("troupe-store".into())
            .spawn(move || {
                let sql = match connect() {
                    Ok(sql) => {
                        let _ = ready_tx.send(Ok(()));
                        sql
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                serve(sql, jobs, max_batch.max(1), &thread_counters);
            })
            .map_err(|e| StoreError::Unavailable {
                location: location.to_string(),
                reason: format!("cannot start the store's writer thread: {e}"),
            })?;
        let mut writer = Self {
            queue: Some(queue),
            thread: Some(thread),
            counters,
            location: location.clone(),
        };
        match ready.await {
            Ok(Ok(())) => Ok(writer),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                writer.queue = None;
                Err(StoreError::Closed {
                    location: location.to_string(),
                })
            }
        }
    }

    pub(crate) fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }

    /// The write commits' latencies since the last call.
    pub(crate) fn take_commit_latencies(&self) -> Vec<std::time::Duration> {
        self.counters.take_commit_latencies()
    }

    /// Queues a read-only operation.
    pub(crate) fn read<T, F>(&self, op: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(false, op, |_, _| {})
    }

    /// Queues a write; `on_durable` runs once it is committed (to count it).
    pub(crate) fn write<T, F>(&self, op: F, on_durable: OnDurable<T>) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(true, op, on_durable)
    }

    fn submit<T, F>(&self, write: bool, op: F, on_durable: OnDurable<T>) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Op {
            write,
            op: Some(op),
            result: None,
            reply,
            on_durable,
        });
        let queued = self.queue.as_ref().is_some_and(|q| q.send(job).is_ok());
        let location = self.location.clone();
        Box::pin(async move {
            let closed = || StoreError::Closed {
                location: location.to_string(),
            };
            if !queued {
                return Err(closed());
            }
            answer.await.map_err(|_| closed())?
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    mut sql: Box<dyn Sql>,
    jobs: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    counters: &Counters,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let write = batch.iter().any(|j| j.writes());
        let outcome = run_batch(sql.as_mut(), &mut batch, write);
        if let (Ok(took), true) = (&outcome, write) {
            counters.committed();
            counters.commit_took(*took);
        }
        for job in batch {
            job.finish(outcome.as_ref().map(|_| ()), counters);
        }
    }
}

/// Runs `batch` in one transaction and commits it: how long its `COMMIT` took (the fsync of a
/// write). A lone job is the transaction (a failure rolls it back); jobs sharing it each run in
/// a savepoint, so that a failing one undoes only itself. The statements between two jobs (end
/// one savepoint, open the next) go to the database together: on a server, one round trip.
fn run_batch(
    sql: &mut dyn Sql,
    batch: &mut [Box<dyn Job>],
    write: bool,
) -> Result<std::time::Duration, StoreError> {
    sql.begin(write)?;
    if let [job] = batch {
        if let Some(e) = job.run(sql) {
            let _ = sql.batch("ROLLBACK");
            return Err(e);
        }
        return commit(sql, "COMMIT");
    }
    let mut end = String::new();
    for job in batch.iter_mut() {
        if let Err(e) = sql.batch(&format!("{end}SAVEPOINT op")) {
            let _ = sql.batch("ROLLBACK");
            return Err(e);
        }
        end = match job.run(sql) {
            None => "RELEASE SAVEPOINT op; ".into(),
            Some(_) => "ROLLBACK TO SAVEPOINT op; RELEASE SAVEPOINT op; ".into(),
        };
    }
    commit(sql, &format!("{end}COMMIT"))
}

fn commit(sql: &mut dyn Sql, statements: &str) -> Result<std::time::Duration, StoreError> {
    let started = std::time::Instant::now();
    match sql.batch(statements) {
        Ok(()) => Ok(started.elapsed()),
        Err(e) => {
            let _ = sql.batch("ROLLBACK");
            Err(e)
        }
    }
}
