//! `llm-proxy cache purge --key K | --prefix P | --project ID | --all`: drops response-cache
//! entries on every proxy node through `POST /manage/cache/purge`.

use awc::http::Method;
use clap::{ArgGroup, Subcommand};
use serde_json::{json, Value};

use super::client::Api;
use super::output::{fields, print, text};
use super::ClientOptions;

#[derive(Debug, Clone, Subcommand)]
pub enum CacheCommand {
    /// Purge cached answers; exactly one of the scopes.
    #[command(group(ArgGroup::new("scope").required(true).args(["key", "prefix", "project", "all"])))]
    Purge {
        /// One entry, by the key a response showed in `Cache-Status: …; key="…"`.
        #[arg(long)]
        key: Option<String>,
        /// Every entry whose key starts with this (keys start with the project id).
        #[arg(long)]
        prefix: Option<String>,
        /// Every entry of one project (its id).
        #[arg(long)]
        project: Option<String>,
        /// Everything.
        #[arg(long)]
        all: bool,
    },
}

fn body(key: Option<String>, prefix: Option<String>, project: Option<String>, all: bool) -> Value {
    match (key, prefix, project) {
        (Some(key), _, _) => json!({ "key": key }),
        (_, Some(prefix), _) => json!({ "prefix": prefix }),
        (_, _, Some(project)) => json!({ "project_id": project }),
        _ => json!({ "all": all }),
    }
}

fn human(answer: &Value) -> String {
    let scope = &answer["scope"];
    let what = match scope["by"].as_str() {
        Some("key") => format!("key {}", text(&scope["key"])),
        Some("prefix") => format!("keys starting with {}", text(&scope["prefix"])),
        Some("project") => format!("project {}", text(&scope["project_id"])),
        _ => "everything".to_owned(),
    };
    fields(&[("purge", what), ("status", text(&answer["status"]))])
}

pub async fn run_cache(command: CacheCommand, options: &ClientOptions) -> Result<(), String> {
    let api = Api::new(options)?;
    match command {
        CacheCommand::Purge {
            key,
            prefix,
            project,
            all,
        } => {
            let answer = api
                .send(
                    Method::POST,
                    "/manage/cache/purge",
                    Some(&body(key, prefix, project, all)),
                )
                .await?;
            print(options.json, &answer, human);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_becomes_its_body() {
        assert_eq!(
            body(Some("k".into()), None, None, false),
            json!({"key": "k"})
        );
        assert_eq!(
            body(None, Some("p:".into()), None, false),
            json!({"prefix": "p:"})
        );
        assert_eq!(
            body(None, None, Some("id".into()), false),
            json!({"project_id": "id"})
        );
        assert_eq!(body(None, None, None, true), json!({"all": true}));
    }
}
