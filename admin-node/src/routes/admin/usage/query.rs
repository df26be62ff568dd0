//! The usage page's filters: project, model, a range before now, and the bucket width.

use chrono::{DateTime, Utc};
use llm_proxy_store::{Granularity, UsageFilter};
use serde::Deserialize;

use crate::error::{AdminError, AdminResult};
use crate::routes::manage::usage::UsageQuery;
use crate::ui::usage_charts::Window;
use crate::validate;

/// The ranges offered, as (value, label, buckets, width).
pub const RANGES: &[(&str, &str, i64, Granularity)] = &[
    ("24h", "Last 24 hours", 24, Granularity::Hour),
    ("7d", "Last 7 days", 7, Granularity::Day),
    ("30d", "Last 30 days", 30, Granularity::Day),
    ("90d", "Last 90 days", 90, Granularity::Day),
];

#[derive(Debug, Default, Clone, Deserialize)]
pub struct PageQuery {
    pub project_id: Option<String>,
    pub token_id: Option<String>,
    pub model: Option<String>,
    pub range: Option<String>,
}

pub struct Parsed {
    pub query: UsageQuery,
    pub window: Window,
    pub range: &'static str,
}

impl PageQuery {
    pub fn parse(&self, now: DateTime<Utc>) -> AdminResult<Parsed> {
        let wanted = self.range.as_deref().map(str::trim).unwrap_or("30d");
        let (range, _, count, granularity) = RANGES
            .iter()
            .find(|r| r.0 == wanted)
            .copied()
            .ok_or_else(|| AdminError::invalid("range", "`range` must be 24h, 7d, 30d or 90d"))?;
        let window = Window::last(count, granularity, now);
        let model = self
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        let filter = UsageFilter {
            project_id: validate::opt_uuid("project_id", self.project_id.as_deref())?,
            token_id: validate::opt_uuid("token_id", self.token_id.as_deref())?,
            model,
            since: Some(window.from),
            until: Some(window.to),
        };
        Ok(Parsed {
            query: UsageQuery {
                filter,
                granularity,
            },
            window,
            range,
        })
    }

    /// The same filters as a query string (for the CSV link).
    pub fn query_string(&self, range: &str) -> String {
        let mut pairs = vec![("range", range.to_owned())];
        for (key, value) in [
            ("project_id", &self.project_id),
            ("token_id", &self.token_id),
            ("model", &self.model),
        ] {
            if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                pairs.push((key, v.to_owned()));
            }
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
