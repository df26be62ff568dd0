//! The admin node's management API, as an operator (or the CLI) calls it.

use serde_json::{json, Value};

use crate::client::Reply;

/// Limits given to a token at creation.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenLimits {
    pub max_requests: Option<u64>,
    pub rate_limit_rpm: Option<u32>,
}

/// A token just created: its id and the secret shown once.
#[derive(Debug, Clone)]
pub struct TestToken {
    pub id: String,
    pub secret: String,
}

pub struct Management {
    base: String,
    token: String,
    client: awc::Client,
}

/// The upstream key every test project carries (the fake upstream accepts any).
pub const PROJECT_API_KEY: &str = "sk-proj-e2e-upstream-key-0001";

impl Management {
    pub fn new(base: String, token: String, client: awc::Client) -> Self {
        Self {
            base,
            token,
            client,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}/manage{path}", self.base);
        let request = match method {
            "POST" => self.client.post(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.get(url),
        }
        .insert_header(("authorization", format!("Bearer {}", self.token)));
        let sent = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        };
        Reply::from_send(sent).await
    }

    /// A project with an OpenAI key; returns its id.
    pub async fn project(&self) -> String {
        let name = format!("e2e-{}", uuid::Uuid::new_v4().simple());
        let reply = self
            .call(
                "POST",
                "/projects",
                Some(json!({"name": name, "api_key": PROJECT_API_KEY})),
            )
            .await;
        assert_eq!(reply.status, 201, "create project: {}", reply.text());
        id_of(&reply)
    }

    /// A token of `project_id`, valid for an hour.
    pub async fn token(&self, project_id: &str, limits: TokenLimits) -> TestToken {
        let reply = self
            .call(
                "POST",
                "/tokens",
                Some(json!({
                    "project_id": project_id,
                    "duration_minutes": 60,
                    "max_requests": limits.max_requests,
                    "rate_limit_rpm": limits.rate_limit_rpm,
                })),
            )
            .await;
        assert_eq!(reply.status, 201, "create token: {}", reply.text());
        let secret = reply
            .json()
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("token response without `token`: {}", reply.text()))
            .to_owned();
        TestToken {
            id: id_of(&reply),
            secret,
        }
    }

    /// `DELETE /manage/tokens/{id}`; returns once the 204 arrived.
    pub async fn revoke(&self, token_id: &str) {
        let reply = self
            .call("DELETE", &format!("/tokens/{token_id}"), None)
            .await;
        assert_eq!(reply.status, 204, "revoke token: {}", reply.text());
    }

    /// `GET /manage/tokens/{id}`.
    pub async fn get_token(&self, token_id: &str) -> Value {
        let reply = self.call("GET", &format!("/tokens/{token_id}"), None).await;
        assert_eq!(reply.status, 200, "get token: {}", reply.text());
        reply.json()
    }
}

fn id_of(reply: &Reply) -> String {
    reply
        .json()
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("response without `id`: {}", reply.text()))
        .to_owned()
}
