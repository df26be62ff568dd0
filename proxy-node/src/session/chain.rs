//! A request's conversation as lineage sees it, and the hash of each of its prefixes.
//!
//! The conversation is a root (Anthropic `system`, Responses `instructions`, leading `system`
//! or `developer` messages) and the messages after it. Prefix hash `i` covers the root and the
//! first `i` messages, chained (`h_i = SHA-256(h_{i-1} ‖ canonical(message_i))`, `h_0` from the
//! root), so hashing a conversation costs one pass however many prefixes it has. The root
//! alone is never a prefix: parallel subagents share a system prompt and nothing else, and are
//! not forks of each other.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical;

/// Bytes of a prefix hash: 128 bits, so two different prefixes of one session never collide.
pub const HASH_LEN: usize = 16;
pub type PrefixHash = [u8; HASH_LEN];

/// Calls whose body is a conversation; token counting (`…/count_tokens`) describes a
/// conversation without taking a turn in it.
const CONVERSATION_PATHS: &[&str] = &["/chat/completions", "/messages", "/responses"];

/// Claude Code puts a per-request attribution block at the head of `system`; it is not part of
/// what the conversation says.
const VOLATILE_SYSTEM_PREFIX: &str = "x-anthropic-billing-header";

const SEED: &[u8] = b"llm-proxy/lineage/v1";

#[derive(Debug)]
pub struct Conversation<'a> {
    root: Vec<&'a Value>,
    /// The messages (or Responses input items) after the root.
    pub items: Vec<&'a Value>,
    /// The request continues state the provider keeps (`previous_response_id`,
    /// `conversation`): its items are only the new ones.
    pub server_state: bool,
}

/// The prefix hashes of one conversation, one per message, shortest first; the last covers
/// all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub hashes: Vec<PrefixHash>,
    pub server_state: bool,
}

impl<'a> Conversation<'a> {
    /// The conversation of a call to `path` (the path sent upstream), if it is one.
    pub fn read(path: &str, body: Option<&'a Value>) -> Option<Self> {
        let body = body?.as_object()?;
        if !CONVERSATION_PATHS.iter().any(|p| path.ends_with(p)) {
            return None;
        }
        let server_state = body
            .get("previous_response_id")
            .is_some_and(|v| !v.is_null())
            || body.get("conversation").is_some_and(|v| !v.is_null());
        let mut root = Vec::new();
        let messages: Vec<&Value> = match body.get("messages") {
            Some(Value::Array(messages)) => {
                if let Some(system) = body.get("system") {
                    push_system(system, &mut root);
                }
                messages.iter().collect()
            }
            _ => {
                if let Some(instructions) = body.get("instructions").filter(|v| v.is_string()) {
                    root.push(instructions);
                }
                match body.get("input")? {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                }
            }
        };
        let leading = messages.iter().take_while(|m| is_instruction(m)).count();
        root.extend(&messages[..leading]);
        Some(Self {
            root,
            items: messages[leading..].to_vec(),
            server_state,
        })
    }

    pub fn chain(&self) -> Chain {
        let mut hasher = Sha256::new();
        hasher.update(SEED);
        // Writing into a hasher cannot fail.
        let _ = canonical::write_array(self.root.iter().copied(), &mut HashWriter(&mut hasher));
        let mut state: [u8; 32] = hasher.finalize().into();
        let mut hashes = Vec::with_capacity(self.items.len());
        for item in &self.items {
            let mut hasher = Sha256::new();
            hasher.update(state);
            let _ = canonical::write(item, &mut HashWriter(&mut hasher));
            state = hasher.finalize().into();
            let mut prefix = [0u8; HASH_LEN];
            prefix.copy_from_slice(&state[..HASH_LEN]);
            hashes.push(prefix);
        }
        Chain {
            hashes,
            server_state: self.server_state,
        }
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `system`/`developer` message: instructions, not a turn of the conversation.
fn is_instruction(message: &Value) -> bool {
    matches!(
        message.get("role").and_then(Value::as_str),
        Some("system" | "developer")
    )
}

/// Anthropic `system`: a string or text blocks, without the volatile attribution block.
fn push_system<'a>(system: &'a Value, root: &mut Vec<&'a Value>) {
    match system {
        Value::Array(blocks) => root.extend(blocks.iter().filter(|b| {
            !b.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| t.trim_start().starts_with(VOLATILE_SYSTEM_PREFIX))
        })),
        Value::Null => {}
        other => root.push(other),
    }
}

/// Lower-case hex, as prefix hashes are stored on Redis.
pub fn hex(hash: &PrefixHash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(HASH_LEN * 2);
    for b in hash {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn chain(path: &str, body: &Value) -> Chain {
        Conversation::read(path, Some(body)).unwrap().chain()
    }

    #[test]
    fn a_continued_conversation_repeats_the_earlier_prefix_hashes() {
        let turn1 = json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"}
        ]});
        let turn2 = json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "more"}
        ]});
        let a = chain("/v1/chat/completions", &turn1);
        let b = chain("/v1/chat/completions", &turn2);
        assert_eq!(
            a.hashes.len(),
            1,
            "the system message is the root, not a prefix"
        );
        assert_eq!(b.hashes.len(), 3);
        assert_eq!(a.hashes[0], b.hashes[0]);
    }

    #[test]
    fn the_root_tells_conversations_apart_but_is_no_prefix_itself() {
        let with = |system: &str| json!({"messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]});
        let a = chain("/v1/chat/completions", &with("one"));
        let b = chain("/v1/chat/completions", &with("two"));
        assert_ne!(a.hashes[0], b.hashes[0]);
        let only_system = json!({"messages": [{"role": "system", "content": "one"}]});
        assert!(chain("/v1/chat/completions", &only_system)
            .hashes
            .is_empty());
    }

    #[test]
    fn cache_breakpoints_and_the_attribution_block_do_not_change_hashes() {
        let body = |cch: &str, marked: bool| {
            let mut text = json!({"type": "text", "text": "fix the bug"});
            if marked {
                text["cache_control"] = json!({"type": "ephemeral"});
            }
            json!({"model": "claude", "max_tokens": 10,
                "system": [
                    {"type": "text", "text": format!("x-anthropic-billing-header: cc_version=2.1; cch={cch};")},
                    {"type": "text", "text": "You are Claude Code."}
                ],
                "messages": [{"role": "user", "content": [text]}]})
        };
        let a = chain("/v1/messages", &body("aa", false));
        let b = chain("/v1/messages", &body("bb", true));
        assert_eq!(a, b);
        let subagent = json!({"system": "You are a subagent.", "messages": [{"role": "user", "content": [{"type": "text", "text": "fix the bug"}]}]});
        assert_ne!(chain("/v1/messages", &subagent).hashes[0], a.hashes[0]);
    }

    #[test]
    fn responses_input_and_instructions() {
        let body = json!({"model": "gpt-5", "instructions": "be brief",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox: read-only"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ]});
        let conversation = Conversation::read("/v1/responses", Some(&body)).unwrap();
        assert_eq!(conversation.items.len(), 1);
        assert_eq!(conversation.chain().hashes.len(), 1);
        let single = chain(
            "/v1/responses",
            &json!({"input": "hi", "previous_response_id": "resp_1"}),
        );
        assert_eq!(single.hashes.len(), 1);
        assert!(single.server_state);
    }

    #[test]
    fn only_conversation_endpoints_have_one() {
        let body = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert!(Conversation::read("/v1/messages/count_tokens", Some(&body)).is_none());
        assert!(Conversation::read("/v1/embeddings", Some(&json!({"input": "x"}))).is_none());
        assert!(Conversation::read("/v1/chat/completions", None).is_none());
        assert_eq!(hex(&[0xab; HASH_LEN]).len(), 32);
    }
}
