//! The event stream entry format and its publisher.
//!
//! Each entry has two fields: `event` (the `RequestEvent` as JSON) and `id` (its UUIDv7, so a
//! reader can dedupe without parsing).

use std::collections::HashMap;

use llm_proxy_core::event::RequestEvent;
use redis::aio::ConnectionLike;
use redis::Value;

use super::KeySpace;

pub const FIELD_EVENT: &str = "event";
pub const FIELD_EVENT_ID: &str = "id";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot encode an event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot publish events to Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl PublishError {
    /// Redis could not be reached or answered in time (spill and retry later), as opposed to
    /// an event that cannot be encoded.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Redis(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("stream entry has no `event` field")]
    MissingField,
    #[error("stream entry's `event` field is not a string")]
    NotAString,
    #[error("stream entry's `event` is not a valid event: {0}")]
    Json(#[from] serde_json::Error),
}

/// Typical size of an encoded event with its capped bodies.
const ENCODED_GUESS: usize = 4096;

/// Appends the JSON an event is stored as to `buf`.
pub fn encode_event(buf: &mut Vec<u8>, event: &RequestEvent) -> Result<(), serde_json::Error> {
    serde_json::to_writer(buf, event)
}

/// Appends `events` to their shards' streams in one pipelined round trip
/// (`XADD {prefix}:events:{shard} MAXLEN ~ n * event <json> id <uuid>` per event) and returns
/// the entry ids, in input order. Either every command is sent or an error is returned; on a
/// Redis error some entries may already be stored (the ids make the retry idempotent for sinks).
pub async fn publish_events<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &KeySpace,
    events: &[RequestEvent],
) -> Result<Vec<String>, PublishError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    // One buffer for the batch: each command copies its arguments.
    let mut json = Vec::with_capacity(ENCODED_GUESS);
    let mut id = uuid::Uuid::encode_buffer();
    for event in events {
        json.clear();
        encode_event(&mut json, event)?;
        pipe.cmd("XADD")
            .arg(keys.events_stream_for(event.project_id))
            .arg("MAXLEN")
            .arg("~")
            .arg(keys.stream_maxlen())
            .arg("*")
            .arg(FIELD_EVENT)
            .arg(json.as_slice())
            .arg(FIELD_EVENT_ID)
            .arg(&*event.id.hyphenated().encode_lower(&mut id));
    }
    let ids: Vec<String> = pipe.query_async(conn).await?;
    Ok(ids)
}

/// The raw `event` JSON of an entry, as stored.
pub fn raw_event(fields: &HashMap<String, Value>) -> Result<&[u8], DecodeError> {
    match fields.get(FIELD_EVENT) {
        None => Err(DecodeError::MissingField),
        Some(Value::BulkString(bytes)) => Ok(bytes.as_slice()),
        Some(Value::SimpleString(s)) => Ok(s.as_bytes()),
        Some(_) => Err(DecodeError::NotAString),
    }
}

/// Parses an entry's fields (as `redis::streams::StreamId::map` holds them) into an event.
pub fn decode_entry(fields: &HashMap<String, Value>) -> Result<RequestEvent, DecodeError> {
    Ok(serde_json::from_slice(raw_event(fields)?)?)
}
