//! The gateway's answer to a request head refused at the connection: the connection layer
//! swaps the head for a request to this route, and the route answers in the JSON envelope.
//! Clients calling it themselves only get the same errors.

use actix_web::{web, HttpResponse};
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;

use super::head::{Rejection, MAX_HEAD_BYTES};

const PREFIX: &str = "/_llm_proxy/rejected/";

/// The request head actix receives instead of the refused one.
pub fn request(rejection: Rejection) -> Vec<u8> {
    format!(
        "GET {PREFIX}{} HTTP/1.1\r\nhost: llm-proxy\r\nconnection: close\r\n\r\n",
        rejection.as_str()
    )
    .into_bytes()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(&format!("{PREFIX}{{reason}}"), web::route().to(rejected));
}

async fn rejected(reason: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Err(match Rejection::parse(&reason) {
        Some(rejection) => error(rejection),
        None => ErrorCode::NotFound.into(),
    })
}

fn error(rejection: Rejection) -> ApiError {
    match rejection {
        Rejection::HeadTooLarge => ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "The request line and headers exceed {} KiB.",
                MAX_HEAD_BYTES / 1024
            ),
        ),
        Rejection::TooManyHeaders => ApiError::new(
            ErrorCode::HeadersTooLarge,
            "The request has too many headers.",
        ),
        Rejection::Malformed => ApiError::new(
            ErrorCode::InvalidRequest,
            "The request head is malformed: invalid characters, line endings, or conflicting \
             Host, Content-Length or Transfer-Encoding headers.",
        ),
        Rejection::Timeout => ApiError::new(
            ErrorCode::RequestTimeout,
            "The request headers did not arrive in time.",
        ),
    }
}
