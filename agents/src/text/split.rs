//! `text.split`: text in, an array of chunks out (for a following `parallel: true` task).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::ConfigError;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use crate::shape::{parse_config, TextInput};

/// What a chunk of `text.split` is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    /// `size` lines per chunk, joined with `\n`.
    #[default]
    Lines,
    /// `size` paragraphs per chunk (paragraphs are separated by blank lines), joined with `\n\n`.
    Paragraphs,
    /// `size` words per chunk (split on whitespace), joined with one space.
    Words,
}

/// Configuration of `text.split`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// The unit: `lines` (default), `paragraphs` or `words`.
    pub by: SplitBy,
    /// Units per chunk (default 1).
    pub size: usize,
    /// Keep chunks that are empty or only whitespace (default false: they are dropped).
    pub keep_empty: bool,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            by: SplitBy::Lines,
            size: 1,
            keep_empty: false,
        }
    }
}

/// `text.split`: replies with an array of chunks. The request is text (a string or
/// `{"text": ...}`) or an array of texts, whose chunks are concatenated in order.
#[derive(Debug, Clone)]
pub struct TextSplit {
    config: SplitConfig,
}

impl TextSplit {
    /// An agent with this configuration.
    pub fn new(config: SplitConfig) -> Result<Self, ConfigError> {
        if config.size == 0 {
            return Err("field `size` must be at least 1".into());
        }
        Ok(Self { config })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(parse_config(config)?)
    }
}

impl Agent for TextSplit {
    type Request = TextInput;
    type Reply = Vec<String>;
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
    ) -> Result<Vec<String>, AgentError> {
        Ok(request
            .texts
            .iter()
            .flat_map(|text| split(text, &self.config))
            .collect())
    }
}

/// Splits `text` into chunks as configured.
pub(crate) fn split(text: &str, config: &SplitConfig) -> Vec<String> {
    let size = config.size.max(1);
    let chunks: Vec<String> = match config.by {
        SplitBy::Lines => {
            let lines: Vec<&str> = text.lines().collect();
            lines.chunks(size).map(|c| c.join("\n")).collect()
        }
        SplitBy::Words => {
            let words: Vec<&str> = text.split_whitespace().collect();
            words.chunks(size).map(|c| c.join(" ")).collect()
        }
        SplitBy::Paragraphs => {
            let paragraphs = paragraphs(text);
            paragraphs.chunks(size).map(|c| c.join("\n\n")).collect()
        }
    };
    if config.keep_empty {
        chunks
    } else {
        chunks
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .collect()
    }
}

/// Runs of non-blank lines (a blank line holds only whitespace), each joined with `\n`.
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(current.join("\n"));
                current.clear();
            }
        } else {
            current.push(line.trim_end());
        }
    }
    if !current.is_empty() {
        out.push(current.join("\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Legacy;
    use serde_json::json;

    fn cfg(by: SplitBy, size: usize) -> SplitConfig {
        SplitConfig {
            by,
            size,
            keep_empty: false,
        }
    }

    #[test]
    fn splits_lines_in_groups() {
        let text = "a\nb\r\nc\nd\ne";
        assert_eq!(
            split(text, &cfg(SplitBy::Lines, 2)),
            vec!["a\nb", "c\nd", "e"]
        );
        assert_eq!(split(text, &cfg(SplitBy::Lines, 1)).len(), 5);
    }

    #[test]
    fn drops_blank_chunks_unless_asked() {
        let text = "a\n\n  \nb\n";
        assert_eq!(split(text, &cfg(SplitBy::Lines, 1)), vec!["a", "b"]);
        let keep = SplitConfig {
            keep_empty: true,
            ..cfg(SplitBy::Lines, 1)
        };
        assert_eq!(split(text, &keep), vec!["a", "", "  ", "b"]);
    }

    #[test]
    fn splits_paragraphs_on_blank_lines() {
        let text = "\n\nfirst line\nsecond line  \n\n \n\nthird\n\nfourth\n";
        assert_eq!(
            split(text, &cfg(SplitBy::Paragraphs, 1)),
            vec!["first line\nsecond line", "third", "fourth"]
        );
        assert_eq!(
            split(text, &cfg(SplitBy::Paragraphs, 2)),
            vec!["first line\nsecond line\n\nthird", "fourth"]
        );
    }

    #[test]
    fn splits_words_in_groups() {
        let text = "one two\tthree\n four  five";
        assert_eq!(
            split(text, &cfg(SplitBy::Words, 2)),
            vec!["one two", "three four", "five"]
        );
        assert!(split("   \n ", &cfg(SplitBy::Words, 2)).is_empty());
    }

    #[test]
    fn config_is_checked() {
        let t = TextSplit::from_config(&json!({"by": "words", "size": 3})).unwrap();
        assert_eq!(t.config.by, SplitBy::Words);
        let err = TextSplit::from_config(&json!({"size": 0}))
            .unwrap_err()
            .legacy();
        assert!(err.contains("`size` must be at least 1"), "{err}");
        let err = TextSplit::from_config(&json!({"by": "sentences"}))
            .unwrap_err()
            .legacy();
        assert!(
            err.starts_with("field `by`: unknown variant `sentences`"),
            "{err}"
        );
        let err = TextSplit::from_config(&json!({"chunk": 3}))
            .unwrap_err()
            .legacy();
        assert!(err.contains("unknown field `chunk`"), "{err}");
    }
}
