//! Decoding what a chat-completions endpoint sends back: a whole JSON reply, or a
//! server-sent-events stream of chunks. The client reads every reply through these; they are
//! public so that the fuzz targets (fuzz/) exercise exactly that code.

pub use super::wire::Turn;
use super::wire::{Chunk, Completion, SseParser};

/// Decodes a whole (non-streamed) reply body; the error says what is wrong with it.
pub fn decode_completion(bytes: &[u8]) -> Result<Turn, String> {
    let completion: Completion = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if completion.choices.is_empty() {
        return Err("no choices".into());
    }
    Ok(completion.into())
}

/// Decodes a streamed reply, fed in reads of any size.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    parser: SseParser,
    turn: Turn,
    done: bool,
}

impl StreamDecoder {
    /// Feeds the bytes of one read; returns the content deltas they completed, in order. After
    /// the stream's `[DONE]` event ([`Self::is_done`]) the rest is ignored.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, String> {
        let mut texts = Vec::new();
        if self.done {
            return Ok(texts);
        }
        for data in self.parser.feed(bytes) {
            if data.trim() == "[DONE]" {
                self.done = true;
                break;
            }
            let chunk: Chunk =
                serde_json::from_str(&data).map_err(|e| format!("stream chunk {data:?}: {e}"))?;
            if let Some(text) = self.turn.absorb(chunk) {
                texts.push(text);
            }
        }
        Ok(texts)
    }

    /// Whether the stream's `[DONE]` event has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The turn the stream has built so far.
    pub fn into_turn(self) -> Turn {
        self.turn
    }
}
