//! Crash reports for agent panics, as OTP writes them to its logger: a supervised agent that
//! panics is news (one line in the event stream and `tracing`: which agent, the panic message,
//! what its supervisor did — see [`crate::EventKind::AgentFailed`]), not a backtrace on the
//! terminal.
//!
//! The library installs no panic hook (a hook is process-global). A binary that wants agent
//! panics kept off stderr installs [`panic_hook`] around the hook it had:
//!
//! ```no_run
//! let previous = std::panic::take_hook();
//! std::panic::set_hook(troupe_runtime::crash::panic_hook(previous));
//! ```
//!
//! Panics of agent code (an agent's `init` or `handle`) then go to `tracing` (target
//! `troupe::crash`, with the backtrace at debug level); every other panic goes to the previous
//! hook, printed as usual.

use std::cell::Cell;
use std::future::Future;
use std::panic::PanicHookInfo;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::ids::AgentId;

thread_local! {
    /// The agent whose code this thread is polling right now (set for the length of each poll
    /// of an agent's `init` or `handle`, so it is right however tasks move between threads).
    /// A pointer, not a clone: marking a poll costs two writes and no reference counting.
    static AGENT: Cell<*const AgentId> = const { Cell::new(std::ptr::null()) };
}

/// Runs `fut` as code of agent `id`: a panic inside it is reported as that agent's crash.
pub(crate) fn as_agent<'a, F: Future + 'a>(
    id: &'a AgentId,
    fut: F,
) -> impl Future<Output = F::Output> + 'a {
    AgentCode { id, fut }
}

/// A future marked as the code of agent `id` while it is polled.
struct AgentCode<'a, F> {
    id: &'a AgentId,
    fut: F,
}

/// Puts back the previous mark when a poll ends, by return or by unwinding.
struct Restore(*const AgentId);

impl Drop for Restore {
    fn drop(&mut self) {
        AGENT.with(|a| a.set(self.0));
    }
}

impl<F: Future> Future for AgentCode<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is never moved out of the pinned `AgentCode` (structural pinning).
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = Restore(AGENT.with(|a| a.replace(this.id as *const AgentId)));
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

/// The agent whose code is running on the current thread, if any.
pub fn current_agent() -> Option<AgentId> {
    let ptr = AGENT.with(Cell::get);
    // SAFETY: the pointer is set only for the length of a poll of `AgentCode`, which borrows
    // the id for longer than that poll, and is reset (by `Restore`) before the poll returns or
    // unwinds; a reader on this thread during that poll sees a live id.
    unsafe { ptr.as_ref() }.cloned()
}

/// The message of a panic (`"(no message)"` when it is not a string).
pub fn panic_message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// A panic hook that reports panics of agent code to `tracing` (one debug line with the place,
/// the message and the backtrace; the crash line itself comes from the supervisor's
/// `AgentFailed` event) and hands every other panic to `previous`.
pub fn panic_hook(
    previous: Box<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>,
) -> Box<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static> {
    Box::new(move |info| match current_agent() {
        Some(agent) => {
            if tracing::enabled!(target: "troupe::crash", tracing::Level::DEBUG) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let backtrace = std::backtrace::Backtrace::force_capture();
                tracing::debug!(
                    target: "troupe::crash",
                    agent = %agent,
                    at,
                    "agent panicked: {}\n{backtrace}",
                    panic_message(info)
                );
            }
        }
        None => previous(info),
    })
}
