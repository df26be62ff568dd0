//! `llm-proxy dispatcher replay --sink S [--from ID|--since TIME|--dlq]`: delivers entries
//! again, straight to one sink (the other sinks see nothing): from its DLQ (delivered entries
//! are removed from it) or from the event streams (backfill of a sink added later).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use llm_proxy_platform::redis::{connection_manager, decode_entry, KeySpace};
use llm_proxy_platform::Settings;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;

use crate::delivery::{Delivery, RetryPolicy};
use crate::error::DispatcherError;
use crate::metrics::SinkMetrics;
use crate::sink::{sink_spec, static_name, Sink};

/// Where a replay starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayFrom {
    /// Every entry of `{prefix}:events:dlq:{sink}`.
    Dlq,
    /// Stream entries from this id on (inclusive), on every shard.
    StreamId(String),
    /// Stream entries added at or after this time.
    Since(DateTime<Utc>),
}

impl FromStr for ReplayFrom {
    type Err = DispatcherError;

    /// `dlq`, a stream id (`1731400000000-0` or `1731400000000`) or an RFC 3339 time.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("dlq") {
            return Ok(Self::Dlq);
        }
        let is_id = {
            let mut parts = s.splitn(2, '-');
            let ms = parts.next().unwrap_or_default();
            !ms.is_empty()
                && ms.chars().all(|c| c.is_ascii_digit())
                && parts
                    .next()
                    .is_none_or(|seq| !seq.is_empty() && seq.chars().all(|c| c.is_ascii_digit()))
        };
        if is_id {
            return Ok(Self::StreamId(s.to_owned()));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Self::Since(t.with_timezone(&Utc)))
            .map_err(|_| {
                DispatcherError::ReplayFrom(format!(
                    "`{s}` is neither `dlq`, a stream id nor an RFC 3339 time"
                ))
            })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub sink: String,
    pub read: u64,
    pub delivered: u64,
    /// Not delivered (still in the DLQ for a DLQ replay).
    pub failed: u64,
    pub undecodable: u64,
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replayed to {}: {} read, {} delivered, {} failed, {} undecodable",
            self.sink, self.read, self.delivered, self.failed, self.undecodable
        )
    }
}

const PAGE: usize = 500;

/// Replays to the sink named `sink`, built from settings (it need not be enabled). Runs on the
/// current thread; call it inside an actix `System` (the HTTP sinks use awc).
pub async fn replay(
    settings: &Arc<Settings>,
    sink: &str,
    from: ReplayFrom,
) -> Result<ReplayReport, DispatcherError> {
    let name = static_name(sink)?;
    let built = (sink_spec(settings, name)?.factory)()?;
    replay_to(settings, &*built, from).await
}

/// Replays to an already built sink.
pub async fn replay_to(
    settings: &Settings,
    sink: &dyn Sink,
    from: ReplayFrom,
) -> Result<ReplayReport, DispatcherError> {
    let url = settings
        .redis
        .url
        .as_ref()
        .ok_or(DispatcherError::RedisNotConfigured)?;
    let mut conn = connection_manager(url.expose(), Duration::from_secs(10)).await?;
    let keys = KeySpace::from_settings(settings);
    let policy = RetryPolicy::from_settings(&settings.dispatcher);
    let mut report = ReplayReport {
        sink: sink.name().to_owned(),
        ..ReplayReport::default()
    };
    match from {
        ReplayFrom::Dlq => {
            let dlq = keys.dlq(sink.name());
            replay_key(
                &mut conn,
                &dlq,
                "-".to_owned(),
                true,
                sink,
                &policy,
                &mut report,
            )
            .await?;
        }
        ReplayFrom::StreamId(id) => {
            for stream in keys.event_streams() {
                replay_key(
                    &mut conn,
                    &stream,
                    id.clone(),
                    false,
                    sink,
                    &policy,
                    &mut report,
                )
                .await?;
            }
        }
        ReplayFrom::Since(at) => {
            let id = format!("{}-0", at.timestamp_millis().max(0));
            for stream in keys.event_streams() {
                replay_key(
                    &mut conn,
                    &stream,
                    id.clone(),
                    false,
                    sink,
                    &policy,
                    &mut report,
                )
                .await?;
            }
        }
    }
    Ok(report)
}

async fn replay_key(
    conn: &mut ConnectionManager,
    key: &str,
    mut start: String,
    delete_delivered: bool,
    sink: &dyn Sink,
    policy: &RetryPolicy,
    report: &mut ReplayReport,
) -> Result<(), DispatcherError> {
    let metrics = SinkMetrics::default();
    loop {
        let page: StreamRangeReply = redis::cmd("XRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(conn)
            .await?;
        let Some(last) = page.ids.last() else {
            return Ok(());
        };
        start = format!("({}", last.id);
        let full_page = page.ids.len() == PAGE;
        report.read += page.ids.len() as u64;
        let mut ids = Vec::new();
        let mut events: Vec<crate::sink::SharedEvent> = Vec::new();
        for entry in &page.ids {
            match decode_entry(&entry.map) {
                Ok(event) => {
                    ids.push(entry.id.clone());
                    events.push(std::sync::Arc::new(event));
                }
                Err(_) => report.undecodable += 1,
            }
        }
        let n = events.len();
        let mut delivery = Delivery::new(events, vec![0; n]);
        while let Some(wait) = delivery.attempt(sink, policy, &metrics).await {
            tokio::time::sleep(wait).await;
        }
        report.delivered += delivery.delivered.len() as u64;
        report.failed += delivery.dead.len() as u64;
        if delete_delivered && !delivery.delivered.is_empty() {
            let done: Vec<&str> = delivery
                .delivered
                .iter()
                .map(|&i| ids[i].as_str())
                .collect();
            let _: u64 = redis::cmd("XDEL")
                .arg(key)
                .arg(done)
                .query_async(conn)
                .await?;
        }
        if !full_page {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_from_parses() {
        assert_eq!("dlq".parse::<ReplayFrom>().ok(), Some(ReplayFrom::Dlq));
        assert_eq!(
            "1731400000000-3".parse::<ReplayFrom>().ok(),
            Some(ReplayFrom::StreamId("1731400000000-3".into()))
        );
        assert!(matches!(
            "2026-11-22T10:00:00Z".parse::<ReplayFrom>(),
            Ok(ReplayFrom::Since(_))
        ));
        assert!("yesterday".parse::<ReplayFrom>().is_err());
    }
}
