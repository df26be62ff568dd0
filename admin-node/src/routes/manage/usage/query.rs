//! The query string of the usage reads: `project_id`, `token_id`, `model`, `since`/`from`,
//! `until`/`to` (RFC 3339, a date, or a relative `7d`/`24h`/`30m`/`2w` before now) and
//! `group_by` (`hour` or `day`, default `day`).

use chrono::{DateTime, Utc};
use llm_proxy_store::{Granularity, UsageFilter};
use serde::Deserialize;

use crate::error::{AdminError, AdminResult};
use crate::validate;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    pub project_id: Option<String>,
    pub token_id: Option<String>,
    pub model: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub group_by: Option<String>,
}

/// A checked usage query.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub filter: UsageFilter,
    pub granularity: Granularity,
}

/// One of two synonyms; naming both is an error about the second.
fn either<'a>(
    a: (&'static str, Option<&'a str>),
    b: (&'static str, Option<&'a str>),
) -> AdminResult<Option<(&'static str, &'a str)>> {
    let set = |v: Option<&'a str>| v.filter(|v| !v.trim().is_empty());
    match (set(a.1), set(b.1)) {
        (Some(_), Some(_)) => Err(AdminError::invalid(
            b.0,
            format!("give either `{}` or `{}`, not both", a.0, b.0),
        )),
        (Some(v), None) => Ok(Some((a.0, v))),
        (None, Some(v)) => Ok(Some((b.0, v))),
        (None, None) => Ok(None),
    }
}

impl UsageParams {
    pub fn parse(&self, now: DateTime<Utc>) -> AdminResult<UsageQuery> {
        let bound = |named: Option<(&'static str, &str)>| {
            named
                .map(|(field, value)| validate::time_or_ago(field, value, now))
                .transpose()
        };
        let since = bound(either(
            ("since", self.since.as_deref()),
            ("from", self.from.as_deref()),
        )?)?;
        let until = bound(either(
            ("until", self.until.as_deref()),
            ("to", self.to.as_deref()),
        )?)?;
        if let (Some(since), Some(until)) = (since, until) {
            if until < since {
                let field = if self.to.is_some() { "to" } else { "until" };
                return Err(AdminError::invalid(
                    field,
                    format!("`{field}` must not be before the start of the window"),
                ));
            }
        }
        let granularity = match self.group_by.as_deref().map(str::trim) {
            None | Some("") => Granularity::Day,
            Some(value) => Granularity::parse(value).ok_or_else(|| {
                AdminError::invalid("group_by", "`group_by` must be `hour` or `day`")
            })?,
        };
        let model = self
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        Ok(UsageQuery {
            filter: UsageFilter {
                project_id: validate::opt_uuid("project_id", self.project_id.as_deref())?,
                token_id: validate::opt_uuid("token_id", self.token_id.as_deref())?,
                model,
                since,
                until,
            },
            granularity,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeDelta;

    use super::*;

    fn field(e: AdminError) -> String {
        e.to_api().param.unwrap_or_default()
    }

    #[test]
    fn synonyms_relative_times_and_grouping() {
        let now = Utc::now();
        let q = UsageParams {
            from: Some("7d".into()),
            group_by: Some("hour".into()),
            model: Some(" gpt-4o ".into()),
            ..Default::default()
        }
        .parse(now)
        .unwrap();
        assert_eq!(q.filter.since, Some(now - TimeDelta::days(7)));
        assert_eq!(q.filter.until, None);
        assert_eq!(q.granularity, Granularity::Hour);
        assert_eq!(q.filter.model.as_deref(), Some("gpt-4o"));
        assert_eq!(
            UsageParams::default().parse(now).unwrap().granularity,
            Granularity::Day
        );

        let both = UsageParams {
            since: Some("1d".into()),
            from: Some("2d".into()),
            ..Default::default()
        };
        assert_eq!(field(both.parse(now).unwrap_err()), "from");
        let backwards = UsageParams {
            from: Some("1d".into()),
            to: Some("2d".into()),
            ..Default::default()
        };
        assert_eq!(field(backwards.parse(now).unwrap_err()), "to");
        let bad = UsageParams {
            group_by: Some("week".into()),
            ..Default::default()
        };
        assert_eq!(field(bad.parse(now).unwrap_err()), "group_by");
    }
}
