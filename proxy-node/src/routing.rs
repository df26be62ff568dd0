//! Which provider and upstream a path goes to (DESIGN §4.1):
//! `/v1/{rest}` → the default provider, path unchanged; `/{provider}/{rest}` → that provider,
//! path `/{rest}`; `/{provider}/{host}/{rest}` → `host` only when it is in the provider's
//! `allowed_upstreams` (exact match), so the gateway is never an open proxy.

use std::sync::Arc;

use llm_proxy_core::ErrorCode;
use llm_proxy_platform::{ApiError, ErrorFlavor};

use crate::provider::{Provider, Providers};

#[derive(Debug, Clone)]
pub struct Route {
    pub provider: Arc<Provider>,
    /// `scheme://host[:port]` the request goes to.
    pub upstream_base: String,
    /// `host[:port]` (for events and metrics).
    pub upstream_host: String,
    /// The path sent upstream (no query string).
    pub path: String,
}

impl Route {
    /// The full upstream URL, query string unchanged.
    pub fn url(&self, query: &str) -> String {
        if query.is_empty() {
            format!("{}{}", self.upstream_base, self.path)
        } else {
            format!("{}{}?{query}", self.upstream_base, self.path)
        }
    }
}

pub fn resolve(providers: &Providers, path: &str) -> Result<Route, ApiError> {
    check_path(path)?;
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (first, rest) = match trimmed.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (trimmed, None),
    };
    if first == "v1" {
        let provider = providers
            .default_provider()
            .ok_or_else(|| ApiError::internal("the default provider is not configured"))?;
        return Ok(direct(provider, path.to_owned()));
    }
    let provider = providers.get(first).ok_or_else(|| {
        ApiError::new(
            ErrorCode::EndpointNotFound,
            "No provider or endpoint at this path.",
        )
    })?;
    let rest = rest.unwrap_or("");
    let (second, tail) = match rest.split_once('/') {
        Some((second, tail)) => (second, Some(tail)),
        None => (rest, None),
    };
    if looks_like_host(second) {
        if !provider.allows_upstream(second) {
            return Err(ApiError::from(ErrorCode::UpstreamNotAllowed).with_flavor(provider.flavor));
        }
        let host = second.to_ascii_lowercase();
        return Ok(Route {
            upstream_base: format!("{}://{host}", provider.scheme),
            upstream_host: host,
            path: format!("/{}", tail.unwrap_or("")),
            provider: Arc::clone(provider),
        });
    }
    Ok(direct(provider, format!("/{rest}")))
}

fn direct(provider: &Arc<Provider>, path: String) -> Route {
    Route {
        upstream_base: provider.base_url(),
        upstream_host: provider.host.clone(),
        path,
        provider: Arc::clone(provider),
    }
}

/// A segment that names a host: has a dot or a colon and only host characters. Anything with
/// userinfo (`@`), escapes (`%`) or other characters is not a host and stays part of the path.
fn looks_like_host(segment: &str) -> bool {
    segment.contains(['.', ':'])
        && !segment.starts_with(['.', ':'])
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

/// Dot segments and encoded separators could change what the upstream sees after we checked it.
fn check_path(path: &str) -> Result<(), ApiError> {
    let lower = path.to_ascii_lowercase();
    let bad = !path.starts_with('/')
        || path.contains('\\')
        || ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        || path.split('/').any(|seg| seg == "." || seg == "..");
    if bad {
        return Err(
            ApiError::new(ErrorCode::InvalidRequest, "Invalid request path.").with_param("path"),
        );
    }
    Ok(())
}

/// The flavor errors take before a provider is known.
pub fn flavor_for_path(providers: &Providers, path: &str) -> ErrorFlavor {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let provider = if first == "v1" {
        providers.default_provider()
    } else {
        providers.get(first)
    };
    provider.map(|p| p.flavor).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use llm_proxy_platform::Settings;

    fn providers() -> Providers {
        let mut settings = Settings::default();
        if let Some(p) = settings.providers.get_mut("openai") {
            p.allowed_upstreams = vec!["eu.api.openai.com".into(), "127.0.0.1:9000".into()];
        }
        Providers::from_settings(&settings)
    }

    #[test]
    fn v1_goes_to_the_default_provider_with_the_path_unchanged() {
        let r = resolve(&providers(), "/v1/chat/completions").unwrap();
        assert_eq!(r.provider.name, "openai");
        assert_eq!(r.url(""), "https://api.openai.com/v1/chat/completions");
        assert_eq!(
            r.url("a=1"),
            "https://api.openai.com/v1/chat/completions?a=1"
        );
    }

    #[test]
    fn named_provider_strips_its_segment() {
        let r = resolve(&providers(), "/anthropic/v1/messages").unwrap();
        assert_eq!(r.provider.name, "anthropic");
        assert_eq!(r.upstream_base, "https://api.anthropic.com");
        assert_eq!(r.path, "/v1/messages");
    }

    #[test]
    fn allowed_host_segment_selects_the_upstream() {
        let r = resolve(&providers(), "/openai/eu.api.openai.com/v1/models").unwrap();
        assert_eq!(r.upstream_base, "https://eu.api.openai.com");
        assert_eq!(r.path, "/v1/models");
        let r = resolve(&providers(), "/openai/127.0.0.1:9000/v1/models").unwrap();
        assert_eq!(r.upstream_host, "127.0.0.1:9000");
    }

    #[test]
    fn other_hosts_are_refused() {
        for path in [
            "/openai/evil.com/v1/models",
            "/openai/eu.api.openai.com.evil.com/v1/models",
            "/openai/127.0.0.1:9001/v1/models",
            "/openai/169.254.169.254/latest/meta-data",
        ] {
            let err = resolve(&providers(), path).unwrap_err();
            assert_eq!(err.code, ErrorCode::UpstreamNotAllowed, "{path}");
        }
    }

    #[test]
    fn userinfo_and_escapes_are_path_not_host() {
        let r = resolve(&providers(), "/openai/user@evil.com/v1").unwrap();
        assert_eq!(r.upstream_base, "https://api.openai.com");
        assert_eq!(r.path, "/user@evil.com/v1");
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_invalid() {
        for path in [
            "/v1/../admin",
            "/openai/./v1",
            "/v1/files%2F..%2Fx",
            "/v1/%2e%2e/x",
        ] {
            let err = resolve(&providers(), path).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{path}");
        }
    }

    #[test]
    fn unknown_provider_is_not_found() {
        let err = resolve(&providers(), "/nope/v1/x").unwrap_err();
        assert_eq!(err.code, ErrorCode::EndpointNotFound);
        assert_eq!(
            flavor_for_path(&providers(), "/anthropic/v1/x"),
            ErrorFlavor::Anthropic
        );
    }
}
