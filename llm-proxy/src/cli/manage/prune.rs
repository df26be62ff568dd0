//! `llm-proxy token prune --expired-before DATE [--yes]`: counts the tokens that expired (or
//! were deactivated) before DATE, asks, then deletes exactly that many (the API refuses when
//! the count changed in between).

use std::io::{BufRead, IsTerminal, Write};

use awc::http::Method;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::client::{query, Api};
use super::output::{print, text};
use super::ClientOptions;

/// RFC 3339, or a date meaning its midnight UTC.
pub fn cutoff(value: &str) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| {
            format!("--expired-before wants a YYYY-MM-DD date or an RFC 3339 time, got `{value}`")
        })
}

pub async fn run(
    api: &Api<'_>,
    options: &ClientOptions,
    expired_before: &str,
    yes: bool,
) -> Result<(), String> {
    let before = cutoff(expired_before)?.to_rfc3339();
    let counted = api
        .get(&format!(
            "/manage/tokens/prunable{}",
            query(&[("expired_before", Some(before.clone()))])
        ))
        .await?;
    let count = counted["count"]
        .as_u64()
        .ok_or_else(|| format!("unexpected answer from the management API: {counted}"))?;
    let when = text(&counted["expired_before"]);
    if count == 0 {
        let nothing = json!({ "expired_before": counted["expired_before"], "deleted": 0 });
        print(options.json, &nothing, |_| {
            format!("no token expired or was deactivated before {when}; nothing to prune\n")
        });
        return Ok(());
    }
    if !options.json {
        println!("{count} token(s) expired or were deactivated before {when}");
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(format!(
                "{count} token(s) would be deleted; stdin is not a terminal, so pass --yes to confirm"
            ));
        }
        if !confirm(&format!("delete {count} token(s) for good? [y/N] "))? {
            return Err("aborted: nothing deleted".to_owned());
        }
    }
    let pruned = api
        .send(
            Method::POST,
            "/manage/tokens/prune",
            Some(&json!({ "expired_before": before, "expected_count": count })),
        )
        .await?;
    print(options.json, &pruned, |p| {
        format!("deleted {} token(s)\n", text(&p["deleted"]))
    });
    Ok(())
}

fn confirm(prompt: &str) -> Result<bool, String> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs() {
        assert_eq!(
            cutoff("2026-10-01").unwrap().to_rfc3339(),
            "2026-10-01T00:00:00+00:00"
        );
        assert!(cutoff("2026-10-01T12:00:00+02:00").is_ok());
        let e = cutoff("last month").unwrap_err();
        assert!(e.contains("--expired-before") && !e.contains('\n'), "{e}");
    }
}
