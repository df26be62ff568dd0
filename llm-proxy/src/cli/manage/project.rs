//! `llm-proxy project create|list|get|update|deactivate`.

use awc::http::Method;
use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::client::{query, segment, Api};
use super::output::{fields, print, table, text, time};
use super::ClientOptions;

#[derive(Debug, Clone, Subcommand)]
pub enum ProjectCommand {
    /// Create a project with its provider keys.
    Create {
        name: String,
        /// Key of the default provider.
        #[arg(long, env = "LLM_PROXY_PROJECT_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// `provider=key`, repeatable (`--provider-key anthropic=sk-ant-…`).
        #[arg(long = "provider-key", value_name = "PROVIDER=KEY")]
        provider_keys: Vec<String>,
        /// Requests per minute across the project's tokens.
        #[arg(long)]
        rate_limit_rpm: Option<u32>,
    },
    /// List projects.
    List {
        /// Only active (`true`) or inactive (`false`) projects.
        #[arg(long)]
        active: Option<bool>,
    },
    /// Show one project.
    Get { id: String },
    /// Change a project's name, keys, rate limit or active flag.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, hide_env_values = true)]
        api_key: Option<String>,
        #[arg(long = "provider-key", value_name = "PROVIDER=KEY")]
        provider_keys: Vec<String>,
        #[arg(long)]
        rate_limit_rpm: Option<u32>,
        /// Set `is_active` (false deactivates).
        #[arg(long)]
        active: Option<bool>,
        /// Revoke every active token of the project.
        #[arg(long)]
        revoke_tokens: bool,
    },
    /// Deactivate a project (soft delete) and revoke its tokens.
    Deactivate {
        id: String,
        /// Keep its tokens (the proxy refuses them anyway while the project is inactive).
        #[arg(long)]
        keep_tokens: bool,
    },
}

fn provider_keys(pairs: &[String]) -> Result<Option<Map<String, Value>>, String> {
    if pairs.is_empty() {
        return Ok(None);
    }
    pairs
        .iter()
        .map(|pair| {
            let (provider, key) = pair
                .split_once('=')
                .ok_or_else(|| format!("--provider-key wants PROVIDER=KEY, got `{pair}`"))?;
            Ok((
                provider.trim().to_owned(),
                Value::String(key.trim().to_owned()),
            ))
        })
        .collect::<Result<Map<_, _>, String>>()
        .map(Some)
}

fn human_project(p: &Value) -> String {
    let providers: Vec<String> = p["providers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(name, info)| format!("{name} {}", text(&info["key_hint"])))
                .collect()
        })
        .unwrap_or_default();
    let mut pairs = vec![
        ("id", text(&p["id"])),
        ("name", text(&p["name"])),
        ("active", text(&p["is_active"])),
        (
            "providers",
            if providers.is_empty() {
                "-".to_owned()
            } else {
                providers.join(", ")
            },
        ),
        ("rate_limit_rpm", text(&p["rate_limit_rpm"])),
        ("created_at", time(&p["created_at"])),
        ("updated_at", time(&p["updated_at"])),
    ];
    if !p["deactivated_at"].is_null() {
        pairs.push(("deactivated_at", time(&p["deactivated_at"])));
    }
    if !p["tokens_revoked"].is_null() {
        pairs.push(("tokens_revoked", text(&p["tokens_revoked"])));
    }
    fields(&pairs)
}

fn human_list(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    vec![
                        text(&p["id"]),
                        text(&p["name"]),
                        if p["is_active"] == true {
                            "active"
                        } else {
                            "inactive"
                        }
                        .to_owned(),
                        p["providers"]
                            .as_object()
                            .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
                            .unwrap_or_default(),
                        time(&p["created_at"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["id", "name", "status", "providers", "created"], &rows)
}

pub async fn run_project(command: ProjectCommand, options: &ClientOptions) -> Result<(), String> {
    let api = Api::new(options)?;
    match command {
        ProjectCommand::Create {
            name,
            api_key,
            provider_keys: pairs,
            rate_limit_rpm,
        } => {
            let mut body = json!({ "name": name });
            if let Some(key) = api_key {
                body["api_key"] = json!(key);
            }
            if let Some(keys) = provider_keys(&pairs)? {
                body["provider_keys"] = Value::Object(keys);
            }
            if let Some(rpm) = rate_limit_rpm {
                body["rate_limit_rpm"] = json!(rpm);
            }
            let project = api
                .send(Method::POST, "/manage/projects", Some(&body))
                .await?;
            print(options.json, &project, human_project);
        }
        ProjectCommand::List { active } => {
            let path = format!(
                "/manage/projects{}",
                query(&[("active", active.map(|a| a.to_string()))])
            );
            let list = api.get(&path).await?;
            print(options.json, &list, human_list);
        }
        ProjectCommand::Get { id } => {
            let project = api
                .get(&format!("/manage/projects/{}", segment(&id)?))
                .await?;
            print(options.json, &project, human_project);
        }
        ProjectCommand::Update {
            id,
            name,
            api_key,
            provider_keys: pairs,
            rate_limit_rpm,
            active,
            revoke_tokens,
        } => {
            let mut body = Map::new();
            if let Some(name) = name {
                body.insert("name".into(), json!(name));
            }
            if let Some(key) = api_key {
                body.insert("api_key".into(), json!(key));
            }
            if let Some(keys) = provider_keys(&pairs)? {
                body.insert("provider_keys".into(), Value::Object(keys));
            }
            if let Some(rpm) = rate_limit_rpm {
                body.insert("rate_limit_rpm".into(), json!(rpm));
            }
            if let Some(active) = active {
                body.insert("is_active".into(), json!(active));
            }
            if revoke_tokens {
                body.insert("revoke_tokens".into(), json!(true));
            }
            if body.is_empty() {
                return Err("nothing to update: pass --name, --api-key, --provider-key, --rate-limit-rpm, --active or --revoke-tokens".to_owned());
            }
            let path = format!("/manage/projects/{}", segment(&id)?);
            let project = api
                .send(Method::PATCH, &path, Some(&Value::Object(body)))
                .await?;
            print(options.json, &project, human_project);
        }
        ProjectCommand::Deactivate { id, keep_tokens } => {
            let path = format!("/manage/projects/{}", segment(&id)?);
            if keep_tokens {
                api.send(Method::PATCH, &path, Some(&json!({"is_active": false})))
                    .await?;
            } else {
                api.send(Method::DELETE, &path, None).await?;
            }
            let project = api.get(&path).await?;
            print(options.json, &project, human_project);
        }
    }
    Ok(())
}
