//! Routing decisions and the bookkeeping of one request in flight.
//!
//! A request is a tree of branches: the first delivery is one branch; a member that sends to
//! `k` members turns its branch into `k`. Each message in flight owns a [`Branch`] guard; when
//! the last guard is dropped (a branch answered, failed, ended, or its message was dropped by a
//! stopped actor) without an answer, the request fails — so a request always ends, and no
//! message can be lost silently.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::error::NetworkError;
use super::protocol::{show_path, Answer};

/// Checks one send from the member at the end of `path` to `to`: `to` must be a member
/// (`members` sorted) and the path must have hops left.
pub(crate) fn check_send<S: AsRef<str>>(
    path: &[S],
    to: &str,
    members: &[String],
    hop_budget: u32,
) -> Result<(), NetworkError> {
    let from = last(path);
    if members.binary_search_by(|m| m.as_str().cmp(to)).is_err() {
        return Err(NetworkError::UnknownTarget {
            from,
            to: to.to_string(),
            known: members.join(", "),
        });
    }
    if path.len().saturating_sub(1) >= hop_budget as usize {
        return Err(NetworkError::HopBudgetSpent {
            budget: hop_budget,
            path: show_path(path),
            from,
            to: to.to_string(),
        });
    }
    Ok(())
}

/// Checks that the request's `deliveries` (counting the one about to be made) fit the budget.
pub(crate) fn check_deliveries<S: AsRef<str>>(
    path: &[S],
    to: &str,
    deliveries: u32,
    message_budget: u32,
) -> Result<(), NetworkError> {
    if deliveries > message_budget {
        return Err(NetworkError::MessageBudgetSpent {
            budget: message_budget,
            path: show_path(path),
            from: last(path),
            to: to.to_string(),
        });
    }
    Ok(())
}

fn last<S: AsRef<str>>(path: &[S]) -> String {
    path.last()
        .map(|s| s.as_ref().to_string())
        .unwrap_or_default()
}

/// Sends still allowed on a path of `len` members.
pub(crate) fn hops_left(len: usize, hop_budget: u32) -> u32 {
    hop_budget.saturating_sub(len.saturating_sub(1) as u32)
}

type Outcome = Result<Answer, NetworkError>;

/// One request in flight.
pub(crate) struct Request {
    live: AtomicUsize,
    deliveries: AtomicU32,
    done: AtomicBool,
    end: Mutex<End>,
}

struct End {
    reply: Option<oneshot::Sender<Outcome>>,
    first_error: Option<NetworkError>,
}

impl Request {
    /// A request with its first branch (one delivery counted) and the receiver of its outcome.
    pub(crate) fn start() -> (Branch, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        let request = Arc::new(Request {
            live: AtomicUsize::new(1),
            deliveries: AtomicU32::new(1),
            done: AtomicBool::new(false),
            end: Mutex::new(End {
                reply: Some(tx),
                first_error: None,
            }),
        });
        (Branch(request), rx)
    }

    fn finish(&self, outcome: Outcome) {
        let reply = self.end.lock().reply.take();
        self.done.store(true, Ordering::Release);
        if let Some(tx) = reply {
            let _ = tx.send(outcome);
        }
    }
}

/// A branch of a request: owned by the message in flight on it.
pub(crate) struct Branch(Arc<Request>);

impl Branch {
    /// Whether the request is answered (or failed): the branch can stop.
    pub(crate) fn is_done(&self) -> bool {
        self.0.done.load(Ordering::Acquire)
    }

    /// Counts one more delivery; returns the count including it.
    pub(crate) fn count_delivery(&self) -> u32 {
        self.0.deliveries.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A new branch of the same request (for a message sent on).
    pub(crate) fn split(&self) -> Branch {
        self.0.live.fetch_add(1, Ordering::AcqRel);
        Branch(self.0.clone())
    }

    /// Answers the request, if no other branch did.
    pub(crate) fn answer(&self, answer: Answer) {
        self.0.finish(Ok(answer));
    }

    /// Records why this branch (or one of its sends) failed; the request fails with the first
    /// such error once every branch has ended without an answer.
    pub(crate) fn fail(&self, error: NetworkError) {
        let mut end = self.0.end.lock();
        if end.first_error.is_none() {
            end.first_error = Some(error);
        }
    }
}

impl Drop for Branch {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            let error = self.0.end.lock().first_error.take();
            self.0.finish(Err(error.unwrap_or(NetworkError::NoReply)));
        }
    }
}
