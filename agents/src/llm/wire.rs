//! The OpenAI chat-completions wire format (the subset `llm.chat` speaks): messages, tool calls,
//! usage, whole replies and streamed chunks, and an incremental server-sent-events parser.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text (absent on an assistant message that only calls tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The tools an assistant message calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On a `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message of `role` with `content`.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The answer to tool call `id`.
    pub fn tool(id: &str, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(id.into()),
            ..Self::new("tool", content)
        }
    }

    /// A rough token count (4 characters a token), for budgets and truncation.
    pub fn estimated_tokens(&self) -> u64 {
        let mut chars = self.content.as_deref().map_or(0, str::len);
        for c in &self.tool_calls {
            chars += c.function.name.len() + c.function.arguments.len();
        }
        (chars as u64).div_ceil(4) + 4
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id (tool results name it).
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function")]
    pub kind: String,
    /// Which function, with which arguments.
    pub function: FunctionCall,
}

fn function() -> String {
    "function".into()
}

/// The function of a tool call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON text.
    #[serde(default)]
    pub arguments: String,
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens of the completion.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
}

impl Usage {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// A whole (non-streamed) reply.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Completion {
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Choice {
    pub message: Message,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// One streamed chunk.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Chunk {
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Delta {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCallDelta>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ToolCallDelta {
    #[serde(default)]
    pub index: usize,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionDelta>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FunctionDelta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

/// What one model turn produced, streamed or not.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Turn {
    /// The assistant's message (text and/or tool calls).
    pub content: String,
    /// The tools it calls.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped (`stop`, `length`, `tool_calls`, ...).
    pub finish_reason: Option<String>,
    /// Tokens used, when the endpoint said.
    pub usage: Option<Usage>,
}

impl Turn {
    /// The assistant message to append to the conversation.
    pub fn message(&self) -> Message {
        Message {
            role: "assistant".into(),
            content: (!self.content.is_empty() || self.tool_calls.is_empty())
                .then(|| self.content.clone()),
            tool_calls: self.tool_calls.clone(),
            tool_call_id: None,
        }
    }

    /// Folds a streamed chunk in; returns the content delta, if any.
    pub(crate) fn absorb(&mut self, chunk: Chunk) -> Option<String> {
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut text = None;
        for choice in chunk.choices {
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
            if let Some(c) = choice.delta.content.filter(|c| !c.is_empty()) {
                self.content.push_str(&c);
                text = Some(c);
            }
            for d in choice.delta.tool_calls {
                while self.tool_calls.len() <= d.index {
                    self.tool_calls.push(ToolCall {
                        id: String::new(),
                        kind: function(),
                        function: FunctionCall::default(),
                    });
                }
                let call = &mut self.tool_calls[d.index];
                if let Some(id) = d.id {
                    call.id = id;
                }
                if let Some(f) = d.function {
                    if let Some(n) = f.name {
                        call.function.name.push_str(&n);
                    }
                    if let Some(a) = f.arguments {
                        call.function.arguments.push_str(&a);
                    }
                }
            }
        }
        text
    }
}

impl From<Completion> for Turn {
    fn from(c: Completion) -> Self {
        let choice = c.choices.into_iter().next();
        let (message, finish_reason) = match choice {
            Some(ch) => (Some(ch.message), ch.finish_reason),
            None => (None, None),
        };
        Turn {
            content: message
                .as_ref()
                .and_then(|m| m.content.clone())
                .unwrap_or_default(),
            tool_calls: message.map(|m| m.tool_calls).unwrap_or_default(),
            finish_reason,
            usage: c.usage,
        }
    }
}

/// Splits a server-sent-events byte stream into the `data` of its events.
///
/// Bytes are kept until their line is complete: a read may end anywhere, inside a UTF-8
/// character or between the `\r` and `\n` of a line end, without changing what is decoded
/// (a character split across reads once came out as two U+FFFD, found by the `llm_sse` fuzz
/// target's check).
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The bytes of the current, incomplete line.
    buffer: Vec<u8>,
    /// The `data` lines of the current event so far.
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the data of every event completed by them, in order.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(end) = self.buffer[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buffer[start..start + end];
            start += end + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(std::mem::take(&mut self.data).join("\n"));
                }
                continue;
            }
            let line = String::from_utf8_lossy(line);
            if let Some(d) = line.strip_prefix("data:") {
                self.data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
            }
        }
        self.buffer.drain(..start);
        events
    }
}

/// The request body of one chat-completions call.
pub(crate) fn request_body(
    config: &super::LlmConfig,
    messages: &[Message],
    tools: &[Value],
) -> Value {
    let mut body = serde_json::json!({ "model": config.model, "messages": messages });
    let o = body.as_object_mut().expect("an object");
    let s = config;
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put("temperature", s.temperature.map(Value::from));
    put("top_p", s.top_p.map(Value::from));
    put("max_tokens", s.max_tokens.map(Value::from));
    put("presence_penalty", s.presence_penalty.map(Value::from));
    put("frequency_penalty", s.frequency_penalty.map(Value::from));
    put("seed", s.seed.map(Value::from));
    put(
        "stop",
        (!s.stop.is_empty()).then(|| Value::from(s.stop.clone())),
    );
    if let Some(f) = &config.response_format {
        put(
            "response_format",
            Some(serde_json::json!({
                "type": "json_schema",
                "json_schema": { "name": f.name, "schema": f.schema, "strict": true }
            })),
        );
    }
    if !tools.is_empty() {
        put("tools", Some(Value::from(tools.to_vec())));
    }
    if config.stream {
        put("stream", Some(Value::Bool(true)));
        put(
            "stream_options",
            Some(serde_json::json!({ "include_usage": true })),
        );
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_reads_come_out_whole_and_in_order() {
        let mut p = SseParser::default();
        assert!(p.feed(b"data: {\"a\"").is_empty());
        assert_eq!(
            p.feed(b":1}\r\n\r\ndata: [DONE]\n\n"),
            ["{\"a\":1}", "[DONE]"]
        );
        assert_eq!(p.feed(b": comment\n\n"), Vec::<String>::new());
    }

    #[test]
    fn reads_cut_inside_a_character_or_a_line_end_decode_the_same() {
        // Found by the llm_sse fuzz target's check (fuzz/corpus/llm_sse/stream): "é" and
        // "日本" cut across reads came out as U+FFFD.
        let stream = "data: h\u{e9}llo \u{65e5}\u{672c}\r\n\r\ndata: [DONE]\r\n\r\n".as_bytes();
        for cut in 1..stream.len() {
            let mut p = SseParser::default();
            let mut events = p.feed(&stream[..cut]);
            events.extend(p.feed(&stream[cut..]));
            assert_eq!(
                events,
                ["h\u{e9}llo \u{65e5}\u{672c}", "[DONE]"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn tool_call_deltas_are_joined_by_index() {
        let mut t = Turn::default();
        for c in [
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"se","arguments":"{\"q\""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"arch","arguments":":1}"}}]},"finish_reason":"tool_calls"}]}"#,
        ] {
            t.absorb(serde_json::from_str(c).unwrap());
        }
        assert_eq!(t.tool_calls[0].function.name, "search");
        assert_eq!(t.tool_calls[0].function.arguments, r#"{"q":1}"#);
        assert_eq!(t.finish_reason.as_deref(), Some("tool_calls"));
    }
}
