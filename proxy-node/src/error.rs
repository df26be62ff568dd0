//! The proxy node's own errors: start-up, and the session tracker (whose failures never
//! reach a client). Request-path errors are `ApiError`s.

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("cannot build the upstream TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Events(#[from] crate::events::SinkError),
    #[error("cannot set up admission: {0}")]
    Limits(#[from] llm_proxy_limits::LimitsError),
    #[error("redis: {0}")]
    Redis(String),
    /// The response cache backend failed; the call goes on as a miss.
    #[error("response cache: {0}")]
    Cache(String),
    #[error("sessions: {0}")]
    Session(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}
