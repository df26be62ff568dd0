//! Per-provider policy (DESIGN §4.2): methods, endpoint prefixes, origins and CORS preflight,
//! and the model/parameter globs on JSON bodies.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;
use serde_json::Value;

use crate::provider::Provider;

/// The request line and headers together may not exceed `max` bytes (431 `headers_too_large`).
/// Heads over actix's own 128 KiB buffer never get here: actix answers them 431 itself.
pub fn check_head_size(req: &HttpRequest, max: usize) -> Result<(), ApiError> {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if line + headers > max {
        return Err(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!("The request line and headers are larger than {max} bytes."),
        ));
    }
    Ok(())
}

/// Method, endpoint and origin: everything decidable before the body or the token.
pub fn check_request(
    provider: &Provider,
    method: &Method,
    path: &str,
    origin: Option<&str>,
) -> Result<(), ApiError> {
    if !provider.allows_method(method.as_str()) {
        return Err(ApiError::from(ErrorCode::MethodNotAllowed)
            .with_flavor(provider.flavor)
            .with_header(header::ALLOW, provider.settings.allowed_methods.join(", ")));
    }
    if !provider.allows_endpoint(path) {
        return Err(ApiError::from(ErrorCode::EndpointNotFound).with_flavor(provider.flavor));
    }
    check_origin(provider, origin)
}

pub fn check_origin(provider: &Provider, origin: Option<&str>) -> Result<(), ApiError> {
    match origin {
        Some(origin) if !provider.allows_origin(origin) => {
            Err(ApiError::from(ErrorCode::OriginNotAllowed).with_flavor(provider.flavor))
        }
        _ => Ok(()),
    }
}

pub fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// `OPTIONS` with `Origin` and `Access-Control-Request-Method`: answered here, no token needed.
pub fn is_preflight(req: &HttpRequest) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

pub fn preflight(provider: &Provider, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let origin = origin(req.headers()).unwrap_or_default();
    check_origin(provider, Some(origin))?;
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !provider.allows_method(requested) {
        return Err(ApiError::from(ErrorCode::MethodNotAllowed).with_flavor(provider.flavor));
    }
    let mut response = HttpResponse::NoContent();
    response
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            provider.settings.allowed_methods.join(", "),
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .insert_header((header::VARY, "Origin"));
    if let Some(requested_headers) = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| v.to_str().is_ok())
    {
        response.insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            requested_headers.clone(),
        ));
    }
    Ok(response.finish())
}

/// What browser code may read of a gateway answer: its own headers (limits, budgets, cache,
/// timing) as well as `retry-after`.
const EXPOSED_HEADERS: &str = "x-request-id, server-timing, x-llm-proxy-overhead-ms, \
     x-proxy-cache, cache-status, retry-after, x-ratelimit-limit, x-ratelimit-remaining, \
     x-ratelimit-reset, x-llm-proxy-degraded, x-llm-proxy-budget-scope, \
     x-llm-proxy-budget-period, x-llm-proxy-budget-remaining-usd, \
     x-llm-proxy-budget-remaining-tokens, x-llm-proxy-budget-reset";

/// CORS headers for an actual (non-preflight) response to an allowed origin.
pub fn cors_headers(origin: Option<&str>) -> Vec<(header::HeaderName, HeaderValue)> {
    let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) else {
        return Vec::new();
    };
    vec![
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, value),
        (
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        ),
        (header::VARY, HeaderValue::from_static("Origin")),
    ]
}

/// What the gateway learned from a request body.
#[derive(Debug, Default, Clone)]
pub struct BodyFacts {
    pub json: Option<Value>,
    pub model: Option<String>,
    pub stream: bool,
}

/// `application/json`, `application/json; charset=utf-8`, `application/x+json`.
pub fn is_json_content_type(content_type: Option<&str>) -> bool {
    content_type
        .map(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Content types a body may declare: JSON, multipart and raw uploads, and curl's default form
/// type (whose JSON-looking bodies are checked as JSON below). Anything else is 415.
fn accepted_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    is_json_content_type(Some(&essence))
        || essence.starts_with("multipart/")
        || essence == "application/octet-stream"
        || essence == "application/x-www-form-urlencoded"
}

/// Parses JSON bodies and applies the model and parameter globs. A body declared JSON that does
/// not parse is 400 `invalid_request`; an undeclared body that looks like a JSON object is
/// checked too (so a missing content type cannot dodge the policy); multipart passes through;
/// a body of another declared type is 415 `unsupported_media_type`.
pub fn inspect_body(
    provider: &Provider,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<BodyFacts, ApiError> {
    let declared_json = is_json_content_type(content_type);
    let multipart = content_type
        .map(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        })
        .unwrap_or(false);
    let looks_json = !multipart && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if let Some(content_type) = content_type.filter(|_| !body.is_empty()) {
        if !accepted_content_type(content_type) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "Content type `{content_type}` is not accepted; send application/json or \
                     multipart/form-data."
                ),
            )
            .with_flavor(provider.flavor));
        }
    }
    if body.is_empty() || !(declared_json || looks_json) {
        return Ok(BodyFacts::default());
    }
    let json: Value = match serde_json::from_slice(body) {
        Ok(json) => json,
        Err(e) if declared_json => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("The request body is not valid JSON: {e}"),
            )
            .with_flavor(provider.flavor))
        }
        Err(_) => return Ok(BodyFacts::default()),
    };
    check_params(provider, &json)?;
    Ok(BodyFacts {
        model: json.get("model").and_then(Value::as_str).map(str::to_owned),
        stream: json.get("stream").and_then(Value::as_bool).unwrap_or(false),
        json: Some(json),
    })
}

fn check_params(provider: &Provider, json: &Value) -> Result<(), ApiError> {
    let Some(object) = json.as_object() else {
        return Ok(());
    };
    let refuse = |param: &str, message: String| {
        Err(ApiError::new(ErrorCode::ParamNotAllowed, message)
            .with_param(param)
            .with_flavor(provider.flavor))
    };
    if !provider.models.is_empty() {
        if let Some(model) = object.get("model") {
            let text = scalar_text(model);
            if !provider.models.iter().any(|g| g.matches(&text)) {
                return refuse("model", format!("Model `{text}` is not allowed."));
            }
        }
    }
    for (name, globs) in &provider.params {
        if let Some(value) = object.get(name) {
            let text = scalar_text(value);
            if !globs.iter().any(|g| g.matches(&text)) {
                return refuse(name, format!("Value `{text}` of `{name}` is not allowed."));
            }
        }
    }
    Ok(())
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use llm_proxy_platform::settings::ProviderSettings;
    use std::collections::BTreeMap;

    #[test]
    fn browsers_may_read_the_limit_and_budget_headers() {
        let headers = cors_headers(Some("https://app.example"));
        let exposed = headers
            .iter()
            .find(|(name, _)| name == header::ACCESS_CONTROL_EXPOSE_HEADERS)
            .map(|(_, value)| value.to_str().unwrap().to_owned())
            .unwrap();
        let names: Vec<&str> = exposed.split(',').map(str::trim).collect();
        for name in [
            "retry-after",
            "x-ratelimit-remaining",
            "x-llm-proxy-degraded",
            "x-llm-proxy-budget-remaining-usd",
            "x-llm-proxy-budget-remaining-tokens",
            "x-llm-proxy-budget-reset",
        ] {
            assert!(names.contains(&name), "{name} is not exposed: {exposed}");
        }
        assert!(cors_headers(None).is_empty());
    }

    fn provider() -> Provider {
        Provider::new(
            "openai",
            &ProviderSettings {
                base_url: "https://api.openai.com".into(),
                allowed_endpoints: vec!["/v1/chat/completions".into()],
                allowed_models: vec!["gpt-4o*".into()],
                allowed_params: BTreeMap::from([("service_tier".into(), vec!["default".into()])]),
                allowed_origins: vec!["https://app.example.com".into()],
                ..ProviderSettings::default()
            },
        )
    }

    #[test]
    fn method_endpoint_origin() {
        let p = provider();
        let ok = check_request(&p, &Method::POST, "/v1/chat/completions", None);
        assert!(ok.is_ok());
        let e = check_request(&p, &Method::PUT, "/v1/chat/completions", None).unwrap_err();
        assert_eq!(e.code, ErrorCode::MethodNotAllowed);
        let e = check_request(&p, &Method::POST, "/v1/embeddings", None).unwrap_err();
        assert_eq!(e.code, ErrorCode::EndpointNotFound);
        let e = check_request(
            &p,
            &Method::POST,
            "/v1/chat/completions",
            Some("https://evil"),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::OriginNotAllowed);
        assert!(check_request(
            &p,
            &Method::POST,
            "/v1/chat/completions",
            Some("https://app.example.com")
        )
        .is_ok());
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type(Some("application/json")));
        assert!(is_json_content_type(Some(
            "Application/JSON; charset=utf-8"
        )));
        assert!(is_json_content_type(Some("application/vnd.x+json")));
        assert!(!is_json_content_type(Some(
            "multipart/form-data; boundary=x"
        )));
        assert!(!is_json_content_type(None));
    }

    #[test]
    fn model_and_param_globs() {
        let p = provider();
        let ct = Some("application/json; charset=utf-8");
        let facts = inspect_body(&p, ct, br#"{"model":"gpt-4o-mini","stream":true}"#).unwrap();
        assert_eq!(facts.model.as_deref(), Some("gpt-4o-mini"));
        assert!(facts.stream);
        let e = inspect_body(&p, ct, br#"{"model":"o1-pro"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ParamNotAllowed);
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = inspect_body(&p, ct, br#"{"model":"gpt-4o","service_tier":"flex"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("service_tier"));
        assert!(inspect_body(&p, ct, br#"{"model":"gpt-4o","service_tier":"default"}"#).is_ok());
        // No content type, but clearly JSON: still checked.
        let e = inspect_body(&p, None, br#" {"model":"o1"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ParamNotAllowed);
    }

    #[test]
    fn malformed_json_is_invalid_request_and_multipart_passes() {
        let p = provider();
        let e = inspect_body(&p, Some("application/json"), b"{not json").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let facts = inspect_body(&p, Some("multipart/form-data; boundary=x"), b"{junk").unwrap();
        assert!(facts.json.is_none());
        let e = inspect_body(&p, Some("text/xml"), b"<a/>").unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedMediaType);
        assert!(inspect_body(&p, Some("application/octet-stream"), b"\x00").is_ok());
        assert!(inspect_body(&p, Some("application/json"), b"").is_ok());
    }
}
