//! Requests, tokens and cost over time from the usage ledger, as the three charts the
//! dashboard, the project page and the usage page show.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use llm_proxy_core::usage_cost::nanos_to_usd;
use llm_proxy_store::{Granularity, UsagePoint};
use maud::{html, Markup};

use super::chart::{self, BarChart, Layer};

/// A chart window of whole buckets ending with the current one.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
}

impl Window {
    /// The last `count` hours or UTC days, the current one included.
    pub fn last(count: i64, granularity: Granularity, now: DateTime<Utc>) -> Self {
        let step = step(granularity);
        let current = now.duration_trunc(step).unwrap_or(now);
        Self {
            from: current - step * (count.max(1) as i32 - 1),
            to: current + step,
            granularity,
        }
    }

    pub fn buckets(&self) -> Vec<DateTime<Utc>> {
        chart::buckets(self.from, self.to, step(self.granularity))
    }
}

fn step(granularity: Granularity) -> TimeDelta {
    match granularity {
        Granularity::Hour => TimeDelta::hours(1),
        Granularity::Day => TimeDelta::days(1),
    }
}

/// Three charts over `window`; `id_prefix` keeps their ids unique on a page.
pub fn charts(id_prefix: &str, window: &Window, points: &[UsagePoint]) -> Markup {
    let buckets = window.buckets();
    let label_format = match window.granularity {
        Granularity::Hour => "%d %H:00",
        Granularity::Day => "%m-%d",
    };
    let series = |f: fn(&UsagePoint) -> f64| chart::dense(&buckets, points, |p| p.start, f);
    let requests = BarChart {
        id: &format!("{id_prefix}-requests"),
        title: "Requests",
        buckets: buckets.clone(),
        layers: vec![
            Layer {
                label: "ok",
                class: "layer-1",
                values: series(|p| p.totals.requests.saturating_sub(p.totals.errors) as f64),
            },
            Layer {
                label: "errors",
                class: "layer-err",
                values: series(|p| p.totals.errors as f64),
            },
        ],
        format: chart::compact,
        label_format,
    };
    let tokens = BarChart {
        id: &format!("{id_prefix}-tokens"),
        title: "LLM tokens",
        buckets: buckets.clone(),
        layers: vec![
            Layer {
                label: "prompt",
                class: "layer-1",
                values: series(|p| p.totals.prompt_tokens as f64),
            },
            Layer {
                label: "completion",
                class: "layer-2",
                values: series(|p| p.totals.completion_tokens as f64),
            },
        ],
        format: chart::compact,
        label_format,
    };
    let cost = BarChart {
        id: &format!("{id_prefix}-cost"),
        title: "Cost (USD)",
        buckets: buckets.clone(),
        layers: vec![Layer {
            label: "cost",
            class: "layer-cost",
            values: series(|p| nanos_to_usd(p.totals.cost_nano_usd)),
        }],
        format: chart::usd,
        label_format,
    };
    html! {
        div class="charts" {
            (chart::render(&requests))
            (chart::render(&tokens))
            (chart::render(&cost))
        }
    }
}
