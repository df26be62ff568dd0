//! The request body, read whole up to `server.max_body_bytes` (chunked bodies count too), with
//! at most `server.client_body_timeout_ms` of silence between two pieces (slow clients).

use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::web;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The request body is larger than {limit} bytes."),
    )
}

pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

pub async fn read(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, ApiError> {
    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = BytesMut::with_capacity(declared.map_or(0, |l| l as usize));
    loop {
        let next = tokio::time::timeout(idle, payload.next())
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "The request body stalled for more than {} ms.",
                        idle.as_millis()
                    ),
                )
            })?;
        let Some(chunk) = next else {
            break;
        };
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Cannot read the request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
