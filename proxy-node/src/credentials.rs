//! The client's withering token: `Authorization: Bearer`, `x-api-key` or `api-key`.

use actix_web::http::header::HeaderMap;
use llm_proxy_core::token_secret::TokenSecret;
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;

/// The raw credential the client sent, if any (first match wins).
pub fn raw_credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if let (Some(scheme), Some(rest)) = (value.get(..7), value.get(7..)) {
            if scheme.eq_ignore_ascii_case("bearer ") && !rest.trim().is_empty() {
                return Some(rest.trim());
            }
        }
    }
    ["x-api-key", "api-key"].iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

/// Checks the token's shape; nothing is looked up here.
pub fn token_from_headers(headers: &HeaderMap) -> Result<TokenSecret, ApiError> {
    let raw = raw_credential(headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidToken,
            "No token was provided (Authorization: Bearer, x-api-key or api-key).",
        )
    })?;
    TokenSecret::parse(raw).map_err(|_| ApiError::from(ErrorCode::InvalidToken))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut req = TestRequest::default();
        for (k, v) in pairs {
            req = req.insert_header((*k, *v));
        }
        req.to_http_request().headers().clone()
    }

    #[test]
    fn reads_each_header_style() {
        let t = TokenSecret::generate();
        let bearer = format!("Bearer {}", t.expose());
        assert_eq!(
            token_from_headers(&headers(&[("authorization", &bearer)])).unwrap(),
            t
        );
        assert_eq!(
            token_from_headers(&headers(&[("x-api-key", t.expose())])).unwrap(),
            t
        );
        assert_eq!(
            token_from_headers(&headers(&[("api-key", t.expose())])).unwrap(),
            t
        );
        let lower = format!("bearer {}", t.expose());
        assert_eq!(
            token_from_headers(&headers(&[("authorization", &lower)])).unwrap(),
            t
        );
    }

    #[test]
    fn missing_or_malformed_is_invalid_token() {
        for h in [
            headers(&[]),
            headers(&[("authorization", "Basic abc")]),
            headers(&[("authorization", "Bearer sk-not-ours")]),
            headers(&[("x-api-key", "wt_short")]),
        ] {
            assert_eq!(
                token_from_headers(&h).unwrap_err().code,
                ErrorCode::InvalidToken
            );
        }
    }
}
