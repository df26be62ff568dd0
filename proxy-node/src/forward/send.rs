//! Sends the request upstream and waits for the response head, at most the first-byte timeout.
//! A pooled connection that closes or resets before any response byte is told apart from other
//! broken connections: the upstream closed it while idle, so it never processed the request,
//! and the caller may send it again on a fresh connection.

use std::time::Duration;

use actix_web::error::ParseError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use awc::error::{ConnectError, SendRequestError};
use awc::ClientResponse;
use bytes::Bytes;
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;

use super::client::{BlockedAddress, UpstreamClient};
use super::reuse;

/// Why there is no upstream answer.
#[derive(Debug)]
pub enum Failure {
    Unreachable(String),
    /// The connection broke after it was obtained and before a response head: most often a
    /// pooled keep-alive connection the upstream closed at that moment.
    Dropped(String),
    /// A reused pooled connection closed or was reset before any response byte: the upstream
    /// had closed it while idle (its keep-alive ran out as the request went out).
    Stale(String),
    Timeout,
    /// The host resolved to an address the gateway must not call.
    Blocked(String),
}

impl Failure {
    pub fn metric_kind(&self) -> &'static str {
        match self {
            Failure::Unreachable(_) => "unreachable",
            Failure::Dropped(_) => "dropped",
            Failure::Stale(_) => "stale_connection",
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
            Failure::Unreachable(_) | Failure::Dropped(_) | Failure::Stale(_) => {
                ErrorCode::UpstreamUnreachable.into()
            }
            Failure::Timeout => ErrorCode::UpstreamTimeout.into(),
            Failure::Blocked(_) => ApiError::new(
                ErrorCode::UpstreamNotAllowed,
                "This upstream host resolves to a private or loopback address.",
            ),
        }
    }
}

/// Which connection an attempt may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// An idle one from the pool, or a new one.
    Pooled,
    /// Always a new one, closed after the response.
    Fresh,
}

pub struct Outgoing<'a> {
    pub client: &'a UpstreamClient,
    pub method: Method,
    pub url: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub first_byte_timeout: Duration,
}

/// One attempt; `out` can be sent again.
pub async fn send(out: &Outgoing<'_>, connection: Connection) -> Result<ClientResponse, Failure> {
    let (result, opened) = reuse::tracking(exchange(out, connection)).await;
    match result {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(classify(e, !opened)),
    }
}

async fn exchange(
    out: &Outgoing<'_>,
    connection: Connection,
) -> Result<Result<ClientResponse, SendRequestError>, tokio::time::error::Elapsed> {
    let client = match connection {
        Connection::Pooled => &out.client.pooled,
        Connection::Fresh => &out.client.fresh,
    };
    let mut request = client
        .request(out.method.clone(), out.url.as_str())
        .no_decompress();
    if connection == Connection::Fresh {
        request = request.force_close();
    }
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
    tokio::time::timeout(out.first_byte_timeout, sending).await
}

fn classify(error: SendRequestError, reused: bool) -> Failure {
    if reused && closed_before_response(&error) {
        return Failure::Stale(error.to_string());
    }
    match error {
        SendRequestError::Timeout => Failure::Timeout,
        SendRequestError::Connect(ConnectError::Resolver(e)) => {
            match e.downcast_ref::<BlockedAddress>() {
                Some(blocked) => Failure::Blocked(blocked.to_string()),
                None => Failure::Unreachable(format!("cannot resolve: {e}")),
            }
        }
        // awc reports a connection that closed while waiting for the head as `Disconnected`.
        e @ (SendRequestError::Connect(ConnectError::Disconnected)
        | SendRequestError::Send(_)
        | SendRequestError::Response(_)) => Failure::Dropped(e.to_string()),
        e => Failure::Unreachable(e.to_string()),
    }
}

/// The connection ended before a single response byte was read: awc's `Disconnected` is an
/// end of stream with nothing buffered (a partial head ends in "bytes remaining on stream", an
/// `Other` error), `Send` is a failed write, and a reset or unclean TLS close fails the read.
fn closed_before_response(error: &SendRequestError) -> bool {
    use std::io::ErrorKind;
    match error {
        SendRequestError::Connect(ConnectError::Disconnected) | SendRequestError::Send(_) => true,
        SendRequestError::Response(ParseError::Io(e)) => matches!(
            e.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}
