//! `llm-proxy audit list`.

use clap::Subcommand;
use serde_json::Value;

use super::client::{query, Api};
use super::output::{print, table, text, time};
use super::ClientOptions;

#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Audit events, newest first.
    List {
        /// e.g. `token.revoke`.
        #[arg(long)]
        action: Option<String>,
        /// `success` or `failure`.
        #[arg(long)]
        outcome: Option<String>,
        /// Project id.
        #[arg(long = "project")]
        project: Option<String>,
        /// Token id (`--token` is the management token).
        #[arg(long = "token-id")]
        token_id: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        request_id: Option<String>,
        /// RFC 3339 or YYYY-MM-DD.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
}

fn human(page: &Value) -> String {
    let rows: Vec<Vec<String>> = page["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    vec![
                        time(&e["timestamp"]),
                        text(&e["action"]),
                        text(&e["outcome"]),
                        text(&e["actor"]),
                        text(&e["project_id"]),
                        text(&e["token_id"]),
                        text(&e["id"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = table(
        &[
            "when", "action", "outcome", "actor", "project", "token", "id",
        ],
        &rows,
    );
    if page["pagination"]["has_more"] == true {
        let next = page["pagination"]["offset"].as_u64().unwrap_or(0)
            + page["pagination"]["limit"].as_u64().unwrap_or(0);
        out.push_str(&format!("… more: --offset {next}\n"));
    }
    out
}

pub async fn run_audit(command: AuditCommand, options: &ClientOptions) -> Result<(), String> {
    let api = Api::new(options)?;
    match command {
        AuditCommand::List {
            action,
            outcome,
            project,
            token_id,
            actor,
            request_id,
            since,
            until,
            limit,
            offset,
        } => {
            let path = format!(
                "/manage/audit{}",
                query(&[
                    ("action", action),
                    ("outcome", outcome),
                    ("project_id", project),
                    ("token_id", token_id),
                    ("actor", actor),
                    ("request_id", request_id),
                    ("since", since),
                    ("until", until),
                    ("limit", Some(limit.to_string())),
                    ("offset", Some(offset.to_string())),
                ])
            );
            let page = api.get(&path).await?;
            print(options.json, &page, human);
        }
    }
    Ok(())
}
