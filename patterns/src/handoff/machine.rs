//! One turn of a conversation as a pure state machine: member answers in, the next step out
//! (call a member, fork to several, or done). The pattern agent is the thin shell that makes
//! the calls. A failed turn changes nothing: [`TurnMachine::rollback`] restores the
//! conversation as it was (without copying its history: steps are only appended during a turn,
//! and trimmed to `max_history` when the turn commits).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::HandoffError;
use super::protocol::{
    merge_patch, Action, Context, ConversationView, HistoryEntry, Joined, Origin, TurnInput,
    TurnOutcome,
};
use super::turn::{Fork, Join, Merge, Turn};

/// How deep the hand-back stack may grow; past it, the oldest entry is dropped.
pub(crate) const STACK_LIMIT: usize = 64;

/// The pattern's settings the machine needs.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Member names, sorted.
    pub(crate) members: Vec<String>,
    pub(crate) max_handoffs: u32,
    pub(crate) share_history: bool,
    pub(crate) max_history: usize,
}

impl Limits {
    fn known(&self, name: &str) -> bool {
        self.members
            .binary_search_by(|m| m.as_str().cmp(name))
            .is_ok()
    }
}

/// A conversation's state between turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Conversation {
    pub(crate) active: String,
    pub(crate) context: Context,
    pub(crate) stack: Vec<String>,
    pub(crate) history: VecDeque<HistoryEntry>,
    pub(crate) turns: u64,
}

impl Conversation {
    /// A new conversation at member `start`.
    pub(crate) fn new(start: &str) -> Self {
        Self {
            active: start.to_string(),
            context: Context::new(),
            stack: Vec::new(),
            history: VecDeque::new(),
            turns: 0,
        }
    }

    /// The conversation as a query answers it.
    pub(crate) fn view(&self, id: &str) -> ConversationView {
        ConversationView {
            conversation: id.to_string(),
            active: self.active.clone(),
            context: self.context.clone(),
            stack: self.stack.clone(),
            turns: self.turns,
            history: self.history.iter().cloned().collect(),
        }
    }
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Call `agent` with [`TurnMachine::input`], then feed its answer to
    /// [`TurnMachine::on_reply`].
    Call { agent: String },
    /// Call every member of `to` with [`TurnMachine::input`] at once, join by `merge`, then
    /// feed the result to [`TurnMachine::on_joined`].
    Fork { to: Vec<String>, merge: Merge },
    /// The turn is over.
    Done(TurnOutcome),
}

/// One turn in progress.
pub(crate) struct TurnMachine<'a> {
    limits: &'a Limits,
    id: String,
    conv: Conversation,
    message: Value,
    /// The member whose answer is awaited (or who forked).
    current: String,
    path: Vec<String>,
    transfers: u32,
    fork: Option<Fork>,
    /// What the input of the step asked for last carries besides the conversation's state.
    pending: Pending,
    undo: Undo,
}

#[derive(Default)]
struct Pending {
    from: Option<Origin>,
    joined: Option<Joined>,
    branch: bool,
    /// A fork's message for its branches.
    message: Option<Value>,
}

/// What a turn may change besides appending history steps.
struct Undo {
    active: String,
    context: Context,
    stack: Vec<String>,
    history_len: usize,
}

impl<'a> TurnMachine<'a> {
    /// Starts a turn of conversation `id` (state `conv`) with `message`, merging `seed` into
    /// the context: the first step calls the active member.
    pub(crate) fn start(
        limits: &'a Limits,
        id: String,
        mut conv: Conversation,
        message: Value,
        seed: Option<Value>,
    ) -> (Self, Step) {
        let undo = Undo {
            active: conv.active.clone(),
            context: conv.context.clone(),
            stack: conv.stack.clone(),
            history_len: conv.history.len(),
        };
        conv.turns += 1;
        let current = conv.active.clone();
        let mut machine = Self {
            undo,
            limits,
            id,
            conv,
            message,
            path: vec![current.clone()],
            current,
            transfers: 0,
            fork: None,
            pending: Pending::default(),
        };
        machine.patch(seed.as_ref());
        let step = machine.call(None, None);
        (machine, step)
    }

    /// The conversation as the done turn left it, history trimmed to `max_history`.
    pub(crate) fn commit(mut self) -> Conversation {
        let excess = self
            .conv
            .history
            .len()
            .saturating_sub(self.limits.max_history);
        self.conv.history.drain(..excess);
        self.conv
    }

    /// The conversation as it was before the turn (after a failure).
    pub(crate) fn rollback(mut self) -> Conversation {
        let undo = self.undo;
        self.conv.history.truncate(undo.history_len);
        self.conv.turns -= 1;
        self.conv.active = undo.active;
        self.conv.context = undo.context;
        self.conv.stack = undo.stack;
        self.conv
    }

    /// Feeds the answer of the member called last.
    pub(crate) fn on_reply(&mut self, answer: Value) -> Result<Step, HandoffError> {
        let agent = self.current.clone();
        let turn = Turn::parse(answer).map_err(|reason| HandoffError::Protocol {
            agent: agent.clone(),
            reason: reason.reason,
        })?;
        match turn {
            Turn::Reply { reply, context } => {
                self.patch(context.as_ref());
                self.record(&agent, Action::Reply, vec![]);
                Ok(self.done(reply))
            }
            Turn::Handoff {
                to,
                context,
                message,
            } => {
                self.transfer(&agent, &to)?;
                self.patch(context.as_ref());
                self.record(&agent, Action::Handoff, vec![to.clone()]);
                if self.conv.stack.len() >= STACK_LIMIT {
                    self.conv.stack.remove(0);
                }
                self.conv.stack.push(agent.clone());
                self.pass_to(to, message, Action::Handoff, agent)
            }
            Turn::Handback {
                context,
                message,
                reply,
            } => {
                let Some(previous) = self.conv.stack.last().cloned() else {
                    return Err(HandoffError::NothingToHandBack { agent });
                };
                if reply.is_none() {
                    self.transfer(&agent, &previous)?;
                }
                self.conv.stack.pop();
                self.patch(context.as_ref());
                self.record(&agent, Action::Handback, vec![previous.clone()]);
                match reply {
                    Some(reply) => {
                        self.conv.active = previous;
                        Ok(self.done(reply))
                    }
                    None => self.pass_to(previous, message, Action::Handback, agent),
                }
            }
            Turn::Fork(fork) => {
                if let Some(unknown) = fork.to.iter().find(|t| !self.limits.known(t)) {
                    return Err(self.unknown(&agent, unknown));
                }
                self.count_transfer(fork.to.join(" + "))?;
                self.patch(fork.context.as_ref());
                self.record(&agent, Action::Fork, fork.to.clone());
                self.pending = Pending {
                    from: Some(Origin {
                        agent,
                        action: Action::Fork,
                    }),
                    joined: None,
                    branch: true,
                    message: fork.message.clone(),
                };
                let step = Step::Fork {
                    to: fork.to.clone(),
                    merge: fork.merge,
                };
                self.fork = Some(fork);
                Ok(step)
            }
        }
    }

    /// Feeds the joined result (or the merge rule's failure) of the fork asked for last.
    pub(crate) fn on_joined(
        &mut self,
        joined: Result<Joined, String>,
    ) -> Result<Step, HandoffError> {
        let Some(fork) = self.fork.take() else {
            return Err(HandoffError::Protocol {
                agent: self.current.clone(),
                reason: "a fork result arrived without a fork".into(),
            });
        };
        let joined = joined.map_err(|reason| HandoffError::Fork {
            from: self.current.clone(),
            to: fork.to.clone(),
            merge: fork.merge,
            reason,
        })?;
        match fork.join {
            Join::Reply => Ok(self.done(joined.result)),
            Join::Back => {
                self.path.push(self.current.clone());
                Ok(self.call(None, Some(joined)))
            }
        }
    }

    fn pass_to(
        &mut self,
        to: String,
        message: Option<Value>,
        action: Action,
        from: String,
    ) -> Result<Step, HandoffError> {
        if let Some(m) = message {
            self.message = m;
        }
        self.conv.active = to.clone();
        self.current = to.clone();
        self.path.push(to);
        Ok(self.call(
            Some(Origin {
                agent: from,
                action,
            }),
            None,
        ))
    }

    fn transfer(&mut self, from: &str, to: &str) -> Result<(), HandoffError> {
        if !self.limits.known(to) {
            return Err(self.unknown(from, to));
        }
        self.count_transfer(to.to_string())
    }

    fn count_transfer(&mut self, next: String) -> Result<(), HandoffError> {
        self.transfers += 1;
        if self.transfers > self.limits.max_handoffs {
            let mut path = self.path.clone();
            path.push(next);
            return Err(HandoffError::LimitReached {
                limit: self.limits.max_handoffs,
                path,
            });
        }
        Ok(())
    }

    fn unknown(&self, from: &str, to: &str) -> HandoffError {
        HandoffError::UnknownMember {
            from: from.to_string(),
            to: to.to_string(),
            known: self.limits.members.join(", "),
        }
    }

    fn patch(&mut self, context: Option<&Value>) {
        if let Some(Value::Object(patch)) = context {
            merge_patch(&mut self.conv.context, patch);
        }
    }

    fn record(&mut self, agent: &str, action: Action, to: Vec<String>) {
        self.conv.history.push_back(HistoryEntry {
            turn: self.conv.turns,
            agent: agent.to_string(),
            action,
            to,
        });
    }

    /// The input of the step asked for last (built anew on each call, so a retry after a
    /// crash sends the same input without keeping a copy).
    pub(crate) fn input(&self) -> TurnInput {
        let p = &self.pending;
        TurnInput {
            conversation: self.id.clone(),
            message: p.message.as_ref().unwrap_or(&self.message).clone(),
            context: self.conv.context.clone(),
            from: p.from.clone(),
            joined: p.joined.clone(),
            branch: p.branch,
            history: self
                .limits
                .share_history
                .then(|| self.conv.history.iter().cloned().collect()),
        }
    }

    fn call(&mut self, from: Option<Origin>, joined: Option<Joined>) -> Step {
        self.pending = Pending {
            from,
            joined,
            ..Pending::default()
        };
        Step::Call {
            agent: self.current.clone(),
        }
    }

    /// The member that has control is always `conv.active` (a handback with a reply moved it
    /// to the previous member already).
    fn done(&self, reply: Value) -> Step {
        Step::Done(TurnOutcome {
            conversation: self.id.clone(),
            reply,
            active: self.conv.active.clone(),
            context: self.conv.context.clone(),
            path: self.path.clone(),
        })
    }
}

/// A branch's answer: the reply of a [`Turn::Reply`] (its context is not merged), or why the
/// branch failed.
pub(crate) fn branch_reply(answer: Value) -> Result<Value, String> {
    match Turn::parse(answer).map_err(|e| e.reason)? {
        Turn::Reply { reply, .. } => Ok(reply),
        Turn::Handoff { .. } => Err("a branch must reply, not hand off".into()),
        Turn::Handback { .. } => Err("a branch must reply, not hand back".into()),
        Turn::Fork(_) => Err("a branch must reply, not fork again".into()),
    }
}
