//! Helicone custom logging: `POST {url}/custom/v1/log`, one log per call with
//! `providerRequest`, `providerResponse` and the real `timing` (VENDORS §3). A 200 whose body is
//! `{"error": …}` is a failed delivery.

use std::cell::RefCell;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::settings::HeliconeSinkSettings;
use serde_json::{json, Value};
use uuid::Uuid;

use super::http::{classify, client, send};
use super::lunary::end_time;
use super::recent::RecentIds;
use super::{SharedEvent, Sink, SinkError};
use crate::error::DispatcherError;

pub const LOG_PATH: &str = "/custom/v1/log";
/// Event ids delivered recently; a retried batch skips them.
const RECENT_CAPACITY: usize = 20_000;

fn time(at: DateTime<Utc>) -> Value {
    let ms = at.timestamp_millis().max(0);
    json!({"seconds": ms / 1000, "milliseconds": ms % 1000})
}

fn as_object(value: Value) -> Value {
    match value {
        Value::Object(_) => value,
        Value::Null => json!({}),
        other => json!({ "body": other }),
    }
}

/// Helicone wants a v1–v5 request id; this v4-shaped id keeps every information-bearing bit of
/// the event's UUIDv7, so a re-sent log carries the same id.
pub fn helicone_request_id(event_id: Uuid) -> Uuid {
    uuid::Builder::from_random_bytes(*event_id.as_bytes()).into_uuid()
}

/// The log body of one call.
pub fn helicone_log(event: &RequestEvent) -> Value {
    let mut meta = json!({
        "Helicone-Request-Id": helicone_request_id(event.id).to_string(),
        "Helicone-Session-Id": if event.session.id.is_empty() { event.request_id.clone() } else { event.session.id.clone() },
        "Helicone-Session-Path": format!("/{}", event.provider),
        "Helicone-Session-Name": if event.session.source.is_empty() { "llm-proxy".to_owned() } else { event.session.source.clone() },
        "Helicone-Property-Provider": event.provider,
        "Helicone-Property-Request-Id": event.request_id,
        "Helicone-Property-Node": event.node,
    });
    if let Some(project) = event.project_id {
        meta["Helicone-Property-Project"] = json!(project.to_string());
    }
    if let Some(token) = event.token_id {
        meta["Helicone-User-Id"] = json!(token.to_string());
    }
    let mut response_json = as_object(event.response.body.value());
    if response_json.get("usage").is_none() {
        if let (Some(usage), Some(obj)) = (&event.usage, response_json.as_object_mut()) {
            obj.insert(
                "usage".to_owned(),
                json!({
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.total_tokens,
                }),
            );
        }
    }
    let mut request_json = as_object(event.request.body.value());
    if request_json.get("model").is_none() {
        if let (Some(model), Some(obj)) = (&event.model, request_json.as_object_mut()) {
            obj.insert("model".to_owned(), json!(model));
        }
    }
    let mut timing = json!({
        "startTime": time(event.occurred_at),
        "endTime": time(end_time(event)),
    });
    if let Some(ttfb) = event.ttfb_ms {
        timing["timeToFirstToken"] = json!(ttfb.round() as u64);
    }
    json!({
        "providerRequest": {
            "url": format!("https://{}{}", event.upstream, event.path),
            "json": request_json,
            "meta": meta,
        },
        "providerResponse": {
            "status": event.status,
            "headers": event.response.headers,
            "json": response_json,
        },
        "timing": timing,
    })
}

pub struct HeliconeSink {
    url: String,
    key: String,
    concurrency: usize,
    client: awc::Client,
    recent: RefCell<RecentIds>,
}

impl HeliconeSink {
    pub fn new(settings: HeliconeSinkSettings) -> Result<Self, DispatcherError> {
        let key = settings
            .key
            .as_ref()
            .map(|k| k.expose().to_owned())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| DispatcherError::SinkSetup {
                sink: "helicone",
                message: "sinks.helicone.key is not set".to_owned(),
            })?;
        Ok(Self {
            url: format!("{}{}", settings.url.trim_end_matches('/'), LOG_PATH),
            key,
            concurrency: settings.concurrency.max(1),
            client: client(Duration::from_millis(settings.timeout_ms)),
            recent: RefCell::new(RecentIds::new(RECENT_CAPACITY)),
        })
    }

    fn remember(&self, id: Uuid) {
        self.recent.borrow_mut().remember(id);
    }

    async fn log_one(&self, event: &RequestEvent) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&helicone_log(event))
            .map_err(|e| SinkError::permanent(format!("helicone: cannot encode: {e}")))?;
        let request = self
            .client
            .post(&self.url)
            .insert_header(("content-type", "application/json"))
            .insert_header(("authorization", format!("Bearer {}", self.key)));
        let answer = send(request, Bytes::from(body), "helicone log").await?;
        classify(&answer, "helicone log")?;
        // 200 with `{"error": …}`: storing failed downstream.
        if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&answer.body) {
            if let Some(error) = obj.get("error") {
                return Err(SinkError::retryable(format!(
                    "helicone log: 200 with error: {error}"
                )));
            }
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl Sink for HeliconeSink {
    fn name(&self) -> &'static str {
        "helicone"
    }

    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError> {
        let todo: Vec<(usize, &SharedEvent)> = {
            let recent = self.recent.borrow();
            batch
                .iter()
                .enumerate()
                .filter(|(_, e)| !recent.contains(&e.id))
                .collect()
        };
        let results: Vec<(usize, Uuid, Result<(), SinkError>)> = stream::iter(todo)
            .map(|(i, event)| async move { (i, event.id, self.log_one(event).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut rejected = Vec::new();
        let mut retry: Option<SinkError> = None;
        let mut messages = Vec::new();
        for (i, id, result) in results {
            match result {
                Ok(()) => self.remember(id),
                Err(SinkError::Permanent { message }) => {
                    rejected.push(i);
                    messages.push(message);
                }
                Err(e) => retry = Some(e),
            }
        }
        if let Some(e) = retry {
            return Err(e);
        }
        if rejected.is_empty() {
            Ok(())
        } else if rejected.len() == batch.len() {
            Err(SinkError::permanent(messages.join("; ")))
        } else {
            rejected.sort_unstable();
            Err(SinkError::Partial {
                rejected,
                message: messages.join("; "),
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
    fn log_has_the_documented_shape_and_real_timing() {
        let event = sample_event();
        let log = helicone_log(&event);
        assert!(log["providerRequest"]["url"].is_string());
        assert!(log["providerRequest"]["meta"].is_object());
        assert_eq!(log["providerResponse"]["status"], 200);
        assert_eq!(
            log["providerResponse"]["json"]["usage"]["prompt_tokens"],
            10
        );
        let start = &log["timing"]["startTime"];
        let end = &log["timing"]["endTime"];
        let ms =
            |t: &Value| t["seconds"].as_i64().unwrap() * 1000 + t["milliseconds"].as_i64().unwrap();
        assert!(ms(end) > ms(start));
        let id: Uuid = log["providerRequest"]["meta"]["Helicone-Request-Id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(id, helicone_request_id(event.id));
    }
}
