//! Anything under `/manage` no route claimed: 405 for a known path with another method, else 404,
//! both in the JSON envelope (never handed on to the proxy's catch-all).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;

use super::MANAGEMENT_ROUTES;

pub async fn handle(req: HttpRequest) -> HttpResponse {
    let allowed: Vec<&str> = MANAGEMENT_ROUTES
        .iter()
        .filter(|(_, pattern)| path_matches(pattern, req.path()))
        .map(|(method, _)| *method)
        .collect();
    if allowed.is_empty() {
        return ApiError::new(
            ErrorCode::NotFound,
            format!("no management route {}", req.path()),
        )
        .error_response();
    }
    let mut response = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .error_response();
    if let Ok(value) = header::HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// `/manage/projects/{id}` matches `/manage/projects/abc`.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments() {
        assert!(path_matches("/manage/projects/{id}", "/manage/projects/x"));
        assert!(!path_matches("/manage/projects/{id}", "/manage/projects"));
        assert!(!path_matches(
            "/manage/projects/{id}",
            "/manage/projects/x/y"
        ));
        assert!(path_matches("/manage/projects", "/manage/projects/"));
    }
}
