//! What every sink received, as one record per delivery of an event, and tallies of those
//! records against the calls the test made (by `X-Request-ID`, counted by event id).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use llm_proxy_testkit::fake_sinks::FakeSink;
use serde_json::{json, Value};

use crate::file_sink;
use crate::sinks::Sinks;

pub const SINKS: [&str; 4] = ["file", "loki", "lunary", "helicone"];

/// One delivery of one event to one sink.
#[derive(Debug, Clone)]
pub struct Record {
    pub request_id: String,
    /// The sink's idempotency key: the event id (Helicone: the `Helicone-Request-Id` made from
    /// it).
    pub event_id: String,
    /// What the sink got for it.
    pub payload: Value,
}

/// Everything the four sinks hold right now.
#[derive(Debug, Clone)]
pub struct Received {
    pub file: Vec<Record>,
    pub loki: Vec<Record>,
    pub lunary: Vec<Record>,
    pub helicone: Vec<Record>,
}

impl Received {
    pub fn now(sinks: &Sinks, file_dir: &Path) -> Self {
        Self {
            file: file_sink::records(file_dir),
            loki: loki(&sinks.loki),
            lunary: lunary(&sinks.lunary),
            helicone: helicone(&sinks.helicone),
        }
    }

    pub fn of(&self, sink: &str) -> &[Record] {
        match sink {
            "file" => &self.file,
            "loki" => &self.loki,
            "lunary" => &self.lunary,
            "helicone" => &self.helicone,
            other => panic!("no sink {other}"),
        }
    }

    pub fn tally(&self, sink: &'static str, expected: &[String]) -> Tally {
        Tally::of(sink, self.of(sink), expected)
    }

    /// Whether every sink holds every expected call.
    pub fn complete(&self, expected: &[String]) -> bool {
        SINKS.iter().all(|s| self.tally(s, expected).complete())
    }

    /// Panics unless each sink holds every call, with no more duplicates than `republished`:
    /// entries the proxy put in the stream twice (a publish that timed out after Redis took it
    /// is spilled and replayed; at-least-once). Answers the tallies.
    pub fn assert_complete(&self, expected: &[String], republished: u64) -> Vec<Tally> {
        let tallies: Vec<Tally> = SINKS.iter().map(|s| self.tally(s, expected)).collect();
        for tally in &tallies {
            assert!(tally.complete(), "{tally}");
            assert!(
                tally.duplicates() as u64 <= republished,
                "{tally}: more duplicates than the {republished} events published twice"
            );
        }
        tallies
    }

    /// One line per sink.
    pub fn summary(&self, expected: &[String]) -> String {
        SINKS
            .iter()
            .map(|s| self.tally(s, expected).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One record per Loki line; the line is the event as JSON.
pub fn loki(sink: &FakeSink) -> Vec<Record> {
    sink.loki_entries()
        .into_iter()
        .map(|(labels, entry)| {
            let raw = entry[1].as_str().unwrap_or_default().to_owned();
            let line: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
            Record {
                request_id: text(&line["request_id"]),
                event_id: text(&line["id"]),
                payload: json!({"labels": labels, "ts": entry[0], "raw": raw, "line": line}),
            }
        })
        .collect()
}

/// One record per Lunary `start` run event, paired with the first `end`/`error` of its run.
pub fn lunary(sink: &FakeSink) -> Vec<Record> {
    let events = sink.lunary_events();
    events
        .iter()
        .filter(|e| e["event"] == "start")
        .map(|start| {
            let run = &start["runId"];
            let end = events
                .iter()
                .find(|e| e["runId"] == *run && e["event"] != "start")
                .cloned()
                .unwrap_or(Value::Null);
            Record {
                request_id: text(&start["metadata"]["request_id"]),
                event_id: text(run),
                payload: json!({"start": start, "end": end}),
            }
        })
        .collect()
}

/// One record per Helicone log.
pub fn helicone(sink: &FakeSink) -> Vec<Record> {
    sink.helicone_logs()
        .into_iter()
        .map(|log| {
            let meta = &log["providerRequest"]["meta"];
            Record {
                request_id: text(&meta["Helicone-Property-Request-Id"]),
                event_id: text(&meta["Helicone-Request-Id"]),
                payload: log,
            }
        })
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A sink's records of the expected calls, counted by event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub sink: &'static str,
    pub expected: usize,
    /// Records of expected calls, duplicates included.
    pub deliveries: usize,
    /// Distinct event ids among them.
    pub unique: usize,
    /// Expected calls without a record.
    pub missing: Vec<String>,
    /// Calls recorded under more than one event id (one call must be one event).
    pub split: Vec<String>,
}

impl Tally {
    pub fn of(sink: &'static str, records: &[Record], expected: &[String]) -> Self {
        let wanted: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        let mut ids: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut deliveries = 0;
        for record in records
            .iter()
            .filter(|r| wanted.contains(r.request_id.as_str()))
        {
            deliveries += 1;
            ids.entry(&record.request_id)
                .or_default()
                .insert(&record.event_id);
        }
        Self {
            sink,
            expected: wanted.len(),
            deliveries,
            unique: ids.values().map(BTreeSet::len).sum(),
            missing: wanted
                .iter()
                .filter(|id| !ids.contains_key(*id))
                .map(|id| (*id).to_owned())
                .collect(),
            split: ids
                .iter()
                .filter(|(_, events)| events.len() > 1)
                .map(|(id, _)| (*id).to_owned())
                .collect(),
        }
    }

    pub fn duplicates(&self) -> usize {
        self.deliveries - self.unique
    }

    /// Every expected call arrived, each as one event.
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.split.is_empty() && self.unique == self.expected
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {}/{} events, {} deliveries ({} duplicates)",
            self.sink,
            self.unique,
            self.expected,
            self.deliveries,
            self.duplicates()
        )?;
        if !self.missing.is_empty() {
            let shown: Vec<&str> = self.missing.iter().take(5).map(String::as_str).collect();
            write!(f, ", missing {} e.g. {shown:?}", self.missing.len())?;
        }
        if !self.split.is_empty() {
            write!(f, ", calls under several event ids: {:?}", self.split)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(request_id: &str, event_id: &str) -> Record {
        Record {
            request_id: request_id.to_owned(),
            event_id: event_id.to_owned(),
            payload: Value::Null,
        }
    }

    #[test]
    fn counts_duplicates_missing_and_split_calls() {
        let expected: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let records = [
            record("a", "1"),
            record("a", "1"),
            record("b", "2"),
            record("b", "3"),
            record("x", "9"),
        ];
        let tally = Tally::of("file", &records, &expected);
        assert_eq!(tally.deliveries, 4);
        assert_eq!(tally.unique, 3);
        assert_eq!(tally.duplicates(), 1);
        assert_eq!(tally.missing, ["c"]);
        assert_eq!(tally.split, ["b"]);
        assert!(!tally.complete());
        let whole = Tally::of("file", &records[..1], &expected[..1]);
        assert!(whole.complete(), "{whole}");
    }
}
