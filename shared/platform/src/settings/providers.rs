//! Provider declarations: where a provider lives and what the gateway lets through to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SettingsError;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    /// `scheme://host[:port]`; the client's path is appended unchanged.
    pub base_url: String,
    /// How the project's key is sent upstream.
    pub auth: AuthStyle,
    /// Path prefixes clients may call, e.g. `/v1/chat/completions`. Empty allows all.
    pub allowed_endpoints: Vec<String>,
    pub allowed_methods: Vec<String>,
    /// Globs over the JSON body's `model`; empty allows all.
    pub allowed_models: Vec<String>,
    /// Globs over other top-level JSON body parameters, e.g. `{"service_tier": ["default"]}`.
    pub allowed_params: BTreeMap<String, Vec<String>>,
    /// Browser origins allowed to call (CORS); empty means browsers are not served.
    pub allowed_origins: Vec<String>,
    /// Hosts reachable through `/{provider}/{host}/{rest}`.
    pub allowed_upstreams: Vec<String>,
    pub connect_timeout_ms: u64,
    pub first_byte_timeout_ms: u64,
    /// Longest silence between two chunks of a streamed answer.
    pub idle_timeout_ms: u64,
    /// How long an upstream connection may sit idle in the pool and still be reused; 0 never
    /// reuses one. Keep it below the upstream's own keep-alive, or the upstream closes idle
    /// connections just as the gateway sends on them.
    pub pool_idle_timeout_ms: u64,
    /// Error bodies on this provider's routes use Anthropic's envelope.
    pub anthropic_errors: bool,
    /// Let host names of this provider resolve to loopback, private, link-local or
    /// unspecified addresses. Off, such a name is refused (SSRF, DNS rebinding); IP literals
    /// in `base_url` and `allowed_upstreams` are always reachable, being named explicitly.
    pub allow_private_network: bool,
    /// Requests in flight to this provider at once, on this node; more wait up to
    /// `first_byte_timeout_ms`, then get 503 `upstream_unavailable`.
    pub max_concurrent_requests: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>` (OpenAI and compatibles).
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKey,
    /// No credential upstream (a local vLLM, Ollama or llama.cpp server). The project still
    /// needs a key entry for the provider (any value: it is never sent), which is what lets
    /// its tokens call it.
    None,
}

/// Below the 5 s keep-alive of uvicorn (vLLM), Node.js and Apache, the shortest common ones.
pub const DEFAULT_POOL_IDLE_MS: u64 = 4_000;

/// OpenAI's and Anthropic's front ends keep idle connections 60 s or more.
const CLOUD_POOL_IDLE_MS: u64 = 30_000;

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            auth: AuthStyle::Bearer,
            allowed_endpoints: Vec::new(),
            allowed_methods: ["GET", "POST", "DELETE", "OPTIONS"]
                .map(String::from)
                .to_vec(),
            allowed_models: Vec::new(),
            allowed_params: BTreeMap::new(),
            allowed_origins: Vec::new(),
            allowed_upstreams: Vec::new(),
            connect_timeout_ms: 5_000,
            first_byte_timeout_ms: 120_000,
            idle_timeout_ms: 120_000,
            pool_idle_timeout_ms: DEFAULT_POOL_IDLE_MS,
            anthropic_errors: false,
            allow_private_network: false,
            max_concurrent_requests: 1024,
        }
    }
}

pub fn default_providers() -> BTreeMap<String, ProviderSettings> {
    let openai = ProviderSettings {
        base_url: "https://api.openai.com".to_owned(),
        allowed_endpoints: [
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/responses",
            "/v1/embeddings",
            "/v1/models",
            "/v1/moderations",
            "/v1/images",
            "/v1/audio",
            "/v1/files",
            "/v1/batches",
        ]
        .map(String::from)
        .to_vec(),
        pool_idle_timeout_ms: CLOUD_POOL_IDLE_MS,
        ..ProviderSettings::default()
    };
    let anthropic = ProviderSettings {
        base_url: "https://api.anthropic.com".to_owned(),
        auth: AuthStyle::XApiKey,
        allowed_endpoints: ["/v1/messages", "/v1/models", "/v1/complete"]
            .map(String::from)
            .to_vec(),
        anthropic_errors: true,
        pool_idle_timeout_ms: CLOUD_POOL_IDLE_MS,
        ..ProviderSettings::default()
    };
    BTreeMap::from([
        ("openai".to_owned(), openai),
        ("anthropic".to_owned(), anthropic),
    ])
}

impl ProviderSettings {
    pub fn validate(&self, name: &str) -> Result<(), SettingsError> {
        let key = format!("providers.{name}.base_url");
        let rest = self
            .base_url
            .strip_prefix("https://")
            .or_else(|| self.base_url.strip_prefix("http://"))
            .ok_or_else(|| SettingsError::invalid(&key, "must start with http:// or https://"))?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(SettingsError::invalid(
                &key,
                "must be scheme://host[:port] with no path (the client's path is appended)",
            ));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            || name.is_empty()
            || name == "v1"
            || name == "manage"
            || name == "admin"
        {
            return Err(SettingsError::invalid(
                &format!("providers.{name}"),
                "provider names are lower-case [a-z0-9_-] and not v1, manage or admin",
            ));
        }
        for method in &self.allowed_methods {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(SettingsError::invalid(
                    &format!("providers.{name}.allowed_methods"),
                    &format!("`{method}` is not an upper-case HTTP method"),
                ));
            }
        }
        for endpoint in &self.allowed_endpoints {
            if !endpoint.starts_with('/') {
                return Err(SettingsError::invalid(
                    &format!("providers.{name}.allowed_endpoints"),
                    &format!("`{endpoint}` must start with /"),
                ));
            }
        }
        if self.max_concurrent_requests == 0 {
            return Err(SettingsError::invalid(
                &format!("providers.{name}.max_concurrent_requests"),
                "must be greater than 0",
            ));
        }
        if self.connect_timeout_ms == 0
            || self.first_byte_timeout_ms == 0
            || self.idle_timeout_ms == 0
        {
            return Err(SettingsError::invalid(
                &format!("providers.{name}"),
                "timeouts must be greater than 0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod auth_style_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn provider(toml: &str) -> ProviderSettings {
        config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap()
    }

    #[test]
    fn passthrough_providers_name_their_auth_header_style() {
        for (style, want) in [
            ("bearer", AuthStyle::Bearer),
            ("x-api-key", AuthStyle::XApiKey),
            ("api-key", AuthStyle::ApiKey),
            ("none", AuthStyle::None),
        ] {
            let p = provider(&format!(
                "base_url = \"http://127.0.0.1:8000\"\nauth = \"{style}\""
            ));
            assert_eq!(p.auth, want, "{style}");
            assert!(p.validate("local").is_ok());
        }
        let azure = provider(
            "base_url = \"https://shop-eu.openai.azure.com\"\nauth = \"api-key\"\n\
             allowed_endpoints = [\"/openai/deployments\"]",
        );
        assert_eq!(azure.auth, AuthStyle::ApiKey);
        let err = config::Config::builder()
            .add_source(config::File::from_str(
                "base_url = \"http://x\"\nauth = \"basic\"",
                config::FileFormat::Toml,
            ))
            .build()
            .unwrap()
            .try_deserialize::<ProviderSettings>()
            .unwrap_err();
        assert!(err.to_string().contains("basic"), "{err}");
    }
}
