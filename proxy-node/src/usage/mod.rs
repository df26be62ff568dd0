//! Model, usage and finish reason from response bodies: OpenAI chat and Responses, Anthropic
//! Messages (VENDORS §4, §5). Usage on every call: streamed OpenAI chat requests are asked for
//! usage ([`inject`]) and the extra usage chunk is kept from clients that did not ask
//! ([`strip`]); where no usage comes back at all, the gateway counts tokens ([`estimate`]).

pub mod estimate;
pub mod inject;
pub mod strip;

use llm_proxy_core::event::Usage;
use serde_json::Value;

/// What the event records about the answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResponseFacts {
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    /// The upstream reported an error inside a 200 stream.
    pub error: bool,
}

fn u(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// Any of the three usage shapes. Anthropic's `input_tokens` excludes cached input, so the
/// prompt total adds the cache fields back.
pub fn usage_from(v: &Value) -> Option<Usage> {
    if !v.is_object() {
        return None;
    }
    if let Some(prompt) = u(v, "prompt_tokens") {
        let completion = u(v, "completion_tokens");
        return Some(Usage {
            prompt_tokens: Some(prompt),
            completion_tokens: completion,
            total_tokens: u(v, "total_tokens").or(Some(prompt + completion.unwrap_or(0))),
            cached_tokens: v
                .get("prompt_tokens_details")
                .and_then(|d| u(d, "cached_tokens")),
            estimated: false,
        });
    }
    let input = u(v, "input_tokens");
    let output = u(v, "output_tokens");
    if input.is_none() && output.is_none() {
        return None;
    }
    if v.get("total_tokens").is_some() || v.get("input_tokens_details").is_some() {
        // OpenAI Responses API.
        return Some(Usage {
            prompt_tokens: input,
            completion_tokens: output,
            total_tokens: u(v, "total_tokens").or(Some(input.unwrap_or(0) + output.unwrap_or(0))),
            cached_tokens: v
                .get("input_tokens_details")
                .and_then(|d| u(d, "cached_tokens")),
            estimated: false,
        });
    }
    let mut anthropic = AnthropicUsage::default();
    anthropic.merge(v);
    anthropic.to_usage()
}

/// Anthropic's counters; `message_delta` repeats them cumulatively, so later values replace.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AnthropicUsage {
    input: Option<u64>,
    cache_creation: Option<u64>,
    cache_read: Option<u64>,
    output: Option<u64>,
}

impl AnthropicUsage {
    pub fn merge(&mut self, v: &Value) {
        if let Some(x) = u(v, "input_tokens") {
            self.input = Some(x);
        }
        if let Some(x) = u(v, "cache_creation_input_tokens") {
            self.cache_creation = Some(x);
        }
        if let Some(x) = u(v, "cache_read_input_tokens") {
            self.cache_read = Some(x);
        }
        if let Some(x) = u(v, "output_tokens") {
            self.output = Some(x);
        }
    }

    pub fn to_usage(&self) -> Option<Usage> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let prompt = self.input.unwrap_or(0)
            + self.cache_creation.unwrap_or(0)
            + self.cache_read.unwrap_or(0);
        let completion = self.output.unwrap_or(0);
        Some(Usage {
            prompt_tokens: Some(prompt),
            completion_tokens: Some(completion),
            total_tokens: Some(prompt + completion),
            cached_tokens: self.cache_read,
            estimated: false,
        })
    }
}

/// A complete (non-streamed) JSON answer.
pub fn facts_from_json(v: &Value) -> ResponseFacts {
    let finish_reason = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find_map(|c| c.get("finish_reason")?.as_str()))
        .or_else(|| v.get("stop_reason").and_then(Value::as_str))
        .or_else(|| {
            // Responses API: `status` is only a finish reason on a response object.
            (v.get("object").and_then(Value::as_str) == Some("response"))
                .then(|| v.get("status").and_then(Value::as_str))
                .flatten()
        })
        .map(str::to_owned);
    ResponseFacts {
        model: v.get("model").and_then(Value::as_str).map(str::to_owned),
        usage: v.get("usage").and_then(usage_from),
        finish_reason,
        error: v.get("error").is_some_and(Value::is_object),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn openai_chat_usage() {
        let facts = facts_from_json(&json!({
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                      "prompt_tokens_details": {"cached_tokens": 4}}
        }));
        assert_eq!(facts.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(facts.finish_reason.as_deref(), Some("stop"));
        let usage = facts.usage.unwrap();
        assert_eq!(usage.total_tokens, Some(15));
        assert_eq!(usage.cached_tokens, Some(4));
    }

    #[test]
    fn anthropic_usage_adds_cache_to_prompt() {
        let facts = facts_from_json(&json!({
            "type": "message", "model": "claude-x", "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5,
                      "cache_read_input_tokens": 100, "output_tokens": 7}
        }));
        assert_eq!(facts.finish_reason.as_deref(), Some("end_turn"));
        let usage = facts.usage.unwrap();
        assert_eq!(usage.prompt_tokens, Some(115));
        assert_eq!(usage.completion_tokens, Some(7));
        assert_eq!(usage.total_tokens, Some(122));
        assert_eq!(usage.cached_tokens, Some(100));
    }

    #[test]
    fn responses_api_usage() {
        let facts = facts_from_json(&json!({
            "object": "response", "status": "completed", "model": "gpt-5",
            "usage": {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25,
                      "input_tokens_details": {"cached_tokens": 8}}
        }));
        assert_eq!(facts.finish_reason.as_deref(), Some("completed"));
        let usage = facts.usage.unwrap();
        assert_eq!(usage.prompt_tokens, Some(20));
        assert_eq!(usage.cached_tokens, Some(8));
    }
}
