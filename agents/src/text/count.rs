//! `text.count` (word, line and character counts with the most frequent words) and
//! `text.merge_counts` (adds several counts up).

use std::collections::{BTreeMap, HashMap};
use troupe_runtime::ConfigError;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use super::TextError;
use crate::shape::{decode, describe, parse_config, TextInput};

/// The reply of `text.count` and `text.merge_counts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Number of words: maximal runs of letters and digits, an apostrophe inside a word
    /// (`don't`) included.
    pub words: u64,
    /// Number of lines (a last line without a newline counts).
    pub lines: u64,
    /// Number of characters (Unicode scalar values).
    pub chars: u64,
    /// The most frequent lowercased words as `[word, count]`, by count descending, ties in
    /// alphabetical order.
    pub top: Vec<(String, u64)>,
    /// Every lowercased word with its count; present only when configured (`counts: true`),
    /// which makes `text.merge_counts` exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<String, u64>>,
}

/// Configuration of `text.count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CountConfig {
    /// How many of the most frequent words to list (default 10).
    pub top: usize,
    /// Also reply every word's count (`counts`), for an exact `text.merge_counts` (default false).
    pub counts: bool,
}

impl Default for CountConfig {
    fn default() -> Self {
        Self {
            top: 10,
            counts: false,
        }
    }
}

/// `text.count`: replies with the [`Counts`] of its text (a string, `{"text": ...}`, or an
/// array of texts counted together).
#[derive(Debug, Clone)]
pub struct TextCount {
    config: CountConfig,
}

impl TextCount {
    /// An agent with this configuration.
    pub fn new(config: CountConfig) -> Self {
        Self { config }
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Ok(Self::new(parse_config(config)?))
    }
}

impl Agent for TextCount {
    type Request = TextInput;
    type Reply = Counts;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        request: TextInput,
    ) -> Result<Counts, AgentError> {
        let mut total = Tally::default();
        for text in &request.texts {
            total.add_text(text);
        }
        Ok(total.finish(self.config.top, self.config.counts))
    }
}

/// Configuration of `text.merge_counts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MergeConfig {
    /// How many of the most frequent words to list (default 10).
    pub top: usize,
}

impl Default for MergeConfig {
    fn default() -> Self {
        Self { top: 10 }
    }
}

/// `text.merge_counts`: adds up an array of [`Counts`] (`null` items, from optional tasks that
/// failed, are skipped). `top` is exact when every item carries `counts`; otherwise it is
/// recomputed from the items' own `top` lists, so a word outside every item's top list is missed.
#[derive(Debug, Clone)]
pub struct TextMergeCounts {
    config: MergeConfig,
}

impl TextMergeCounts {
    /// An agent with this configuration.
    pub fn new(config: MergeConfig) -> Self {
        Self { config }
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Ok(Self::new(parse_config(config)?))
    }
}

impl Agent for TextMergeCounts {
    type Request = Value;
    type Reply = Counts;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        request: Value,
    ) -> Result<Counts, AgentError> {
        let items = parse_counts(request)?;
        Ok(merge(&items, self.config.top))
    }
}

/// Reads the request of `text.merge_counts`: an array of counts (or one count object).
pub(crate) fn parse_counts(request: Value) -> Result<Vec<Counts>, TextError> {
    let items = match request {
        Value::Array(items) => items,
        v @ Value::Object(_) => vec![v],
        other => {
            return Err(TextError::BadInput(format!(
                "expected an array of text.count replies, got {}",
                describe(&other)
            )))
        }
    };
    items
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_null())
        .map(|(i, v)| {
            decode::<Counts>(v).map_err(|e| {
                TextError::BadInput(format!("element {i} is not a text.count reply: {e}"))
            })
        })
        .collect()
}

/// Adds counts up and recomputes the top `top` words.
pub(crate) fn merge(items: &[Counts], top: usize) -> Counts {
    let mut total = Tally::default();
    let exact = items.iter().all(|c| c.counts.is_some());
    for item in items {
        total.words += item.words;
        total.lines += item.lines;
        total.chars += item.chars;
        let words: Box<dyn Iterator<Item = (&String, &u64)>> = match &item.counts {
            Some(all) if exact => Box::new(all.iter()),
            _ => Box::new(item.top.iter().map(|(w, n)| (w, n))),
        };
        for (word, n) in words {
            *total.freq.entry(word.clone()).or_default() += n;
        }
    }
    total.finish(top, exact && !items.is_empty())
}

/// Running totals while counting.
#[derive(Debug, Default)]
struct Tally {
    words: u64,
    lines: u64,
    chars: u64,
    freq: HashMap<String, u64>,
}

impl Tally {
    fn add_text(&mut self, text: &str) {
        self.lines += text.lines().count() as u64;
        self.chars += text.chars().count() as u64;
        for word in words(text) {
            self.words += 1;
            *self.freq.entry(word.to_lowercase()).or_default() += 1;
        }
    }

    fn finish(self, top: usize, with_counts: bool) -> Counts {
        let mut ranked: Vec<(String, u64)> =
            self.freq.iter().map(|(w, n)| (w.clone(), *n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(top);
        Counts {
            words: self.words,
            lines: self.lines,
            chars: self.chars,
            top: ranked,
            counts: with_counts.then(|| self.freq.into_iter().collect()),
        }
    }
}

/// The words of `text`: maximal runs of alphanumeric characters; an apostrophe (`'` or `’`)
/// between two alphanumeric characters belongs to the word.
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find(char::is_alphanumeric)?;
        let tail = &rest[start..];
        let mut end = tail.len();
        let mut chars = tail.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c.is_alphanumeric() {
                continue;
            }
            let apostrophe = matches!(c, '\'' | '’');
            if !(apostrophe && chars.peek().is_some_and(|(_, n)| n.is_alphanumeric())) {
                end = i;
                break;
            }
        }
        let word = &tail[..end];
        rest = &tail[end..];
        Some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn count(text: &str, top: usize, with_counts: bool) -> Counts {
        let mut t = Tally::default();
        t.add_text(text);
        t.finish(top, with_counts)
    }

    #[test]
    fn tokenises_words_with_inner_apostrophes() {
        let got: Vec<&str> =
            words("Don't stop -- it's 42 o'clock, 'quoted' rock'n'roll! über").collect();
        assert_eq!(
            got,
            vec![
                "Don't",
                "stop",
                "it's",
                "42",
                "o'clock",
                "quoted",
                "rock'n'roll",
                "über"
            ]
        );
        assert_eq!(words("  ,.; ").count(), 0);
    }

    #[test]
    fn counts_words_lines_chars_and_top() {
        let c = count("The cat saw the dog.\nA dog saw THE cat\n", 3, false);
        assert_eq!((c.words, c.lines, c.chars), (10, 2, 39));
        assert_eq!(
            c.top,
            vec![("the".into(), 3), ("cat".into(), 2), ("dog".into(), 2)],
            "ties broken alphabetically"
        );
        assert_eq!(c.counts, None);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["top"][0], json!(["the", 3]));
        assert!(json.get("counts").is_none());
    }

    #[test]
    fn empty_text_counts_zero() {
        let c = count("", 10, true);
        assert_eq!((c.words, c.lines, c.chars), (0, 0, 0));
        assert!(c.top.is_empty());
        assert_eq!(c.counts, Some(BTreeMap::new()));
    }

    #[test]
    fn merge_is_exact_with_full_counts() {
        let a = count("x y y z", 1, true);
        let b = count("z z x", 1, true);
        let m = merge(&[a, b], 2);
        assert_eq!((m.words, m.lines, m.chars), (7, 2, 12));
        assert_eq!(m.top, vec![("z".into(), 3), ("x".into(), 2)]);
        assert_eq!(m.counts.unwrap()["y"], 2);
    }

    #[test]
    fn merge_without_full_counts_uses_the_top_lists() {
        let a = count("x y y z", 1, false); // top: y
        let b = count("z z x", 1, false); // top: z
        let m = merge(&[a, b], 5);
        assert_eq!(m.words, 7);
        assert_eq!(m.top, vec![("y".into(), 2), ("z".into(), 2)]);
        assert_eq!(m.counts, None);
    }

    #[test]
    fn merge_request_shapes() {
        let a = serde_json::to_value(count("a b", 10, false)).unwrap();
        let items = parse_counts(json!([a.clone(), null, a.clone()])).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(parse_counts(a).unwrap().len(), 1);
        let err = parse_counts(json!([{"words": 1}])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("element 0 is not a text.count reply: missing field"),
            "{err}"
        );
        let err = parse_counts(json!("x")).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected an array of text.count replies, got a string"),
            "{err}"
        );
        let m = merge(&[], 3);
        assert_eq!((m.words, m.top.len(), m.counts), (0, 0, None));
    }
}
