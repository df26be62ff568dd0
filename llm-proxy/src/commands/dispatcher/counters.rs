//! The per-sink delivery counters live in the dispatcher process: read them off its
//! `/metrics` (OpenMetrics text).

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub delivered: u64,
    pub failed: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub dropped: u64,
}

/// Counters per sink from a metrics page; sinks the page does not mention are absent.
pub fn parse(text: &str) -> BTreeMap<String, Counters> {
    let mut sinks: BTreeMap<String, Counters> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("llm_proxy_dispatcher_events_") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once("_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let Some(sink) = labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix("sink=\""))
            .and_then(|s| s.strip_suffix('"'))
        else {
            continue;
        };
        let Some(value) = value.split_whitespace().next().and_then(parse_number) else {
            continue;
        };
        let counters = sinks.entry(sink.to_owned()).or_default();
        match name {
            "delivered" => counters.delivered = value,
            "failed" => counters.failed = value,
            "retried" => counters.retried = value,
            "dead_lettered" => counters.dead_lettered = value,
            "dropped" => counters.dropped = value,
            _ => {}
        }
    }
    sinks
}

fn parse_number(text: &str) -> Option<u64> {
    text.parse::<u64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|v| v as u64))
}

/// Fetches and parses `url`; one line on failure.
pub async fn fetch(url: &str) -> Result<BTreeMap<String, Counters>, String> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(3))
        .finish();
    let mut res = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("{url} answered {}", res.status()));
    }
    let body = res
        .body()
        .limit(4 * 1024 * 1024)
        .await
        .map_err(|e| format!("cannot read {url}: {e}"))?;
    let sinks = parse(&String::from_utf8_lossy(&body));
    if sinks.is_empty() {
        return Err(format!("{url} shows no dispatcher counters"));
    }
    Ok(sinks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_node::Metrics;

    #[test]
    fn reads_what_the_dispatcher_encodes() {
        let metrics = Metrics::new();
        let file = metrics.sink("file");
        file.delivered.inc_by(12);
        file.retried.inc_by(2);
        file.dead_lettered.inc();
        metrics.sink("loki").failed.inc_by(3);
        let sinks = parse(&metrics.encode().unwrap());
        assert_eq!(
            sinks["file"],
            Counters {
                delivered: 12,
                failed: 0,
                retried: 2,
                dead_lettered: 1,
                dropped: 0
            }
        );
        assert_eq!(sinks["loki"].failed, 3);
        assert!(parse("# HELP x\nother_metric 1\n").is_empty());
    }
}
