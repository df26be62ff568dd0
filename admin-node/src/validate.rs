//! Request input checked field by field, so every 400 names the field it is about.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use llm_proxy_core::budget::{Budget, BudgetPeriod, DisconnectPolicy};
use llm_proxy_core::usage_cost::usd_to_nanos;
use llm_proxy_core::SecretString;
use llm_proxy_platform::Settings;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{AdminError, AdminResult};

/// Longest token lifetime: one year.
pub const MAX_DURATION_MINUTES: i64 = 525_600;
pub const MAX_NAME_CHARS: usize = 200;

/// A JSON object body whose keys are checked against the ones an endpoint accepts.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    pub fn parse(body: Value, allowed: &[&str]) -> AdminResult<Self> {
        let Value::Object(map) = body else {
            return Err(AdminError::invalid(
                "body",
                "the body must be a JSON object",
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(AdminError::invalid(
                unknown,
                format!(
                    "unknown field `{unknown}`; expected one of: {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Self(map))
    }

    /// Present and not null.
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn string(&self, key: &str) -> AdminResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(AdminError::invalid(
                key,
                format!("`{key}` must be a string"),
            )),
        }
    }

    pub fn required_string(&self, key: &str) -> AdminResult<String> {
        self.string(key)?
            .ok_or_else(|| AdminError::invalid(key, format!("`{key}` is required")))
    }

    pub fn bool(&self, key: &str) -> AdminResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(AdminError::invalid(
                key,
                format!("`{key}` must be true or false"),
            )),
        }
    }

    pub fn integer(&self, key: &str) -> AdminResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| AdminError::invalid(key, format!("`{key}` must be an integer"))),
        }
    }

    /// Absent: `None`; `null`: `Some(None)` (clear); a number: `Some(Some(n))`, checked `>= 1`.
    pub fn nullable_positive(&self, key: &str) -> AdminResult<Option<Option<u64>>> {
        if !self.has(key) {
            return Ok(None);
        }
        match self.integer(key)? {
            None => Ok(Some(None)),
            Some(n) => Ok(Some(Some(positive(key, n)?))),
        }
    }

    /// `budget`: absent → `None`; `null` → `Some(None)` (remove); an object `{period,
    /// max_tokens?, max_cost_usd?}` with at least one limit → `Some(Some(budget))`.
    pub fn budget(&self, key: &str) -> AdminResult<Option<Option<Budget>>> {
        if !self.has(key) {
            return Ok(None);
        }
        let Some(value) = self.get(key) else {
            return Ok(Some(None));
        };
        let field = |name: &str| format!("{key}.{name}");
        let obj = JsonObject::parse(value.clone(), &["period", "max_tokens", "max_cost_usd"])
            .map_err(|e| match e {
                AdminError::InvalidField { field: f, message } if f != "body" => {
                    AdminError::invalid(&format!("{key}.{f}"), message)
                }
                _ => AdminError::invalid(
                    key,
                    format!(
                        "`{key}` must be an object {{period, max_tokens, max_cost_usd}} or null"
                    ),
                ),
            })?;
        let period = obj.string("period").map_err(|_| {
            AdminError::invalid(&field("period"), "`period` must be `month` or `lifetime`")
        })?;
        let period = period
            .as_deref()
            .and_then(BudgetPeriod::parse)
            .ok_or_else(|| {
                AdminError::invalid(&field("period"), "`period` must be `month` or `lifetime`")
            })?;
        let max_tokens = match obj.integer("max_tokens") {
            Ok(None) => None,
            Ok(Some(n)) => Some(positive(&field("max_tokens"), n)?),
            Err(_) => {
                return Err(AdminError::invalid(
                    &field("max_tokens"),
                    "`max_tokens` must be an integer",
                ))
            }
        };
        let max_cost_nano_usd = match obj.get("max_cost_usd") {
            None => None,
            Some(v) => Some(
                v.as_f64()
                    .and_then(usd_to_nanos)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        AdminError::invalid(
                            &field("max_cost_usd"),
                            "`max_cost_usd` must be a positive amount in USD",
                        )
                    })?,
            ),
        };
        if max_tokens.is_none() && max_cost_nano_usd.is_none() {
            return Err(AdminError::invalid(
                key,
                "a budget needs `max_tokens`, `max_cost_usd` or both",
            ));
        }
        Ok(Some(Some(Budget {
            period,
            max_tokens,
            max_cost_nano_usd,
        })))
    }

    /// `on_disconnect`: `cancel` or `drain`.
    pub fn disconnect_policy(&self, key: &str) -> AdminResult<Option<DisconnectPolicy>> {
        let invalid = || AdminError::invalid(key, format!("`{key}` must be `cancel` or `drain`"));
        match self.string(key).map_err(|_| invalid())? {
            None => Ok(None),
            Some(v) => DisconnectPolicy::parse(&v).map(Some).ok_or_else(invalid),
        }
    }

    pub fn string_map(&self, key: &str) -> AdminResult<Option<BTreeMap<String, String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(AdminError::invalid(
                        &format!("{key}.{k}"),
                        format!("`{key}.{k}` must be a string"),
                    )),
                })
                .collect::<AdminResult<_>>()
                .map(Some),
            Some(_) => Err(AdminError::invalid(
                key,
                format!("`{key}` must be an object of provider name to key"),
            )),
        }
    }
}

/// An integer `>= 1`.
pub fn positive(field: &str, n: i64) -> AdminResult<u64> {
    u64::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| AdminError::invalid(field, format!("`{field}` must be at least 1")))
}

/// Requests per minute: `1..=u32::MAX`.
pub fn rpm(field: &str, n: u64) -> AdminResult<u32> {
    u32::try_from(n).map_err(|_| AdminError::invalid(field, format!("`{field}` is too large")))
}

pub fn duration_minutes(n: i64) -> AdminResult<u32> {
    if !(1..=MAX_DURATION_MINUTES).contains(&n) {
        return Err(AdminError::invalid(
            "duration_minutes",
            format!("`duration_minutes` must be between 1 and {MAX_DURATION_MINUTES}"),
        ));
    }
    u32::try_from(n).map_err(|_| AdminError::invalid("duration_minutes", "out of range"))
}

pub fn project_name(name: &str) -> AdminResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::invalid("name", "`name` must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AdminError::invalid(
            "name",
            format!("`name` must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// `api_key` (for the default provider) and `provider_keys` merged; every provider must be
/// configured and every key non-empty.
pub fn provider_keys(
    settings: &Settings,
    api_key: Option<String>,
    provider_keys: Option<BTreeMap<String, String>>,
) -> AdminResult<BTreeMap<String, SecretString>> {
    let mut keys = BTreeMap::new();
    if let Some(key) = api_key {
        if key.trim().is_empty() {
            return Err(AdminError::invalid(
                "api_key",
                "`api_key` must not be empty",
            ));
        }
        keys.insert(
            settings.default_provider.clone(),
            SecretString::new(key.trim()),
        );
    }
    for (provider, key) in provider_keys.unwrap_or_default() {
        let field = format!("provider_keys.{provider}");
        if settings.provider(&provider).is_none() {
            let known: Vec<&str> = settings.providers.keys().map(String::as_str).collect();
            return Err(AdminError::invalid(
                &field,
                format!(
                    "unknown provider `{provider}`; configured: {}",
                    known.join(", ")
                ),
            ));
        }
        if key.trim().is_empty() {
            return Err(AdminError::invalid(
                &field,
                format!("`{field}` must not be empty"),
            ));
        }
        keys.insert(provider, SecretString::new(key.trim()));
    }
    Ok(keys)
}

pub fn uuid(field: &str, value: &str) -> AdminResult<Uuid> {
    Uuid::parse_str(value.trim())
        .map_err(|_| AdminError::invalid(field, format!("`{field}` must be a UUID")))
}

/// RFC 3339 (`2026-11-02T10:00:00Z`) or a date (`2026-11-02`, midnight UTC).
pub fn timestamp(field: &str, value: &str) -> AdminResult<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| {
            AdminError::invalid(
                field,
                format!("`{field}` must be an RFC 3339 timestamp or a YYYY-MM-DD date"),
            )
        })
}

/// A point in time as [`timestamp`] reads it, or `<n>m`, `<n>h`, `<n>d`, `<n>w` before `now`.
pub fn time_or_ago(field: &str, value: &str, now: DateTime<Utc>) -> AdminResult<DateTime<Utc>> {
    let value = value.trim();
    let amount = value
        .char_indices()
        .last()
        .and_then(|(split, unit)| Some((value[..split].parse::<i64>().ok()?, unit)));
    if let Some((n, unit)) = amount {
        let span = match unit {
            'm' => chrono::TimeDelta::try_minutes(n),
            'h' => chrono::TimeDelta::try_hours(n),
            'd' => chrono::TimeDelta::try_days(n),
            'w' => chrono::TimeDelta::try_weeks(n),
            _ => None,
        };
        if let Some(at) = span
            .filter(|_| n >= 0)
            .and_then(|s| now.checked_sub_signed(s))
        {
            return Ok(at);
        }
    }
    timestamp(field, value).map_err(|_| {
        AdminError::invalid(
            field,
            format!(
                "`{field}` must be an RFC 3339 timestamp, a YYYY-MM-DD date or a span before \
                 now such as 30m, 24h, 7d, 2w"
            ),
        )
    })
}

pub fn opt_uuid(field: &str, value: Option<&str>) -> AdminResult<Option<Uuid>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| uuid(field, v))
        .transpose()
}

pub fn opt_timestamp(field: &str, value: Option<&str>) -> AdminResult<Option<DateTime<Utc>>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| timestamp(field, v))
        .transpose()
}

pub fn opt_bool(field: &str, value: Option<&str>) -> AdminResult<Option<bool>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some("true") | Some("1") => Ok(Some(true)),
        Some("false") | Some("0") => Ok(Some(false)),
        Some(_) => Err(AdminError::invalid(
            field,
            format!("`{field}` must be true or false"),
        )),
    }
}

pub fn opt_u32(field: &str, value: Option<&str>) -> AdminResult<Option<u32>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| {
                AdminError::invalid(field, format!("`{field}` must be a non-negative integer"))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn field(e: AdminError) -> String {
        e.to_api().param.unwrap_or_default()
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let e = JsonObject::parse(json!({"nmae": "x"}), &["name"]).unwrap_err();
        assert_eq!(field(e), "nmae");
        let obj = JsonObject::parse(json!({"name": 3}), &["name"]).unwrap();
        assert_eq!(field(obj.string("name").unwrap_err()), "name");
        assert_eq!(
            field(JsonObject::parse(json!([1]), &[]).unwrap_err()),
            "body"
        );
    }

    #[test]
    fn duration_bounds() {
        assert!(duration_minutes(0).is_err());
        assert_eq!(duration_minutes(1).unwrap(), 1);
        assert_eq!(duration_minutes(525_600).unwrap(), 525_600);
        assert!(duration_minutes(525_601).is_err());
    }

    #[test]
    fn provider_keys_must_name_configured_providers() {
        let settings = Settings::default();
        let keys = provider_keys(&settings, Some("sk-abc".into()), None).unwrap();
        assert!(keys.contains_key("openai"));
        let e = provider_keys(
            &settings,
            None,
            Some(BTreeMap::from([("nope".to_owned(), "k".to_owned())])),
        )
        .unwrap_err();
        assert_eq!(field(e), "provider_keys.nope");
    }

    #[test]
    fn timestamps_and_dates() {
        assert!(timestamp("since", "2026-11-02").is_ok());
        assert!(timestamp("since", "2026-11-02T10:00:00Z").is_ok());
        assert_eq!(field(timestamp("since", "yesterday").unwrap_err()), "since");
    }

    #[test]
    fn budgets_are_checked_field_by_field() {
        let parse = |v: serde_json::Value| {
            JsonObject::parse(json!({ "budget": v }), &["budget"])
                .unwrap()
                .budget("budget")
        };
        let b = parse(json!({"period": "month", "max_tokens": 1000, "max_cost_usd": 2.5}))
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(b.period, BudgetPeriod::Month);
        assert_eq!(b.max_cost_nano_usd, Some(2_500_000_000));
        assert_eq!(parse(serde_json::Value::Null).unwrap(), Some(None));
        for (bad, at) in [
            (json!({"period": "week", "max_tokens": 1}), "budget.period"),
            (json!({"max_tokens": 1}), "budget.period"),
            (json!({"period": "month"}), "budget"),
            (
                json!({"period": "month", "max_tokens": 0}),
                "budget.max_tokens",
            ),
            (
                json!({"period": "month", "max_cost_usd": -1}),
                "budget.max_cost_usd",
            ),
            (
                json!({"period": "month", "max_tokens": 1, "limit": 2}),
                "budget.limit",
            ),
            (json!(5), "budget"),
        ] {
            assert_eq!(field(parse(bad.clone()).unwrap_err()), at, "{bad}");
        }
        let obj = JsonObject::parse(json!({"on_disconnect": "drain"}), &["on_disconnect"]).unwrap();
        assert_eq!(
            obj.disconnect_policy("on_disconnect").unwrap(),
            Some(DisconnectPolicy::Drain)
        );
        let obj = JsonObject::parse(json!({"on_disconnect": "stop"}), &["on_disconnect"]).unwrap();
        assert_eq!(
            field(obj.disconnect_policy("on_disconnect").unwrap_err()),
            "on_disconnect"
        );
    }

    #[test]
    fn spans_before_now() {
        let now = Utc::now();
        assert_eq!(
            time_or_ago("since", "7d", now).unwrap(),
            now - chrono::TimeDelta::days(7)
        );
        assert_eq!(
            time_or_ago("since", "90m", now).unwrap(),
            now - chrono::TimeDelta::minutes(90)
        );
        assert!(time_or_ago("since", "2026-11-02", now).is_ok());
        for bad in ["7y", "-1d", "d", "", "x7d", "7é"] {
            assert_eq!(
                field(time_or_ago("since", bad, now).unwrap_err()),
                "since",
                "{bad}"
            );
        }
    }
}
