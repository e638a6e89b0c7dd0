//! The reader's part for pool `resources`, `coordination`, task `compensate` blocks and the
//! `fault_tolerance.saga_pattern` (see [`crate::workflow::resources`],
//! [`crate::workflow::coordination`], [`crate::workflow::saga`]).

use super::super::tree::{to_json, Kind};
use super::{Field, Reader, Res};
use crate::policy::RetryPolicy;
use crate::workflow::coordination::{Coordination, CoordinationType, GraphPart, Topic};
use crate::workflow::resources::{parse_cpu, parse_memory, Resources};
use crate::workflow::saga::{Compensation, SagaPattern};
use crate::workflow::spec::{FaultTolerance, TaskSpec};

impl Reader<'_> {
    /// `resources: { cpu: "2 cores", memory: "4GB" }` of pool `what`.
    pub(super) fn resources(&self, what: &str, v: Field<'_, '_>) -> Res<Resources> {
        let what = format!("{what}: resources");
        let f = self.fields(&what, v.node, &["cpu", "memory"])?;
        let amount = |v: Field<'_, '_>| match &v.node.kind {
            Kind::Str(s) => Ok(s.clone()),
            Kind::UInt(_) | Kind::Float(..) => Ok(to_json(v.node).to_string()),
            _ => Err(v.expected("an amount such as \"2 cores\" or \"4GB\"")),
        };
        let cpu = f.opt("cpu", |v| parse_cpu(&amount(v)?).map_err(|m| v.fail(m)))?;
        let memory = f.opt("memory", |v| {
            parse_memory(&amount(v)?).map_err(|m| v.fail(m))
        })?;
        Ok(Resources {
            cpu_millis: cpu.unwrap_or(0),
            memory_bytes: memory.unwrap_or(0),
        })
    }

    /// The `coordination` block.
    pub(super) fn coordination(&self, v: Field<'_, '_>) -> Res<Coordination> {
        let what = "coordination";
        let f = self.fields(what, v.node, &["type", "event_driven", "graph_based"])?;
        let style = f.opt("type", |v| {
            let name = v.name()?;
            CoordinationType::parse(&name).ok_or_else(|| {
                let known = CoordinationType::NAMES.join(", ");
                v.fail(format!(
                    "unknown coordination type {name:?}, expected one of {known}"
                ))
            })
        })?;
        let topics = f.opt("event_driven", |v| {
            v.names()?
                .iter()
                .map(|name| {
                    Topic::parse(name).ok_or_else(|| {
                        let known: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
                        v.fail(format!(
                            "unknown event topic {name:?}, expected some of {}",
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Res<Vec<_>>>()
                .map(|t| (t, v.key_pos))
        })?;
        let parts = f.opt("graph_based", |v| {
            v.names()?
                .iter()
                .map(|name| {
                    GraphPart::parse(name).ok_or_else(|| {
                        let known: Vec<&str> = GraphPart::ALL.iter().map(|t| t.name()).collect();
                        v.fail(format!(
                            "unknown graph-based part {name:?}, expected some of {}",
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Res<Vec<_>>>()
                .map(|p| (p, v.key_pos))
        })?;
        let style = style.unwrap_or(CoordinationType::Hybrid);
        if let (CoordinationType::GraphBased, Some((t, pos))) = (style, &topics) {
            if !t.is_empty() {
                return Err(self.error(
                    *pos,
                    "coordination: type graph_based publishes no event topics; \
                     use type hybrid to list event_driven topics",
                ));
            }
        }
        if let Some((parts, pos)) = &parts {
            for part in GraphPart::ALL {
                if !parts.contains(part) {
                    let name = part.name();
                    self.warn(
                        *pos,
                        format!("coordination: graph_based leaves out {name:?}, but the DAG always schedules it"),
                    );
                }
            }
        }
        if style == CoordinationType::EventDriven {
            self.warn(
                v.node.pos,
                "coordination: type event_driven: tasks are still scheduled by their DAG \
                 (depends_on); the listed topics are published as events",
            );
        }
        Ok(Coordination {
            style,
            event_driven: topics.map(|t| t.0).unwrap_or_default(),
            graph_based: parts.map(|p| p.0).unwrap_or_default(),
        })
    }

    /// A task's `compensate` block; `what` names the task.
    pub(super) fn compensate(&self, what: &str, v: Field<'_, '_>) -> Res<Compensation> {
        let what = format!("{what}: compensate");
        let f = self.fields(
            &what,
            v.node,
            &["agent", "input", "retry_policy", "timeout"],
        )?;
        let timeout = f.opt("timeout", |v| match v.duration()? {
            t if t.is_zero() => Err(v.fail("must be above zero")),
            t => Ok(t),
        })?;
        Ok(Compensation {
            agent: f.req("agent")?.name()?,
            input: f.opt("input", |v| Ok(to_json(v.node)))?,
            retry: f
                .opt("retry_policy", |v| self.retry(&what, v.node))?
                .unwrap_or_else(RetryPolicy::none),
            timeout,
            pos: v.node.pos,
        })
    }

    /// `saga_pattern: { compensation_enabled: true, rollback_on_failure: true }` (each true
    /// when left out: the block is there to turn the saga on).
    pub(super) fn saga_pattern(&self, v: Field<'_, '_>) -> Res<SagaPattern> {
        let what = "fault_tolerance: saga_pattern";
        let f = self.fields(
            what,
            v.node,
            &["compensation_enabled", "rollback_on_failure"],
        )?;
        Ok(SagaPattern {
            compensation_enabled: f
                .opt("compensation_enabled", |v| v.boolean())?
                .unwrap_or(true),
            rollback_on_failure: f
                .opt("rollback_on_failure", |v| v.boolean())?
                .unwrap_or(true),
        })
    }

    /// Warns about saga settings that cannot act: compensations that never run, a rollback
    /// without compensations.
    pub(super) fn check_saga(
        &self,
        ft: Option<&FaultTolerance>,
        tasks: &[TaskSpec],
        block: Option<Field<'_, '_>>,
    ) {
        let saga = ft.and_then(|f| f.saga);
        let with: Vec<&TaskSpec> = tasks.iter().filter(|t| t.compensate.is_some()).collect();
        match saga {
            Some(s) if s.rolls_back() => {
                if with.is_empty() {
                    let pos = block.map(|b| b.key_pos).unwrap_or_default();
                    self.warn(
                        pos,
                        "fault_tolerance: saga_pattern: no task has a `compensate` block, \
                         so a failed run has nothing to roll back",
                    );
                }
            }
            _ => {
                for t in with {
                    let pos = t.compensate.as_ref().map(|c| c.pos).unwrap_or(t.pos);
                    let why = match saga {
                        Some(s) if !s.compensation_enabled => "compensation_enabled is false",
                        Some(_) => "rollback_on_failure is false",
                        None => "fault_tolerance.saga_pattern is not set",
                    };
                    self.warn(
                        pos,
                        format!(
                            "task {:?}: its compensation never runs: {why}",
                            t.id.as_str()
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "extras_tests.rs"]
mod tests;
