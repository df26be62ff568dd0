//! Small view helpers shared by the UI pages.

use chrono::{DateTime, Utc};
use llm_proxy_core::token::Token;
use maud::{html, Markup};

pub fn time(at: Option<DateTime<Utc>>) -> Markup {
    match at {
        Some(at) => {
            html! { time datetime=(at.to_rfc3339()) title=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M")) } }
        }
        None => html! { span class="muted" { "—" } },
    }
}

pub fn badge(label: &str, class: &str) -> Markup {
    html! { span class={ "badge badge-" (class) } { (label) } }
}

/// `active`, `expired` or `revoked`.
pub fn token_status(t: &Token, now: DateTime<Utc>) -> &'static str {
    let expired = t
        .expires_at
        .is_some_and(|exp| exp <= t.deactivated_at.unwrap_or(now));
    if t.is_active && !t.is_expired(now) {
        "active"
    } else if expired {
        "expired"
    } else {
        "revoked"
    }
}

pub fn token_badge(t: &Token, now: DateTime<Utc>) -> Markup {
    let status = token_status(t, now);
    let class = match status {
        "active" => "ok",
        "expired" => "warn",
        _ => "off",
    };
    badge(status, class)
}

pub fn project_badge(active: bool) -> Markup {
    if active {
        badge("active", "ok")
    } else {
        badge("inactive", "off")
    }
}

/// `1234567` as `1,234,567`.
pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first 8 characters of an id, for tables.
pub fn short_id(id: &uuid::Uuid) -> String {
    id.to_string()[..8].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(1000), "1,000");
        assert_eq!(number(1234567), "1,234,567");
    }
}
