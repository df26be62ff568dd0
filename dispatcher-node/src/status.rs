//! `llm-proxy dispatcher status`: per sink pending, lag, consumers and DLQ length, read from
//! Redis (the same numbers `/metrics` shows).

use std::fmt;

use llm_proxy_platform::redis::{connection_manager, KeySpace};
use llm_proxy_platform::Settings;
use redis::aio::ConnectionLike;
use redis::streams::StreamInfoGroupsReply;
use std::time::Duration;

use crate::error::DispatcherError;
use crate::metrics::Metrics;
use crate::sink::SINK_NAMES;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkStatus {
    pub sink: String,
    pub enabled: bool,
    /// Whether the sink's consumer group exists on every shard.
    pub group_exists: bool,
    pub consumers: usize,
    /// Read but not acknowledged.
    pub pending: u64,
    /// Not yet read by the group (`None` when Redis cannot tell).
    pub lag: Option<u64>,
    pub dlq_length: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub prefix: String,
    /// `(stream, length)` per shard.
    pub streams: Vec<(String, u64)>,
    pub sinks: Vec<SinkStatus>,
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "event streams (prefix {}):", self.prefix)?;
        for (stream, len) in &self.streams {
            writeln!(f, "  {stream}  {len} entries")?;
        }
        writeln!(
            f,
            "{:<10} {:<8} {:>9} {:>9} {:>9} {:>9}",
            "sink", "enabled", "consumers", "pending", "lag", "dlq"
        )?;
        for s in &self.sinks {
            let lag = match (s.group_exists, s.lag) {
                (false, _) => "no group".to_owned(),
                (true, Some(lag)) => lag.to_string(),
                (true, None) => "?".to_owned(),
            };
            writeln!(
                f,
                "{:<10} {:<8} {:>9} {:>9} {:>9} {:>9}",
                s.sink,
                if s.enabled { "yes" } else { "no" },
                s.consumers,
                s.pending,
                lag,
                s.dlq_length
            )?;
        }
        Ok(())
    }
}

async fn len<C: ConnectionLike + Send>(conn: &mut C, key: &str) -> Result<u64, DispatcherError> {
    Ok(redis::cmd("XLEN").arg(key).query_async(conn).await?)
}

/// Reads the status of every sink (enabled or not) from Redis.
pub async fn collect<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &KeySpace,
    enabled: &[&str],
) -> Result<StatusReport, DispatcherError> {
    let mut streams = Vec::new();
    let mut groups_per_stream = Vec::new();
    for stream in keys.event_streams() {
        let length = len(conn, &stream).await?;
        let groups: StreamInfoGroupsReply = if length == 0 {
            // XINFO on a missing key is an error; an empty stream may still have groups.
            let exists: bool = redis::cmd("EXISTS").arg(&stream).query_async(conn).await?;
            if exists {
                redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&stream)
                    .query_async(conn)
                    .await?
            } else {
                StreamInfoGroupsReply::default()
            }
        } else {
            redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&stream)
                .query_async(conn)
                .await?
        };
        streams.push((stream, length));
        groups_per_stream.push(groups);
    }
    let mut sinks = Vec::new();
    for name in SINK_NAMES {
        let group = keys.group(name);
        let mut status = SinkStatus {
            sink: name.to_owned(),
            enabled: enabled.contains(&name),
            group_exists: true,
            consumers: 0,
            pending: 0,
            lag: Some(0),
            dlq_length: len(conn, &keys.dlq(name)).await?,
        };
        for groups in &groups_per_stream {
            match groups.groups.iter().find(|g| g.name == group) {
                None => status.group_exists = false,
                Some(g) => {
                    status.consumers = status.consumers.max(g.consumers);
                    status.pending += g.pending as u64;
                    status.lag = match (status.lag, g.lag) {
                        (Some(a), Some(b)) => Some(a + b as u64),
                        _ => None,
                    };
                }
            }
        }
        sinks.push(status);
    }
    Ok(StatusReport {
        prefix: keys.prefix().to_owned(),
        streams,
        sinks,
    })
}

/// `llm-proxy dispatcher status`.
pub async fn status(settings: &Settings) -> Result<StatusReport, DispatcherError> {
    let url = settings
        .redis
        .url
        .as_ref()
        .ok_or(DispatcherError::RedisNotConfigured)?;
    let mut conn = connection_manager(url.expose(), Duration::from_secs(5)).await?;
    collect(
        &mut conn,
        &KeySpace::from_settings(settings),
        &settings.sinks.enabled(),
    )
    .await
}

/// Copies a report into the pending/lag/DLQ gauges.
pub fn record(report: &StatusReport, metrics: &Metrics) {
    for s in report.sinks.iter().filter(|s| s.enabled) {
        let m = metrics.sink(&s.sink);
        m.pending.set(s.pending as i64);
        m.lag.set(s.lag.map_or(-1, |l| l as i64));
        m.dlq_length.set(s.dlq_length as i64);
    }
}
