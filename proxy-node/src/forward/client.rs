//! One awc client per provider per worker (awc clients are not `Send`): rustls 0.23 on ring
//! with the webpki roots, `TCP_NODELAY`, the provider's connect timeout, no client-wide timeout
//! (streams have none; the first-byte and idle timeouts are ours), no redirects, no decompression.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_rt::net::TcpStream;
use actix_tls::connect::{
    ConnectError, ConnectInfo, Connection, Connector as TcpConnector, ConnectorService, Resolver,
};
use actix_web::dev::{always_ready, Service};
use awc::http::Uri;
use futures_util::future::LocalBoxFuture;
use rustls::ClientConfig;

use crate::provider::Providers;

/// Connections a client keeps per host at most.
const MAX_CONNECTIONS: usize = 10_000;
const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// TLS for every upstream client; built once per process.
pub fn tls_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // awc's connector builds a default config through the process-wide provider; make sure
    // there is one (an `Err` only means another part of the process installed it first).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(actix_tls::connect::rustls_0_23::webpki_roots_cert_store())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TCP connector with `TCP_NODELAY` set on every new connection.
#[derive(Clone)]
struct NoDelayConnector(ConnectorService);

impl NoDelayConnector {
    fn new() -> Self {
        Self(TcpConnector::new(Resolver::default()).service())
    }
}

impl Service<ConnectInfo<Uri>> for NoDelayConnector {
    type Response = Connection<Uri, TcpStream>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let connecting = self.0.call(req);
        Box::pin(async move {
            let connection = connecting.await?;
            if let Err(e) = connection.io_ref().set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            Ok(connection)
        })
    }
}

pub fn build_client(tls: Arc<ClientConfig>, connect_timeout: Duration) -> awc::Client {
    let connector = awc::Connector::new()
        .connector(NoDelayConnector::new())
        .rustls_0_23(tls)
        .timeout(connect_timeout)
        .conn_keep_alive(KEEP_ALIVE)
        .limit(MAX_CONNECTIONS);
    awc::Client::builder()
        .connector(connector)
        .disable_timeout()
        .disable_redirects()
        .no_default_headers()
        .finish()
}

/// The clients of one worker, by provider name.
pub struct UpstreamClients {
    by_provider: HashMap<String, awc::Client>,
}

impl UpstreamClients {
    pub fn new(providers: &Providers, tls: &Arc<ClientConfig>) -> Self {
        let by_provider = providers
            .iter()
            .map(|p| {
                let timeout = Duration::from_millis(p.settings.connect_timeout_ms);
                (p.name.clone(), build_client(Arc::clone(tls), timeout))
            })
            .collect();
        Self { by_provider }
    }

    pub fn get(&self, provider: &str) -> Option<&awc::Client> {
        self.by_provider.get(provider)
    }
}
