//! Per-request facts an audit row records: who, which request, from where.

use actix_web::HttpRequest;
use llm_proxy_core::audit::AuditContext;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The actor of management API calls.
pub const API_ACTOR: &str = "management_api";
/// The actor of the expiry sweep.
pub const SWEEP_ACTOR: &str = "system:expiry_sweep";
const MAX_REQUEST_ID_LEN: usize = 128;

/// The client's `X-Request-ID` when it is 1..=128 characters of `[A-Za-z0-9._:-]`, else a new
/// UUIDv7.
pub fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_well_formed(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

fn is_well_formed(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The peer address of the connection. Forwarded headers are not trusted: anyone can send them.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|addr| addr.ip().to_string())
}

/// The audit context of one request made by `actor`.
pub fn audit_context(req: &HttpRequest, actor: impl Into<String>) -> AuditContext {
    AuditContext {
        actor: actor.into(),
        request_id: Some(request_id(req)),
        client_ip: client_ip(req),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn keeps_well_formed_request_ids_only() {
        let req = TestRequest::default()
            .insert_header((REQUEST_ID_HEADER, "abc-1"))
            .to_http_request();
        assert_eq!(request_id(&req), "abc-1");
        let req = TestRequest::default()
            .insert_header((REQUEST_ID_HEADER, "a b"))
            .to_http_request();
        assert!(uuid::Uuid::parse_str(&request_id(&req)).is_ok());
    }
}
