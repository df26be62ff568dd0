//! `llm-proxy usage [--project P] [--since 7d]`: the usage ledger through `GET /manage/usage`,
//! as a table per hour or day with totals and the models used (`--json`: the API's answer).

use clap::Args;
use serde_json::Value;

use super::client::{query, segment, Api};
use super::output::{print, table, text};
use super::ClientOptions;

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// Project id or name.
    #[arg(long)]
    pub project: Option<String>,
    /// Token id (`--token` is the management token).
    #[arg(long = "token-id")]
    pub token_id: Option<String>,
    /// Exact model name, as the upstream named it.
    #[arg(long)]
    pub model: Option<String>,
    /// Start of the window: `30m`, `24h`, `7d`, `2w` before now, a date or RFC 3339.
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// End of the window (exclusive); now when unset.
    #[arg(long)]
    pub until: Option<String>,
    /// One row per `day` (UTC) or `hour`.
    #[arg(long, default_value = "day", value_parser = ["day", "hour"])]
    pub group_by: String,
}

fn usd(value: &Value) -> String {
    match value.as_f64() {
        Some(0.0) => "$0".to_owned(),
        Some(v) if v < 0.01 => format!("${v:.4}"),
        Some(v) => format!("${v:.2}"),
        None => "-".to_owned(),
    }
}

fn usage_cells(usage: &Value) -> Vec<String> {
    vec![
        text(&usage["requests"]),
        text(&usage["errors"]),
        text(&usage["prompt_tokens"]),
        text(&usage["completion_tokens"]),
        text(&usage["total_tokens"]),
        usd(&usage["cost_usd"]),
    ]
}

const USAGE_HEADERS: [&str; 6] = [
    "requests",
    "errors",
    "prompt",
    "completion",
    "tokens",
    "cost",
];

fn human(report: &Value) -> String {
    let hourly = report["group_by"] == "hour";
    let bucket = |start: &Value| {
        let s = start.as_str().unwrap_or("");
        let len = if hourly { 16 } else { 10 };
        s.get(..len).unwrap_or(s).replace('T', " ")
    };
    let mut rows: Vec<Vec<String>> = report["series"]
        .as_array()
        .map(|points| {
            points
                .iter()
                .map(|p| {
                    let mut row = vec![bucket(&p["start"])];
                    row.extend(usage_cells(p));
                    row
                })
                .collect()
        })
        .unwrap_or_default();
    if !rows.is_empty() {
        let mut total = vec!["total".to_owned()];
        total.extend(usage_cells(&report["totals"]));
        rows.push(total);
    }
    let mut headers = vec![if hourly { "hour" } else { "day" }];
    headers.extend(USAGE_HEADERS);
    let mut out = table(&headers, &rows);

    let models: Vec<Vec<String>> = report["models"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .map(|m| {
                    let mut row = vec![text(&m["provider"]), text(&m["model"])];
                    row.extend(usage_cells(&m["usage"]));
                    row
                })
                .collect()
        })
        .unwrap_or_default();
    if !models.is_empty() {
        let mut headers = vec!["provider", "model"];
        headers.extend(USAGE_HEADERS);
        out.push('\n');
        out.push_str(&table(&headers, &models));
    }
    out
}

/// A project id as given, or the id of the project with that exact name.
async fn project_id(api: &Api<'_>, project: &str) -> Result<String, String> {
    if uuid::Uuid::parse_str(project.trim()).is_ok() {
        return Ok(segment(project)?.to_owned());
    }
    let projects = api.get("/manage/projects").await?;
    let matching: Vec<&Value> = projects
        .as_array()
        .or_else(|| projects["projects"].as_array())
        .map(|all| all.iter().filter(|p| p["name"] == project).collect())
        .unwrap_or_default();
    match matching.as_slice() {
        [one] => Ok(text(&one["id"])),
        [] => Err(format!("no project named `{project}`")),
        _ => Err(format!(
            "several projects are named `{project}`: give its id"
        )),
    }
}

pub async fn run_usage(args: UsageArgs, options: &ClientOptions) -> Result<(), String> {
    let api = Api::new(options)?;
    let project = match &args.project {
        Some(p) => Some(project_id(&api, p).await?),
        None => None,
    };
    let token_id = args
        .token_id
        .as_deref()
        .map(|t| segment(t).map(str::to_owned))
        .transpose()?;
    let path = format!(
        "/manage/usage{}",
        query(&[
            ("project_id", project),
            ("token_id", token_id),
            ("model", args.model),
            ("since", Some(args.since)),
            ("until", args.until),
            ("group_by", Some(args.group_by)),
        ])
    );
    let report = api.get(&path).await?;
    print(options.json, &report, human);
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_daily_table_with_totals_and_models() {
        let report = json!({
            "group_by": "day",
            "totals": {"requests": 3, "errors": 1, "prompt_tokens": 30, "completion_tokens": 6,
                       "total_tokens": 36, "cost_usd": 1.5},
            "series": [
                {"start": "2026-11-01T00:00:00Z", "requests": 1, "errors": 0, "prompt_tokens": 10,
                 "completion_tokens": 2, "total_tokens": 12, "cost_usd": 0.0004},
                {"start": "2026-11-02T00:00:00Z", "requests": 2, "errors": 1, "prompt_tokens": 20,
                 "completion_tokens": 4, "total_tokens": 24, "cost_usd": 1.4996}
            ],
            "models": [{"provider": "openai", "model": "gpt-4o", "usage":
                {"requests": 3, "errors": 1, "prompt_tokens": 30, "completion_tokens": 6,
                 "total_tokens": 36, "cost_usd": 1.5}}]
        });
        let out = human(&report);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("DAY"), "{out}");
        assert!(lines[1].starts_with("2026-11-01"), "{out}");
        assert!(lines[1].ends_with("$0.0004"), "{out}");
        assert!(lines[3].starts_with("total"), "{out}");
        assert!(lines[3].ends_with("$1.50"), "{out}");
        assert!(out.contains("gpt-4o"));
        assert_eq!(human(&json!({"series": []})), "(none)\n");
    }
}
