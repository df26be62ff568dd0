//! Budgets: how many LLM tokens (prompt + completion) and how much money a project or a token
//! may spend per calendar month (UTC) or in its lifetime, and what a stream does when its
//! client goes away.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::usage_cost::{nanos_to_usd, usd_to_nanos, NanoUsd};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// Calendar months in UTC; the budget starts afresh on the first.
    Month,
    /// Never resets.
    Lifetime,
}

impl BudgetPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Lifetime => "lifetime",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "month" => Some(Self::Month),
            "lifetime" => Some(Self::Lifetime),
            _ => None,
        }
    }

    /// The period `now` falls in.
    pub fn window(self, now: DateTime<Utc>) -> PeriodWindow {
        match self {
            Self::Lifetime => PeriodWindow {
                key: "life".to_owned(),
                start: None,
                resets_at: None,
            },
            Self::Month => {
                let first = |y: i32, m: u32| {
                    NaiveDate::from_ymd_opt(y, m, 1)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|d| d.and_utc())
                };
                let (y, m) = (now.year(), now.month());
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                PeriodWindow {
                    key: format!("{y:04}-{m:02}"),
                    start: first(y, m),
                    resets_at: first(ny, nm),
                }
            }
        }
    }
}

/// One period of a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodWindow {
    /// Names the period's counters: `2026-11` or `life`.
    pub key: String,
    /// Its first instant; `None` for a lifetime.
    pub start: Option<DateTime<Utc>>,
    /// When the next period starts; `None` for a lifetime.
    pub resets_at: Option<DateTime<Utc>>,
}

/// A hard cap on spend. At least one of the two limits is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub period: BudgetPeriod,
    /// Prompt plus completion tokens.
    pub max_tokens: Option<u64>,
    /// Shown and given in USD (`max_cost_usd`), held in nano-dollars.
    #[serde(
        rename = "max_cost_usd",
        serialize_with = "usd_out",
        deserialize_with = "usd_in",
        default
    )]
    pub max_cost_nano_usd: Option<NanoUsd>,
}

fn usd_out<S: Serializer>(nanos: &Option<NanoUsd>, s: S) -> Result<S::Ok, S::Error> {
    nanos.map(nanos_to_usd).serialize(s)
}

fn usd_in<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NanoUsd>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(usd) => usd_to_nanos(usd)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("max_cost_usd must be a non-negative amount")),
    }
}

/// Tokens and money, spent or reserved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    pub tokens: u64,
    pub cost_nano_usd: NanoUsd,
}

impl Spend {
    pub fn new(tokens: u64, cost_nano_usd: NanoUsd) -> Self {
        Self {
            tokens,
            cost_nano_usd,
        }
    }
}

/// What a stream does when its client disconnects before the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectPolicy {
    /// Stop reading the upstream at once (it stops generating, and billing, sooner).
    #[default]
    Cancel,
    /// Read the upstream to its end so the exact usage is known and recorded.
    Drain,
}

impl DisconnectPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Drain => "drain",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "cancel" => Some(Self::Cancel),
            "drain" => Some(Self::Drain),
            _ => None,
        }
    }
}

/// A project's spending rules, set on create and PATCH.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpendPolicy {
    pub budget: Option<Budget>,
    pub on_disconnect: DisconnectPolicy,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let w = BudgetPeriod::Month.window(now);
        assert_eq!(w.key, "2026-12");
        assert_eq!(
            w.start,
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(
            w.resets_at,
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        );
        let life = BudgetPeriod::Lifetime.window(now);
        assert_eq!(
            (life.key.as_str(), life.start, life.resets_at),
            ("life", None, None)
        );
    }

    #[test]
    fn budgets_speak_usd_on_the_wire() {
        let b = Budget {
            period: BudgetPeriod::Month,
            max_tokens: Some(1_000_000),
            max_cost_nano_usd: Some(25_500_000_000),
        };
        let v = serde_json::to_value(b).unwrap();
        assert_eq!(
            v,
            json!({"period": "month", "max_tokens": 1_000_000, "max_cost_usd": 25.5})
        );
        assert_eq!(serde_json::from_value::<Budget>(v).unwrap(), b);
        let tokens_only: Budget =
            serde_json::from_value(json!({"period": "lifetime", "max_tokens": 5})).unwrap();
        assert_eq!(tokens_only.max_cost_nano_usd, None);
        assert!(
            serde_json::from_value::<Budget>(json!({"period": "month", "max_cost_usd": -1.0}))
                .is_err()
        );
    }
}
