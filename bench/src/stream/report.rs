//! Percentiles over every stream of one run, as one JSON object.

use std::time::Duration;

use serde_json::{json, Value};

use super::StreamTiming;

#[derive(Debug)]
pub struct Report {
    value: Value,
}

impl Report {
    pub fn from_results(
        results: &[Result<StreamTiming, String>],
        peak_open: usize,
        elapsed: Duration,
        expect_events: usize,
    ) -> Self {
        let mut first = Vec::new();
        let mut gaps = Vec::new();
        let mut errors = 0usize;
        let mut short = 0usize;
        let mut coalesced = 0usize;
        let mut first_error = None;
        let (mut min_events, mut max_events) = (usize::MAX, 0usize);
        for result in results {
            match result {
                Ok(timing) => {
                    if expect_events > 0 && timing.events < expect_events {
                        short += 1;
                    }
                    min_events = min_events.min(timing.events);
                    max_events = max_events.max(timing.events);
                    coalesced += timing.coalesced;
                    first.extend(timing.first_event.map(ms));
                    gaps.extend(timing.gaps.iter().copied().map(ms));
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.clone());
                }
            }
        }
        let value = json!({
            "streams": results.len(),
            "errors": errors + short,
            "incomplete_streams": short,
            "first_error": first_error,
            "peak_open": peak_open,
            "elapsed_s": elapsed.as_secs_f64(),
            "events_min": if min_events == usize::MAX { 0 } else { min_events },
            "events_max": max_events,
            "coalesced_reads": coalesced,
            "ttfb_ms": percentiles(&mut first),
            "gap_ms": percentiles(&mut gaps),
        });
        Self { value }
    }

    pub fn to_json(&self) -> String {
        self.value.to_string()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p99, p99.9 and max by nearest rank; empty input gives nulls.
pub fn percentiles(values: &mut [f64]) -> Value {
    if values.is_empty() {
        return json!({"n": 0, "p50": null, "p99": null, "p999": null, "max": null});
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = (q * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    };
    json!({
        "n": values.len(),
        "p50": at(0.50),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": values[values.len() - 1],
    })
}
