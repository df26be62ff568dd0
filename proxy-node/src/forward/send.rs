//! Sends the request upstream and waits for the response head, at most the first-byte timeout.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use awc::error::{ConnectError, SendRequestError};
use awc::ClientResponse;
use bytes::Bytes;
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;

use super::client::BlockedAddress;

/// Why there is no upstream answer.
#[derive(Debug)]
pub enum Failure {
    Unreachable(String),
    /// The connection broke after it was obtained and before a response head: most often a
    /// pooled keep-alive connection the upstream closed at that moment.
    Dropped(String),
    Timeout,
    /// The host resolved to an address the gateway must not call.
    Blocked(String),
}

impl Failure {
    pub fn metric_kind(&self) -> &'static str {
        match self {
            Failure::Unreachable(_) => "unreachable",
            Failure::Dropped(_) => "dropped",
            Failure::Timeout => "timeout",
            Failure::Blocked(_) => "blocked",
        }
    }

    /// Says something about the upstream's health (a blocked address does not).
    pub fn is_upstream_fault(&self) -> bool {
        !matches!(self, Failure::Blocked(_))
    }

    /// Evidence that the upstream is unhealthy, for its circuit breaker. A dropped connection
    /// is not: stale pooled connections break now and then against a healthy upstream, and
    /// counting them opened the breaker against one in the benchmarks (bench/RESULTS.md).
    pub fn counts_against_upstream(&self) -> bool {
        matches!(self, Failure::Unreachable(_) | Failure::Timeout)
    }

    pub fn to_api_error(&self) -> ApiError {
        match self {
            Failure::Unreachable(_) | Failure::Dropped(_) => ErrorCode::UpstreamUnreachable.into(),
            Failure::Timeout => ErrorCode::UpstreamTimeout.into(),
            Failure::Blocked(_) => ApiError::new(
                ErrorCode::UpstreamNotAllowed,
                "This upstream host resolves to a private or loopback address.",
            ),
        }
    }
}

pub struct Outgoing<'a> {
    pub client: &'a awc::Client,
    pub method: Method,
    pub url: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub first_byte_timeout: Duration,
}

/// One attempt; `out` can be sent again.
pub async fn send(out: &Outgoing<'_>) -> Result<ClientResponse, Failure> {
    let mut request = out
        .client
        .request(out.method.clone(), out.url.as_str())
        .no_decompress();
    for (name, value) in &out.headers {
        request = request.append_header((name.clone(), value.clone()));
    }
    let bodyless = out.body.is_empty()
        && matches!(
            out.method,
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
        );
    let sending = if bodyless {
        request.send()
    } else {
        request.send_body(out.body.clone())
    };
    match tokio::time::timeout(out.first_byte_timeout, sending).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok(response)) => Ok(response),
        Ok(Err(SendRequestError::Timeout)) => Err(Failure::Timeout),
        Ok(Err(SendRequestError::Connect(ConnectError::Resolver(e)))) => {
            match e.downcast_ref::<BlockedAddress>() {
                Some(blocked) => Err(Failure::Blocked(blocked.to_string())),
                None => Err(Failure::Unreachable(format!("cannot resolve: {e}"))),
            }
        }
        // awc reports a connection that closed while waiting for the head as `Disconnected`.
        Ok(Err(
            e @ (SendRequestError::Connect(ConnectError::Disconnected)
            | SendRequestError::Send(_)
            | SendRequestError::Response(_)),
        )) => Err(Failure::Dropped(e.to_string())),
        Ok(Err(e)) => Err(Failure::Unreachable(e.to_string())),
    }
}
