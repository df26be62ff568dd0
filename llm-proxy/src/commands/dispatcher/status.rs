//! `llm-proxy dispatcher status [--metrics-url URL] [--json]`: per sink the delivery counters
//! of a running dispatcher (its `/metrics`) next to what Redis knows (consumers, pending, lag,
//! DLQ length).

use std::collections::BTreeMap;

use dispatcher_node::{SinkStatus, StatusReport};
use llm_proxy_platform::Settings;
use serde_json::{json, Value};

use super::counters::{self, Counters};
use crate::bootstrap;
use crate::cli::dispatcher::StatusArgs;
use crate::cli::manage::output::{print, table};
use crate::dispatcher_metrics;

pub fn run(args: StatusArgs) -> Result<(), String> {
    let settings = bootstrap::load(args.settings.load_options())?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    actix_rt::System::new().block_on(async move {
        let report = match settings.redis.url {
            Some(_) => Some(
                dispatcher_node::status(&settings)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let url = args
            .metrics_url
            .clone()
            .unwrap_or_else(|| default_metrics_url(&settings));
        let counters = match counters::fetch(&url).await {
            Ok(counters) => Ok(counters),
            Err(e) if args.metrics_url.is_some() => return Err(e),
            Err(e) if report.is_none() => {
                return Err(format!(
                    "{e}; without redis.url only a running dispatcher's counters can be shown (--metrics-url)"
                ))
            }
            Err(e) => Err(e),
        };
        let status = Status {
            report,
            metrics_url: url,
            counters,
        };
        print(args.json, &status.to_json(), |_| status.human());
        Ok(())
    })
}

/// This configuration's own server: the dispatcher role serves `/metrics`; `llm-proxy up`
/// (no Redis) serves the in-process dispatcher's under its own path.
fn default_metrics_url(settings: &Settings) -> String {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        other => other,
    };
    let path = if settings.redis.url.is_some() {
        "/metrics"
    } else {
        dispatcher_metrics::PATH
    };
    format!("http://{host}:{}{path}", settings.server.port)
}

struct Status {
    report: Option<StatusReport>,
    metrics_url: String,
    counters: Result<BTreeMap<String, Counters>, String>,
}

struct Row<'a> {
    sink: &'a str,
    redis: Option<&'a SinkStatus>,
    counters: Option<Counters>,
}

impl Status {
    /// Redis's sinks in their fixed order, then any other the dispatcher counts (`usage`).
    fn rows(&self) -> Vec<Row<'_>> {
        let counters = self.counters.as_ref().ok();
        let mut rows: Vec<Row<'_>> = self
            .report
            .iter()
            .flat_map(|r| r.sinks.iter())
            .map(|s| Row {
                sink: &s.sink,
                redis: Some(s),
                counters: counters.and_then(|c| c.get(&s.sink).copied()),
            })
            .collect();
        for (sink, c) in counters.into_iter().flatten() {
            if !rows.iter().any(|r| r.sink == sink) {
                rows.push(Row {
                    sink,
                    redis: None,
                    counters: Some(*c),
                });
            }
        }
        rows
    }

    fn to_json(&self) -> Value {
        let sinks: Vec<Value> = self
            .rows()
            .iter()
            .map(|row| {
                let c = row.counters;
                let r = row.redis;
                json!({
                    "sink": row.sink,
                    "enabled": r.is_none_or(|s| s.enabled),
                    "consumers": r.map(|s| s.consumers),
                    "delivered": c.map(|c| c.delivered),
                    "failed": c.map(|c| c.failed),
                    "retried": c.map(|c| c.retried),
                    "dead_lettered": c.map(|c| c.dead_lettered),
                    "dropped": c.map(|c| c.dropped),
                    "pending": r.map(|s| s.pending),
                    "lag": r.and_then(|s| s.lag),
                    "group_exists": r.map(|s| s.group_exists),
                    "dlq_length": r.map(|s| s.dlq_length),
                })
            })
            .collect();
        json!({
            "prefix": self.report.as_ref().map(|r| r.prefix.clone()),
            "streams": self.report.as_ref().map(|r| {
                r.streams
                    .iter()
                    .map(|(stream, length)| json!({"stream": stream, "length": length}))
                    .collect::<Vec<_>>()
            }),
            "metrics_url": self.metrics_url,
            "counters_error": self.counters.as_ref().err(),
            "sinks": sinks,
        })
    }

    fn human(&self) -> String {
        let mut out = String::new();
        if let Some(report) = &self.report {
            out.push_str(&format!("event streams (prefix {}):", report.prefix));
            for (stream, length) in &report.streams {
                out.push_str(&format!("  {stream} {length}"));
            }
            out.push('\n');
        }
        let dash = || "-".to_owned();
        let rows: Vec<Vec<String>> = self
            .rows()
            .iter()
            .map(|row| {
                let c = row.counters;
                let r = row.redis;
                let count =
                    |f: fn(&Counters) -> u64| c.as_ref().map_or_else(dash, |c| f(c).to_string());
                vec![
                    row.sink.to_owned(),
                    if r.is_none_or(|s| s.enabled) {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                    count(|c| c.delivered),
                    count(|c| c.failed),
                    count(|c| c.retried),
                    count(|c| c.dead_lettered),
                    r.map_or_else(dash, |s| s.pending.to_string()),
                    r.map_or_else(dash, |s| match (s.group_exists, s.lag) {
                        (false, _) => "no group".to_owned(),
                        (true, Some(lag)) => lag.to_string(),
                        (true, None) => "?".to_owned(),
                    }),
                    r.map_or_else(dash, |s| s.dlq_length.to_string()),
                    r.map_or_else(dash, |s| s.consumers.to_string()),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "sink",
                "enabled",
                "delivered",
                "failed",
                "retried",
                "dead-lettered",
                "pending",
                "lag",
                "dlq",
                "consumers",
            ],
            &rows,
        ));
        match &self.counters {
            Ok(_) => out.push_str(&format!("counters from {}\n", self.metrics_url)),
            Err(e) => out.push_str(&format!(
                "counters unavailable ({e}); point --metrics-url at a running dispatcher\n"
            )),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(counters: Result<BTreeMap<String, Counters>, String>) -> Status {
        Status {
            report: Some(StatusReport {
                prefix: "llmp".into(),
                streams: vec![("llmp:events:0".into(), 7)],
                sinks: vec![SinkStatus {
                    sink: "file".into(),
                    enabled: true,
                    group_exists: true,
                    consumers: 1,
                    pending: 2,
                    lag: Some(3),
                    dlq_length: 1,
                }],
            }),
            metrics_url: "http://127.0.0.1:9/metrics".into(),
            counters,
        }
    }

    #[test]
    fn joins_redis_state_and_counters() {
        let counters = BTreeMap::from([
            (
                "file".to_owned(),
                Counters {
                    delivered: 5,
                    ..Counters::default()
                },
            ),
            ("usage".to_owned(), Counters::default()),
        ]);
        let json = status(Ok(counters)).to_json();
        assert_eq!(json["sinks"][0]["sink"], "file");
        assert_eq!(json["sinks"][0]["delivered"], 5);
        assert_eq!(json["sinks"][0]["pending"], 2);
        assert_eq!(json["sinks"][0]["lag"], 3);
        assert_eq!(json["sinks"][1]["sink"], "usage");
        assert_eq!(json["sinks"][1]["pending"], Value::Null);

        let text = status(Err("cannot reach it".into())).human();
        let file = text.lines().find(|l| l.starts_with("file")).unwrap();
        let cells: Vec<&str> = file.split_whitespace().collect();
        assert_eq!(
            cells,
            ["file", "yes", "-", "-", "-", "-", "2", "3", "1", "1"]
        );
        assert!(text.contains("counters unavailable (cannot reach it)"));
    }
}
