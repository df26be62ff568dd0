//! Grafana Loki: `POST {url}/loki/api/v1/push`, JSON, gzip, low-cardinality labels; ids and
//! token counts stay in the line; long lines are cut with a marker (VENDORS §1).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::settings::LokiSinkSettings;
use serde_json::{json, Value};

use super::http::{classify, client, send};
use super::{SharedEvent, Sink, SinkError};

pub const PUSH_PATH: &str = "/loki/api/v1/push";
pub const TRUNCATION_MARKER: &str = "…[truncated by llm-proxy]";

/// One push request: its JSON body and the batch indices it carries.
#[derive(Debug, Clone)]
pub struct LokiPush {
    pub body: Vec<u8>,
    pub indices: Vec<usize>,
}

fn status_bucket(status: u16) -> String {
    match status {
        0 => "none".to_owned(),
        s => format!("{}xx", s / 100),
    }
}

fn label_value(value: &str) -> String {
    value.chars().take(128).collect()
}

/// The label set of an event: app, environment, provider, model, status_bucket, log_type.
fn labels(event: &RequestEvent, settings: &LokiSinkSettings) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("app", label_value(&settings.app)),
        ("environment", label_value(&settings.environment)),
        ("provider", label_value(&event.provider)),
        (
            "model",
            label_value(event.model.as_deref().unwrap_or("unknown")),
        ),
        ("status_bucket", status_bucket(event.status)),
        ("log_type", "request".to_owned()),
    ])
}

/// The log line (the event as JSON), at most `max` bytes: bodies are dropped first, then the
/// line is cut; either way it says so.
pub fn loki_line(event: &RequestEvent, max: usize) -> String {
    let full = serde_json::to_string(event).unwrap_or_default();
    if full.len() <= max {
        return full;
    }
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    for part in ["request", "response"] {
        if let Some(obj) = value.get_mut(part).and_then(Value::as_object_mut) {
            obj.insert("body".to_owned(), json!(TRUNCATION_MARKER));
            obj.insert("truncated".to_owned(), json!(true));
        }
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("line_truncated".to_owned(), json!(true));
    }
    let shorter = serde_json::to_string(&value).unwrap_or_default();
    if shorter.len() <= max {
        return shorter;
    }
    let budget = max.saturating_sub(TRUNCATION_MARKER.len());
    let mut cut = budget.min(shorter.len());
    while cut > 0 && !shorter.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", &shorter[..cut], TRUNCATION_MARKER)
}

/// Unix epoch nanoseconds as a string.
fn timestamp(event: &RequestEvent) -> String {
    let at = event.occurred_at;
    let ns = i128::from(at.timestamp()) * 1_000_000_000 + i128::from(at.timestamp_subsec_nanos());
    ns.to_string()
}

/// Builds the push bodies (uncompressed JSON) for a batch, each at most about
/// `max_push_bytes`.
pub fn loki_push<E: Borrow<RequestEvent>>(
    batch: &[E],
    settings: &LokiSinkSettings,
) -> Vec<LokiPush> {
    type Streams = BTreeMap<BTreeMap<&'static str, String>, Vec<[String; 2]>>;
    let mut pushes = Vec::new();
    let mut streams: Streams = BTreeMap::new();
    let mut indices = Vec::new();
    let mut size = 0usize;
    let flush = |streams: &mut Streams, indices: &mut Vec<usize>, pushes: &mut Vec<LokiPush>| {
        if indices.is_empty() {
            return;
        }
        let body = json!({
            "streams": std::mem::take(streams)
                .into_iter()
                .map(|(stream, values)| json!({"stream": stream, "values": values}))
                .collect::<Vec<_>>()
        });
        pushes.push(LokiPush {
            body: serde_json::to_vec(&body).unwrap_or_default(),
            indices: std::mem::take(indices),
        });
    };
    for (i, event) in batch.iter().enumerate() {
        let event = event.borrow();
        let line = loki_line(event, settings.max_line_bytes);
        let cost = line.len() + 64;
        if size + cost > settings.max_push_bytes && !indices.is_empty() {
            flush(&mut streams, &mut indices, &mut pushes);
            size = 0;
        }
        size += cost;
        streams
            .entry(labels(event, settings))
            .or_default()
            .push([timestamp(event), line]);
        indices.push(i);
    }
    flush(&mut streams, &mut indices, &mut pushes);
    pushes
}

pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

pub struct LokiSink {
    settings: LokiSinkSettings,
    url: String,
    client: awc::Client,
}

impl LokiSink {
    pub fn new(settings: LokiSinkSettings) -> Self {
        let url = format!("{}{}", settings.url.trim_end_matches('/'), PUSH_PATH);
        let client = client(Duration::from_millis(settings.timeout_ms));
        Self {
            settings,
            url,
            client,
        }
    }

    fn request(&self) -> awc::ClientRequest {
        let mut request = self
            .client
            .post(&self.url)
            .insert_header(("content-type", "application/json"));
        if self.settings.gzip {
            request = request.insert_header(("content-encoding", "gzip"));
        }
        if let Some(tenant) = &self.settings.tenant {
            request = request.insert_header(("x-scope-orgid", tenant.as_str()));
        }
        if let Some(token) = &self.settings.bearer_token {
            request =
                request.insert_header(("authorization", format!("Bearer {}", token.expose())));
        } else if let (Some(user), Some(password)) =
            (&self.settings.basic_user, &self.settings.basic_password)
        {
            let credentials = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", password.expose()));
            request = request.insert_header(("authorization", format!("Basic {credentials}")));
        }
        request
    }
}

#[async_trait(?Send)]
impl Sink for LokiSink {
    fn name(&self) -> &'static str {
        "loki"
    }

    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError> {
        let mut rejected = Vec::new();
        let mut messages = Vec::new();
        for push in loki_push(batch, &self.settings) {
            let body = if self.settings.gzip {
                gzip(&push.body)
                    .map_err(|e| SinkError::retryable(format!("loki: gzip failed: {e}")))?
            } else {
                push.body
            };
            let answer = send(self.request(), Bytes::from(body), "loki push").await?;
            match classify(&answer, "loki push") {
                Ok(()) => {}
                Err(SinkError::Permanent { message }) => {
                    // Loki keeps the valid entries of a 400; the rest can never be stored.
                    rejected.extend(push.indices);
                    messages.push(message);
                }
                Err(other) => return Err(other),
            }
        }
        if rejected.is_empty() {
            Ok(())
        } else if rejected.len() == batch.len() {
            Err(SinkError::permanent(messages.join("; ")))
        } else {
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
    fn long_lines_are_cut_with_a_marker() {
        let mut event = sample_event();
        event.request.body = json!("x".repeat(10_000)).into();
        let line = loki_line(&event, 3_000);
        assert!(line.len() <= 3_000, "{}", line.len());
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["line_truncated"], true);
        assert_eq!(parsed["request"]["body"], TRUNCATION_MARKER);
        assert_eq!(parsed["id"], event.id.to_string());

        let line = loki_line(&event, 100);
        assert!(line.len() <= 100);
        assert!(line.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn pushes_split_by_size_and_keep_ids_out_of_labels() {
        let settings = LokiSinkSettings {
            max_push_bytes: 3_000,
            ..LokiSinkSettings::default()
        };
        let batch: Vec<_> = (0..10).map(|_| sample_event()).collect();
        let pushes = loki_push(&batch, &settings);
        assert!(pushes.len() > 1);
        let all: Vec<usize> = pushes.iter().flat_map(|p| p.indices.clone()).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let body: Value = serde_json::from_slice(&pushes[0].body).unwrap();
        let stream = &body["streams"][0];
        let labels = stream["stream"].as_object().unwrap();
        let mut names: Vec<_> = labels.keys().cloned().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "app",
                "environment",
                "log_type",
                "model",
                "provider",
                "status_bucket"
            ]
        );
        assert_eq!(labels["status_bucket"], "2xx");
        assert!(stream["values"][0][0].is_string());
    }
}
