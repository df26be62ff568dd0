//! Token counts for calls whose upstream reported no usage (`estimated: true`): the prompt
//! from the request body, the completion from the recorded answer, with OpenAI's tokenizers
//! (`o200k_base` for models tiktoken does not know, Anthropic's included: an approximation).

use llm_proxy_core::event::Usage;
use serde_json::Value;
use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};
use tiktoken_rs::CoreBPE;

/// Chat formats add a few tokens per message and for the reply's priming (OpenAI cookbook).
const PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;

/// Endpoints whose answers are generated text worth counting.
pub fn is_generation(path: &str) -> bool {
    [
        "/chat/completions",
        "/completions",
        "/responses",
        "/messages",
    ]
    .iter()
    .any(|e| path.ends_with(e))
}

fn bpe_for(model: Option<&str>) -> &'static CoreBPE {
    match model.and_then(get_tokenizer) {
        Some(Tokenizer::Cl100kBase) => tiktoken_rs::cl100k_base_singleton(),
        Some(Tokenizer::P50kBase | Tokenizer::P50kEdit) => tiktoken_rs::p50k_base_singleton(),
        Some(Tokenizer::R50kBase | Tokenizer::Gpt2) => tiktoken_rs::r50k_base_singleton(),
        _ => tiktoken_rs::o200k_base_singleton(),
    }
}

/// Text of a message `content`: a string, or parts with `text`.
fn content_text(content: &Value, out: &mut String) {
    match content {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(parts) => {
            for part in parts {
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    out.push_str(text);
                    out.push('\n');
                } else if part.is_string() {
                    content_text(part, out);
                }
            }
        }
        _ => {}
    }
}

/// The prompt's text and its message count: `messages`, `system`, `instructions`, `input`,
/// `prompt`.
fn prompt_text(request: &Value) -> (String, u64) {
    let mut text = String::new();
    let mut messages = 0;
    for key in ["system", "instructions", "prompt"] {
        if let Some(v) = request.get(key) {
            content_text(v, &mut text);
        }
    }
    let lists = ["messages", "input"];
    for key in lists {
        match request.get(key) {
            Some(Value::Array(items)) => {
                for item in items {
                    messages += 1;
                    match item.get("content") {
                        Some(content) => content_text(content, &mut text),
                        None => content_text(item, &mut text),
                    }
                }
            }
            Some(other) => content_text(other, &mut text),
            None => {}
        }
    }
    (text, messages)
}

/// The answer's text from the recorded body: a reassembled stream (`{"content": …}`), or a
/// chat, completions, Responses or Messages JSON answer.
fn completion_text(body: &Value) -> String {
    let mut text = String::new();
    if let Some(content) = body.get("content").and_then(Value::as_str) {
        return content.to_owned();
    }
    if let Some(choices) = body.get("choices").and_then(Value::as_array) {
        for choice in choices {
            if let Some(content) = choice.pointer("/message/content") {
                content_text(content, &mut text);
            } else if let Some(t) = choice.get("text") {
                content_text(t, &mut text);
            }
        }
    }
    if let Some(content) = body.get("content").filter(|c| c.is_array()) {
        content_text(content, &mut text);
    }
    if let Some(output) = body.get("output").and_then(Value::as_array) {
        for item in output {
            if let Some(content) = item.get("content") {
                content_text(content, &mut text);
            }
        }
    }
    if let Some(s) = body.as_str() {
        text.push_str(s);
    }
    text
}

/// Counts both sides. `request` is the body the client sent.
pub fn estimate(request: &[u8], response_body: &Value, model: Option<&str>) -> Usage {
    let bpe = bpe_for(model);
    let count = |text: &str| bpe.encode_with_special_tokens(text).len() as u64;
    let prompt = match serde_json::from_slice::<Value>(request) {
        Ok(json) => {
            let (text, messages) = prompt_text(&json);
            let overhead = if messages > 0 {
                messages * PER_MESSAGE + REPLY_PRIMING
            } else {
                0
            };
            count(&text) + overhead
        }
        Err(_) => 0,
    };
    let completion = count(&completion_text(response_body));
    Usage {
        prompt_tokens: Some(prompt),
        completion_tokens: Some(completion),
        total_tokens: Some(prompt + completion),
        cached_tokens: None,
        estimated: true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn counts_chat_prompts_and_streamed_answers() {
        let request = br#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hello there"}]}]}"#;
        let usage = estimate(
            request,
            &json!({"content": "Hello! How can I help?"}),
            Some("gpt-4o-mini"),
        );
        assert!(usage.estimated);
        let prompt = usage.prompt_tokens.unwrap();
        // "Be brief." + "Hello there" are a handful of tokens, plus 2·3 + 3 of framing.
        assert!((10..=20).contains(&prompt), "{prompt}");
        let completion = usage.completion_tokens.unwrap();
        assert!((4..=10).contains(&completion), "{completion}");
        assert_eq!(usage.total_tokens, Some(prompt + completion));
    }

    #[test]
    fn counts_json_answers_of_each_api() {
        let chat = json!({"choices":[{"message":{"content":"one two three"}}]});
        let messages = json!({"content":[{"type":"text","text":"one two three"}]});
        let responses =
            json!({"output":[{"content":[{"type":"output_text","text":"one two three"}]}]});
        for body in [chat, messages, responses] {
            let usage = estimate(b"{}", &body, Some("claude-sonnet"));
            assert_eq!(usage.prompt_tokens, Some(0));
            assert!(usage.completion_tokens.unwrap() >= 3, "{body}");
        }
        assert!(is_generation("/v1/messages") && !is_generation("/v1/models"));
    }
}
