//! `GET /manage/usage/export` (same query as `GET /manage/usage`): the ledger as CSV, one row
//! per time bucket, project, token, provider and model, oldest first. At most
//! [`MAX_ROWS`] rows; a cut export says so in `x-llm-proxy-truncated: true`.

use actix_web::{web, HttpResponse};
use chrono::{SecondsFormat, Utc};
use llm_proxy_core::usage_cost::nanos_to_usd;
use llm_proxy_store::UsageCell;

use super::query::{UsageParams, UsageQuery};
use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::state::AdminState;

pub const MAX_ROWS: u32 = 100_000;

const HEADER: &str = "start,project_id,token_id,provider,model,requests,errors,prompt_tokens,\
                      completion_tokens,cached_tokens,total_tokens,cost_usd\n";

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    params: web::Query<UsageParams>,
) -> AdminResult<HttpResponse> {
    let query = params.parse(Utc::now())?;
    csv_response(&state, &query).await
}

/// The export as an attachment (shared with the admin UI's download).
pub async fn csv_response(state: &AdminState, query: &UsageQuery) -> AdminResult<HttpResponse> {
    let cells = state
        .store
        .usage_cells(&query.filter, query.granularity, MAX_ROWS + 1)
        .await?;
    let truncated = cells.len() > MAX_ROWS as usize;
    let body = csv(&cells[..cells.len().min(MAX_ROWS as usize)]);
    let name = format!(
        "llm-proxy-usage-{}-{}.csv",
        query.granularity.as_str(),
        Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("x-llm-proxy-truncated", truncated.to_string()))
        .body(body))
}

pub fn csv(cells: &[UsageCell]) -> String {
    let mut out = String::with_capacity(HEADER.len() + cells.len() * 160);
    out.push_str(HEADER);
    for c in cells {
        let g = &c.group;
        let t = &g.totals;
        let fields = [
            c.start.to_rfc3339_opts(SecondsFormat::Secs, true),
            g.project_id.to_string(),
            g.token_id.map(|t| t.to_string()).unwrap_or_default(),
            field(&g.provider),
            field(g.model.as_deref().unwrap_or("")),
            t.requests.to_string(),
            t.errors.to_string(),
            t.prompt_tokens.to_string(),
            t.completion_tokens.to_string(),
            t.cached_tokens.to_string(),
            t.total_tokens().to_string(),
            format!("{:.9}", nanos_to_usd(t.cost_nano_usd)),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do
/// not run it as a formula.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use llm_proxy_store::{UsageGroup, UsageTotals};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn rows_are_quoted_and_priced() {
        let project = Uuid::new_v4();
        let cell = UsageCell {
            start: Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap(),
            group: UsageGroup {
                project_id: project,
                token_id: None,
                provider: "openai".into(),
                model: Some("=cmd,\"x\"".into()),
                totals: UsageTotals {
                    requests: 2,
                    errors: 1,
                    prompt_tokens: 10,
                    completion_tokens: 5,
                    cached_tokens: 0,
                    cost_nano_usd: 1_500_000,
                },
            },
        };
        let text = csv(&[cell]);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("start,project_id,"));
        assert_eq!(
            lines.next().unwrap(),
            format!("2026-11-02T10:00:00Z,{project},,openai,\"'=cmd,\"\"x\"\"\",2,1,10,5,0,15,0.001500000")
        );
    }
}
