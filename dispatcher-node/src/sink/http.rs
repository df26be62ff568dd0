//! What the HTTP sinks share: the awc client and the status → retry classification
//! (promtail's rule: retry 408, 429, 5xx and connection errors; anything else is final).

use std::time::Duration;

use awc::http::StatusCode;
use bytes::Bytes;

use super::SinkError;

/// A client for one sink, on the current thread (awc clients are not `Send`).
pub fn client(timeout: Duration) -> awc::Client {
    // awc builds its rustls config through the process-wide provider; install ring once
    // (an `Err` only means another part of the process installed one first).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connector = awc::Connector::new()
        .timeout(Duration::from_secs(5).min(timeout))
        .conn_keep_alive(Duration::from_secs(60));
    awc::Client::builder()
        .connector(connector)
        .timeout(timeout)
        .disable_redirects()
        .finish()
}

/// The answer of a sink's server.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Sends one request; transport failures (refused, reset, timeout) are retryable.
pub async fn send(
    request: awc::ClientRequest,
    body: Bytes,
    what: &str,
) -> Result<Answer, SinkError> {
    let mut response = request
        .send_body(body)
        .await
        .map_err(|e| SinkError::retryable(format!("{what}: {e}")))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .body()
        .limit(1024 * 1024)
        .await
        .map_err(|e| SinkError::retryable(format!("{what}: reading the answer: {e}")))?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// 2xx → `Ok`; 408, 429, 5xx → retryable; anything else → permanent.
pub fn classify(answer: &Answer, what: &str) -> Result<(), SinkError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let snippet: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .take(300)
        .collect();
    let message = format!("{what}: HTTP {status}: {snippet}");
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Err(SinkError::Retryable {
            message,
            retry_after: answer.retry_after,
        })
    } else {
        Err(SinkError::permanent(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16) -> Answer {
        Answer {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
            retry_after: None,
            body: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn statuses_are_classified_like_promtail() {
        assert!(classify(&answer(204), "t").is_ok());
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(matches!(
                classify(&answer(code), "t"),
                Err(SinkError::Retryable { .. })
            ));
        }
        for code in [400, 401, 403, 404, 413, 422] {
            assert!(matches!(
                classify(&answer(code), "t"),
                Err(SinkError::Permanent { .. })
            ));
        }
    }
}
