//! How a team splits a job among its children and combines their results. Pure functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use troupe_runtime::AgentError;

use super::spec::ChildView;

/// A user split: the job's input and the children, to one input per child (in child order).
/// Its error fails the job with the error's kind: a [`AgentError::Transient`] one may be retried
/// by the caller, a [`AgentError::Permanent`] one not.
pub type SplitFn =
    Arc<dyn Fn(&Value, &[ChildView]) -> Result<Vec<Value>, AgentError> + Send + Sync>;

/// A user combine: the children and their results (in child order), to the team's result. Its
/// error fails the job with the error's kind, as [`SplitFn`]'s does.
pub type CombineFn =
    Arc<dyn Fn(&[ChildView], Vec<Value>) -> Result<Value, AgentError> + Send + Sync>;

/// How a team's input becomes its children's inputs.
#[derive(Clone, Default)]
pub enum Split {
    /// Every child gets the whole input.
    #[default]
    Broadcast,
    /// The input is an array with one element per child, in child order.
    Scatter,
    /// The input is an object with one key per group; each child of the group gets its value.
    ByGroup,
    /// A user function (Rust only).
    Custom(SplitFn),
}

/// How a team's children's results become the team's result.
#[derive(Clone, Default)]
pub enum Combine {
    /// The results in child order.
    #[default]
    Array,
    /// The sum of numeric results (exact for integers).
    Sum,
    /// Array results concatenated in child order (other results count as one element).
    Concat,
    /// `{group: result}` for single-member groups, `{group: [results]}` for larger ones.
    Object,
    /// A user function (Rust only).
    Custom(CombineFn),
}

impl Split {
    /// A split from a function.
    pub fn custom(
        f: impl Fn(&Value, &[ChildView]) -> Result<Vec<Value>, AgentError> + Send + Sync + 'static,
    ) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// One input per child. The built-in splits' errors are permanent.
    pub(crate) fn apply(
        &self,
        input: Value,
        children: &[ChildView],
    ) -> Result<Vec<Value>, AgentError> {
        let n = children.len();
        let inputs = match self {
            Self::Broadcast => {
                let mut out = Vec::with_capacity(n);
                out.extend((1..n).map(|_| input.clone()));
                out.push(input);
                out
            }
            Self::Scatter => match input {
                Value::Array(items) if items.len() == n => items,
                Value::Array(items) => {
                    return Err(AgentError::permanent(format!(
                        "scatter: the input has {} elements for {n} children",
                        items.len()
                    )))
                }
                other => {
                    return Err(AgentError::permanent(format!(
                        "scatter: the input must be an array (one element per child), not {}",
                        describe(&other)
                    )))
                }
            },
            Self::ByGroup => {
                let Value::Object(by_group) = input else {
                    return Err(AgentError::permanent(format!(
                        "by_group: the input must be an object keyed by group, not {}",
                        describe(&input)
                    )));
                };
                if let Some(extra) = by_group
                    .keys()
                    .find(|k| !children.iter().any(|c| &*c.group == k.as_str()))
                {
                    return Err(AgentError::permanent(format!(
                        "by_group: the input names group {extra:?}, which the team does not have"
                    )));
                }
                let mut out = Vec::with_capacity(n);
                for child in children {
                    match by_group.get(&*child.group) {
                        Some(v) => out.push(v.clone()),
                        None => {
                            return Err(AgentError::permanent(format!(
                                "by_group: the input has no key for group {:?}",
                                &*child.group
                            )))
                        }
                    }
                }
                out
            }
            Self::Custom(f) => f(&input, children)?,
        };
        if inputs.len() != n {
            return Err(AgentError::permanent(format!(
                "split: {} inputs for {n} children",
                inputs.len()
            )));
        }
        Ok(inputs)
    }
}

impl Combine {
    /// A combine from a function.
    pub fn custom(
        f: impl Fn(&[ChildView], Vec<Value>) -> Result<Value, AgentError> + Send + Sync + 'static,
    ) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// The team's result. The built-in combines' errors are permanent.
    pub(crate) fn apply(
        &self,
        children: &[ChildView],
        results: Vec<Value>,
    ) -> Result<Value, AgentError> {
        match self {
            Self::Array => Ok(Value::Array(results)),
            Self::Sum => sum(children, &results).map_err(AgentError::permanent),
            Self::Concat => Ok(Value::Array(
                results
                    .into_iter()
                    .flat_map(|r| match r {
                        Value::Array(items) => items,
                        other => vec![other],
                    })
                    .collect(),
            )),
            Self::Object => {
                let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
                for child in children {
                    *sizes.entry(&child.group).or_default() += 1;
                }
                let mut out = Map::new();
                for (child, value) in children.iter().zip(results) {
                    if sizes[&*child.group] == 1 {
                        out.insert(child.group.to_string(), value);
                    } else if let Value::Array(items) = out
                        .entry(child.group.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        items.push(value);
                    }
                }
                Ok(Value::Object(out))
            }
            Self::Custom(f) => f(children, results),
        }
    }
}

/// Integers add up exactly (as i128, answered as i64 or u64 when it fits); any float makes the
/// sum a float.
fn sum(children: &[ChildView], results: &[Value]) -> Result<Value, String> {
    let mut int: i128 = 0;
    let mut float: f64 = 0.0;
    let mut is_float = false;
    for (child, value) in children.iter().zip(results) {
        let Value::Number(n) = value else {
            return Err(format!(
                "sum: child {}/{} answered {}, not a number",
                child.group,
                child.index,
                describe(value)
            ));
        };
        if let Some(i) = n.as_i64() {
            int += i as i128;
        } else if let Some(u) = n.as_u64() {
            int += u as i128;
        } else {
            is_float = true;
            float += n.as_f64().unwrap_or(f64::NAN);
        }
    }
    if is_float {
        return Number::from_f64(float + int as f64)
            .map(Value::Number)
            .ok_or_else(|| "sum: the result is not a finite number".to_string());
    }
    if let Ok(i) = i64::try_from(int) {
        Ok(Value::from(i))
    } else if let Ok(u) = u64::try_from(int) {
        Ok(Value::from(u))
    } else {
        Ok(Value::from(int as f64))
    }
}

pub(crate) use troupe_runtime::config::describe;

impl std::fmt::Debug for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Broadcast => "broadcast",
            Self::Scatter => "scatter",
            Self::ByGroup => "by_group",
            Self::Custom(_) => "custom",
        })
    }
}

impl std::fmt::Debug for Combine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Array => "array",
            Self::Sum => "sum",
            Self::Concat => "concat",
            Self::Object => "object",
            Self::Custom(_) => "custom",
        })
    }
}

/// A split by name, for configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitName {
    /// [`Split::Broadcast`].
    Broadcast,
    /// [`Split::Scatter`].
    Scatter,
    /// [`Split::ByGroup`].
    ByGroup,
}

/// A combine by name, for configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CombineName {
    /// [`Combine::Array`].
    Array,
    /// [`Combine::Sum`].
    Sum,
    /// [`Combine::Concat`].
    Concat,
    /// [`Combine::Object`].
    Object,
}

impl From<SplitName> for Split {
    fn from(name: SplitName) -> Split {
        match name {
            SplitName::Broadcast => Split::Broadcast,
            SplitName::Scatter => Split::Scatter,
            SplitName::ByGroup => Split::ByGroup,
        }
    }
}

impl From<CombineName> for Combine {
    fn from(name: CombineName) -> Combine {
        match name {
            CombineName::Array => Combine::Array,
            CombineName::Sum => Combine::Sum,
            CombineName::Concat => Combine::Concat,
            CombineName::Object => Combine::Object,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::ChildKind;
    use super::*;
    use serde_json::json;

    fn kids(groups: &[(&str, usize)]) -> Vec<ChildView> {
        groups
            .iter()
            .flat_map(|(g, n)| {
                (0..*n).map(move |index| ChildView {
                    group: (*g).into(),
                    index,
                    kind: ChildKind::Agent,
                })
            })
            .collect()
    }

    #[test]
    fn splits() {
        let c = kids(&[("a", 2), ("b", 1)]);
        assert_eq!(
            Split::Broadcast.apply(json!(7), &c).unwrap(),
            vec![json!(7); 3]
        );
        assert_eq!(
            Split::Scatter.apply(json!([1, 2, 3]), &c).unwrap(),
            vec![json!(1), json!(2), json!(3)]
        );
        assert_eq!(
            Split::Scatter.apply(json!([1]), &c).unwrap_err(),
            AgentError::permanent("scatter: the input has 1 elements for 3 children")
        );
        assert_eq!(
            Split::ByGroup
                .apply(json!({"a": "x", "b": "y"}), &c)
                .unwrap(),
            vec![json!("x"), json!("x"), json!("y")]
        );
        assert!(Split::ByGroup
            .apply(json!({"a": 1}), &c)
            .unwrap_err()
            .to_string()
            .contains("no key for group \"b\""));
        assert!(Split::ByGroup
            .apply(json!({"a": 1, "b": 2, "z": 3}), &c)
            .unwrap_err()
            .to_string()
            .contains("group \"z\", which the team does not have"));
        let bad = Split::custom(|_, _| Ok(vec![json!(1)]));
        assert_eq!(
            bad.apply(json!(0), &c).unwrap_err(),
            AgentError::permanent("split: 1 inputs for 3 children")
        );
        // A user split's error keeps its kind: a transient one stays worth retrying.
        let busy = Split::custom(|_, _| Err(AgentError::transient("index busy")));
        let err = busy.apply(json!(0), &c).unwrap_err();
        assert_eq!(err, AgentError::transient("index busy"));
        let job = AgentError::from(super::super::HierarchicalError::Split(err));
        assert!(job.is_retryable());
    }

    #[test]
    fn combines() {
        let c = kids(&[("a", 2), ("b", 1)]);
        let r = || vec![json!(1), json!(2), json!(3)];
        assert_eq!(Combine::Array.apply(&c, r()).unwrap(), json!([1, 2, 3]));
        assert_eq!(Combine::Sum.apply(&c, r()).unwrap(), json!(6));
        assert_eq!(
            Combine::Sum
                .apply(&c, vec![json!(1), json!(0.5), json!(2)])
                .unwrap(),
            json!(3.5)
        );
        assert_eq!(
            Combine::Sum
                .apply(&c, vec![json!(i64::MAX), json!(i64::MAX), json!(1)])
                .unwrap(),
            json!(u64::MAX)
        );
        assert_eq!(
            Combine::Sum
                .apply(&c, vec![json!(1), json!("x"), json!(2)])
                .unwrap_err(),
            AgentError::permanent("sum: child a/1 answered a string, not a number")
        );
        assert_eq!(
            Combine::Concat
                .apply(&c, vec![json!([1, 2]), json!(3), json!([])])
                .unwrap(),
            json!([1, 2, 3])
        );
        assert_eq!(
            Combine::Object.apply(&c, r()).unwrap(),
            json!({"a": [1, 2], "b": 3})
        );
    }
}
