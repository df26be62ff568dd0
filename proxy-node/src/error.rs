//! Start-up errors of the proxy node. Request-path errors are `ApiError`s.

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("cannot build the upstream TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Events(#[from] crate::events::SinkError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}
