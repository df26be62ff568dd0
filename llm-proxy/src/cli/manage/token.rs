//! `llm-proxy token create|list|get|revoke|prune`.

use awc::http::Method;
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{query, segment, Api};
use super::output::{fields, print, table, text, time};
use super::ClientOptions;

#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Create a withering token; its secret is printed once.
    Create {
        /// Project id.
        #[arg(long)]
        project: String,
        /// Lifetime in minutes (1..=525600).
        #[arg(long, default_value_t = 1440)]
        duration_minutes: u32,
        /// Lifetime request cap.
        #[arg(long)]
        max_requests: Option<u64>,
        /// Requests per minute for this token.
        #[arg(long)]
        rate_limit_rpm: Option<u32>,
    },
    /// List tokens (secrets obfuscated).
    List {
        /// Only this project's tokens.
        #[arg(long)]
        project: Option<String>,
        /// Only active (`true`) or inactive (`false`) tokens.
        #[arg(long)]
        active: Option<bool>,
    },
    /// Show one token.
    Get { id: String },
    /// Revoke a token (idempotent), or every token of a project with `--project`.
    Revoke {
        #[arg(required_unless_present = "project")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        project: Option<String>,
    },
    /// Delete tokens that expired (or were deactivated) before a date, after confirming how many.
    Prune {
        /// YYYY-MM-DD (midnight UTC) or an RFC 3339 time; not in the future.
        #[arg(long, value_name = "DATE")]
        expired_before: String,
        /// Delete without asking (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

fn human_token(t: &Value) -> String {
    let max = match &t["max_requests"] {
        Value::Null => "unlimited".to_owned(),
        other => text(other),
    };
    fields(&[
        ("id", text(&t["id"])),
        ("project_id", text(&t["project_id"])),
        ("token", text(&t["token"])),
        ("active", text(&t["is_active"])),
        ("expires_at", time(&t["expires_at"])),
        ("requests", format!("{} / {max}", text(&t["request_count"]))),
        ("last_used_at", time(&t["last_used_at"])),
        ("created_at", time(&t["created_at"])),
    ])
}

fn human_created(t: &Value) -> String {
    format!(
        "{}\nThe token is shown only now; store it safely:\n{}\n",
        fields(&[
            ("id", text(&t["id"])),
            ("project_id", text(&t["project_id"])),
            ("expires_at", time(&t["expires_at"])),
            ("max_requests", text(&t["max_requests"])),
        ]),
        text(&t["token"])
    )
}

fn human_list(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    vec![
                        text(&t["id"]),
                        text(&t["project_id"]),
                        text(&t["token"]),
                        if t["is_active"] == true {
                            "active"
                        } else {
                            "inactive"
                        }
                        .to_owned(),
                        time(&t["expires_at"]),
                        text(&t["request_count"]),
                        time(&t["last_used_at"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(
        &[
            "id",
            "project",
            "token",
            "status",
            "expires",
            "requests",
            "last used",
        ],
        &rows,
    )
}

pub async fn run_token(command: TokenCommand, options: &ClientOptions) -> Result<(), String> {
    let api = Api::new(options)?;
    match command {
        TokenCommand::Create {
            project,
            duration_minutes,
            max_requests,
            rate_limit_rpm,
        } => {
            let mut body = json!({
                "project_id": segment(&project)?,
                "duration_minutes": duration_minutes,
            });
            if let Some(max) = max_requests {
                body["max_requests"] = json!(max);
            }
            if let Some(rpm) = rate_limit_rpm {
                body["rate_limit_rpm"] = json!(rpm);
            }
            let created = api
                .send(Method::POST, "/manage/tokens", Some(&body))
                .await?;
            print(options.json, &created, human_created);
        }
        TokenCommand::List { project, active } => {
            let path = format!(
                "/manage/tokens{}",
                query(&[
                    ("project_id", project),
                    ("active", active.map(|a| a.to_string())),
                ])
            );
            let list = api.get(&path).await?;
            print(options.json, &list, human_list);
        }
        TokenCommand::Get { id } => {
            let token = api
                .get(&format!("/manage/tokens/{}", segment(&id)?))
                .await?;
            print(options.json, &token, human_token);
        }
        TokenCommand::Revoke { id, project } => match (id, project) {
            (_, Some(project)) => {
                let path = format!("/manage/projects/{}/tokens/revoke", segment(&project)?);
                let result = api.send(Method::POST, &path, Some(&json!({}))).await?;
                print(options.json, &result, |r| {
                    format!("revoked {} token(s)\n", text(&r["revoked_count"]))
                });
            }
            (Some(id), None) => {
                let path = format!("/manage/tokens/{}", segment(&id)?);
                api.send(Method::DELETE, &path, None).await?;
                let token = api.get(&path).await?;
                print(options.json, &token, human_token);
            }
            (None, None) => return Err("give a token id or --project".to_owned()),
        },
        TokenCommand::Prune {
            expired_before,
            yes,
        } => super::prune::run(&api, options, &expired_before, yes).await?,
    }
    Ok(())
}
