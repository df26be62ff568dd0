//! `X-Request-ID`: the client's when it is well-formed, else a new UUIDv7.

use actix_web::HttpRequest;

pub const HEADER: &str = "x-request-id";
const MAX_LEN: usize = 128;

/// The id for this request. A client id is kept only when it is 1..=128 characters of
/// `[A-Za-z0-9._:-]`, so it is safe in headers, logs and file names.
pub fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_well_formed(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

pub fn is_well_formed(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn keeps_well_formed_ids_and_replaces_others() {
        let req = TestRequest::default()
            .insert_header((HEADER, "abc-123_x:y.z"))
            .to_http_request();
        assert_eq!(request_id(&req), "abc-123_x:y.z");

        for bad in ["", "has space", "a\"b", &"x".repeat(129)] {
            let req = TestRequest::default()
                .insert_header((HEADER, bad))
                .to_http_request();
            let id = request_id(&req);
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok());
        }
        let req = TestRequest::default().to_http_request();
        assert!(uuid::Uuid::parse_str(&request_id(&req)).is_ok());
    }
}
