//! Lunary: `POST {url}/v1/runs/ingest` with `{"events": [...]}` (never a bare array), one
//! `start` and one `end` (or `error`) run event per call, real timestamps (VENDORS §2).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use llm_proxy_core::event::{RequestEvent, Termination};
use llm_proxy_platform::settings::LunarySinkSettings;
use serde_json::{json, Map, Value};

use super::http::{classify, client, send};
use super::{SharedEvent, Sink, SinkError};
use crate::error::DispatcherError;

pub const INGEST_PATH: &str = "/v1/runs/ingest";

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// When the call ended: `occurred_at + duration`, at least 1 ms after the start so Lunary
/// sorts `start` before `end`.
pub fn end_time(event: &RequestEvent) -> DateTime<Utc> {
    let micros = (event.duration_ms * 1000.0).round().max(1000.0) as i64;
    event.occurred_at + chrono::Duration::microseconds(micros)
}

/// Input messages: chat `messages`, Responses `input` (with `instructions`), else the body.
fn input(body: &Value) -> Value {
    if let Some(messages) = body.get("messages") {
        let mut messages = messages.clone();
        if let (Some(system), Some(list)) = (body.get("system"), messages.as_array_mut()) {
            list.insert(0, json!({"role": "system", "content": system}));
        }
        return messages;
    }
    if let Some(input) = body.get("input") {
        return input.clone();
    }
    if let Some(prompt) = body.get("prompt") {
        return prompt.clone();
    }
    body.clone()
}

/// The assistant output: chat `choices[0].message`, Anthropic `content`, Responses `output`.
fn output(body: &Value) -> Value {
    if let Some(message) = body.pointer("/choices/0/message") {
        return message.clone();
    }
    if let Some(content) = body.get("content").and_then(Value::as_array) {
        let text: String = content
            .iter()
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect();
        return json!({"role": "assistant", "content": text});
    }
    if let Some(output) = body.get("output") {
        return output.clone();
    }
    body.clone()
}

fn params(body: &Value) -> Value {
    let mut params = Map::new();
    for key in [
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "top_p",
        "stop",
        "stream",
        "tool_choice",
    ] {
        if let Some(v) = body.get(key) {
            params.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(params)
}

fn user_id(event: &RequestEvent, body: &Value) -> Option<String> {
    body.get("user")
        .or_else(|| body.get("safety_identifier"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| event.token_id.map(|t| t.to_string()))
}

fn failed(event: &RequestEvent) -> bool {
    event.status >= 400
        || matches!(
            event.termination,
            Termination::UpstreamError | Termination::Timeout
        )
}

/// The two run events of one call.
pub fn run_events(event: &RequestEvent) -> [Value; 2] {
    let request = event.request.body.value();
    let response = event.response.body.value();
    let run_id = event.id.to_string();
    let model = event.model.clone().unwrap_or_else(|| event.path.clone());
    let mut tags = vec![event.provider.clone()];
    if let Some(project) = event.project_id {
        tags.push(format!("project:{project}"));
    }
    let mut metadata = json!({
        "request_id": event.request_id,
        "provider": event.provider,
        "upstream": event.upstream,
        "path": event.path,
        "status": event.status,
        "stream": event.stream,
        "session_id": event.session.id,
        "session_seq": event.session.seq,
        "node": event.node,
    });
    if let Some(project) = event.project_id {
        metadata["project_id"] = json!(project);
    }
    if let Some(token) = event.token_id {
        metadata["token_id"] = json!(token);
    }
    let mut start = json!({
        "type": "llm",
        "event": "start",
        "runId": run_id,
        "parentRunId": null,
        "name": model,
        "timestamp": iso(event.occurred_at),
        "input": input(&request),
        "params": params(&request),
        "tags": tags,
        "metadata": metadata,
        "runtime": "llm-proxy",
    });
    if let Some(user) = user_id(event, &request) {
        start["userId"] = json!(user);
    }
    let end_at = iso(end_time(event));
    let end = if failed(event) {
        let message = response
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| event.error_code.clone())
            .unwrap_or_else(|| format!("HTTP {}", event.status));
        json!({
            "type": "llm",
            "event": "error",
            "runId": run_id,
            "timestamp": end_at,
            "error": {"message": message},
        })
    } else {
        let usage = event.usage.clone().unwrap_or_default();
        json!({
            "type": "llm",
            "event": "end",
            "runId": run_id,
            "timestamp": end_at,
            "output": output(&response),
            "tokensUsage": {
                "prompt": usage.prompt_tokens.unwrap_or(0),
                "completion": usage.completion_tokens.unwrap_or(0),
                "promptCached": usage.cached_tokens.unwrap_or(0),
            },
        })
    };
    [start, end]
}

/// The ingest body of a batch: `{"events": [start, end, start, end, …]}`.
pub fn lunary_events<E: Borrow<RequestEvent>>(batch: &[E]) -> Value {
    let events: Vec<Value> = batch.iter().flat_map(|e| run_events(e.borrow())).collect();
    json!({ "events": events })
}

pub struct LunarySink {
    url: String,
    key: String,
    client: awc::Client,
}

impl LunarySink {
    pub fn new(settings: LunarySinkSettings) -> Result<Self, DispatcherError> {
        let key = settings
            .key
            .as_ref()
            .map(|k| k.expose().to_owned())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| DispatcherError::SinkSetup {
                sink: "lunary",
                message: "sinks.lunary.key is not set".to_owned(),
            })?;
        Ok(Self {
            url: format!("{}{}", settings.url.trim_end_matches('/'), INGEST_PATH),
            key,
            client: client(Duration::from_millis(settings.timeout_ms)),
        })
    }
}

/// Batch indices whose run events Lunary reported as failed in a 200 answer.
fn rejected_indices(batch: &[SharedEvent], answer: &[u8]) -> (Vec<usize>, Vec<String>) {
    let Ok(body) = serde_json::from_slice::<Value>(answer) else {
        return (Vec::new(), Vec::new());
    };
    let index: HashMap<String, usize> = batch
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.to_string(), i))
        .collect();
    let mut rejected = Vec::new();
    let mut errors = Vec::new();
    for result in body
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if result.get("success").and_then(Value::as_bool) == Some(false) {
            let id = result.get("id").and_then(Value::as_str).unwrap_or_default();
            if let Some(&i) = index.get(id) {
                if !rejected.contains(&i) {
                    rejected.push(i);
                }
            }
            if let Some(e) = result.get("error").and_then(Value::as_str) {
                errors.push(e.to_owned());
            }
        }
    }
    (rejected, errors)
}

#[async_trait(?Send)]
impl Sink for LunarySink {
    fn name(&self) -> &'static str {
        "lunary"
    }

    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&lunary_events(batch))
            .map_err(|e| SinkError::permanent(format!("lunary: cannot encode: {e}")))?;
        let request = self
            .client
            .post(&self.url)
            .insert_header(("content-type", "application/json"))
            .insert_header(("authorization", format!("Bearer {}", self.key)));
        let answer = send(request, Bytes::from(body), "lunary ingest").await?;
        classify(&answer, "lunary ingest")?;
        let (rejected, errors) = rejected_indices(batch, &answer.body);
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Partial {
                rejected,
                message: format!("lunary rejected events: {}", errors.join("; ")),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use llm_proxy_testkit::fake_sinks::sample_event;

    #[test]
    fn start_and_end_share_a_run_and_keep_order() {
        let event = sample_event();
        let body = lunary_events(std::slice::from_ref(&event));
        let events = body["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["event"], "start");
        assert_eq!(events[1]["event"], "end");
        assert_eq!(events[0]["runId"], events[1]["runId"]);
        assert!(events[0]["timestamp"].as_str() < events[1]["timestamp"].as_str());
        assert_eq!(events[1]["tokensUsage"]["prompt"], 10);
        assert_eq!(events[0]["input"][0]["role"], "user");
        assert_eq!(events[1]["output"]["role"], "assistant");
    }

    #[test]
    fn failed_calls_end_with_an_error_event() {
        let mut event = sample_event();
        event.status = 500;
        let [_, end] = run_events(&event);
        assert_eq!(end["event"], "error");
    }
}
