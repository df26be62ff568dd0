//! Providers as the request path uses them: settings with their globs compiled once at start.

use std::collections::HashMap;
use std::sync::Arc;

use llm_proxy_platform::settings::ProviderSettings;
use llm_proxy_platform::{ErrorFlavor, Settings};
use wildmatch::WildMatch;

#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub settings: ProviderSettings,
    /// `http` or `https`, from `base_url`.
    pub scheme: String,
    /// `host[:port]` of `base_url`.
    pub host: String,
    pub flavor: ErrorFlavor,
    pub models: Vec<WildMatch>,
    pub params: Vec<(String, Vec<WildMatch>)>,
    pub origins: Vec<WildMatch>,
    /// Lower-cased `host[:port]` entries of `allowed_upstreams`.
    pub upstreams: Vec<String>,
}

impl Provider {
    pub fn new(name: &str, settings: &ProviderSettings) -> Self {
        let (scheme, host) = settings
            .base_url
            .split_once("://")
            .map(|(s, h)| (s.to_ascii_lowercase(), h.trim_end_matches('/').to_owned()))
            .unwrap_or_else(|| ("https".to_owned(), settings.base_url.clone()));
        let globs = |list: &[String]| list.iter().map(|p| WildMatch::new(p)).collect::<Vec<_>>();
        Self {
            name: name.to_owned(),
            scheme,
            host,
            flavor: if settings.anthropic_errors {
                ErrorFlavor::Anthropic
            } else {
                ErrorFlavor::OpenAi
            },
            models: globs(&settings.allowed_models),
            params: settings
                .allowed_params
                .iter()
                .map(|(k, v)| (k.clone(), globs(v)))
                .collect(),
            origins: globs(&settings.allowed_origins),
            upstreams: settings
                .allowed_upstreams
                .iter()
                .map(|u| u.trim().to_ascii_lowercase())
                .collect(),
            settings: settings.clone(),
        }
    }

    /// `scheme://host[:port]` of the configured upstream.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    pub fn allows_method(&self, method: &str) -> bool {
        self.settings.allowed_methods.iter().any(|m| m == method)
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|g| g.matches(origin))
    }

    /// Prefix match on whole path segments: `/v1/images` allows `/v1/images/generations` but
    /// `/v1/chat/completions` does not allow `/v1/chat/completionsX`.
    pub fn allows_endpoint(&self, path: &str) -> bool {
        let endpoints = &self.settings.allowed_endpoints;
        endpoints.is_empty()
            || endpoints.iter().any(|prefix| {
                let prefix = prefix.trim_end_matches('/');
                path == prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
            })
    }

    /// Exact `host[:port]` match against `allowed_upstreams`.
    pub fn allows_upstream(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.upstreams.contains(&host)
    }
}

/// Every configured provider, by name.
#[derive(Debug, Clone)]
pub struct Providers {
    by_name: Arc<HashMap<String, Arc<Provider>>>,
    default: String,
}

impl Providers {
    pub fn from_settings(settings: &Settings) -> Self {
        let by_name = settings
            .providers
            .iter()
            .map(|(name, p)| (name.clone(), Arc::new(Provider::new(name, p))))
            .collect();
        Self {
            by_name: Arc::new(by_name),
            default: settings.default_provider.clone(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.by_name.get(name)
    }

    pub fn default_provider(&self) -> Option<&Arc<Provider>> {
        self.by_name.get(&self.default)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn endpoint_prefixes_match_whole_segments() {
        let settings = ProviderSettings {
            base_url: "https://api.example.com".into(),
            allowed_endpoints: vec!["/v1/chat/completions".into(), "/v1/images/".into()],
            ..ProviderSettings::default()
        };
        let p = Provider::new("x", &settings);
        assert_eq!(p.base_url(), "https://api.example.com");
        assert!(p.allows_endpoint("/v1/chat/completions"));
        assert!(p.allows_endpoint("/v1/images/generations"));
        assert!(!p.allows_endpoint("/v1/chat/completionsX"));
        assert!(!p.allows_endpoint("/v1/embeddings"));
        assert!(!p.allows_endpoint("/v1"));
    }

    #[test]
    fn upstream_match_is_exact_and_case_insensitive() {
        let settings = ProviderSettings {
            base_url: "http://127.0.0.1:9".into(),
            allowed_upstreams: vec!["Eu.Example.com".into(), "127.0.0.1:8081".into()],
            ..ProviderSettings::default()
        };
        let p = Provider::new("x", &settings);
        assert_eq!(p.scheme, "http");
        assert!(p.allows_upstream("eu.example.com"));
        assert!(p.allows_upstream("127.0.0.1:8081"));
        assert!(!p.allows_upstream("eu.example.com.evil.net"));
        assert!(!p.allows_upstream("127.0.0.1:8082"));
    }
}
