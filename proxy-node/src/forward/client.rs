//! One awc client per provider per worker (awc clients are not `Send`): rustls 0.23 on ring
//! with the webpki roots, `TCP_NODELAY`, the provider's connect timeout, no client-wide timeout
//! (streams have none; the first-byte and idle timeouts are ours), no redirects, no decompression,
//! at most `max_concurrent_requests` connections, idle pooled connections dropped after the
//! provider's `pool_idle_timeout_ms`. A second client per provider never reuses a connection:
//! it resends a request whose pooled connection turned out closed. Host names that resolve to loopback, private
//! or link-local addresses are refused unless the provider allows them (SSRF, DNS rebinding);
//! IP literals never reach the resolver: they were named in the configuration.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix_rt::net::TcpStream;
use actix_tls::connect::{
    ConnectError, ConnectInfo, Connection, Connector as TcpConnector, ConnectorService, Resolve,
    Resolver,
};
use actix_web::dev::{always_ready, Service};
use awc::http::Uri;
use futures_util::future::LocalBoxFuture;
use rustls::ClientConfig;

use super::reuse;
use crate::provider::Providers;

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
    fn new(allow_private: bool) -> Self {
        Self(TcpConnector::new(Resolver::custom(GuardedResolver { allow_private })).service())
    }
}

/// A host name that resolved only to addresses the gateway must not call.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to loopback, private or link-local addresses")]
pub struct BlockedAddress {
    pub host: String,
}

/// Addresses a name must not lead to: loopback, private (RFC 1918, ULA), link-local (cloud
/// metadata), CGNAT, unspecified, multicast, broadcast, and their IPv4-mapped forms.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            if self.allow_private {
                return Ok(addrs);
            }
            let public: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(BlockedAddress {
                    host: host.to_owned(),
                }) as Box<dyn std::error::Error>);
            }
            Ok(public)
        })
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
            reuse::mark_opened();
            if let Err(e) = connection.io_ref().set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            Ok(connection)
        })
    }
}

/// How one provider's clients connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub max_connections: usize,
    pub allow_private: bool,
    /// How long an idle connection stays in the pool; zero keeps none.
    pub pool_idle: Duration,
}

pub fn build_client(tls: Arc<ClientConfig>, options: &ClientOptions) -> awc::Client {
    let connector = awc::Connector::new()
        .connector(NoDelayConnector::new(options.allow_private))
        .rustls_0_23(tls)
        .timeout(options.connect_timeout)
        .conn_keep_alive(options.pool_idle)
        .limit(options.max_connections.max(1));
    awc::Client::builder()
        .connector(connector)
        .disable_timeout()
        .disable_redirects()
        .no_default_headers()
        .finish()
}

/// One provider's clients on one worker.
pub struct UpstreamClient {
    pub pooled: awc::Client,
    /// Its pool keeps nothing, and requests ask the upstream to close (HTTP/1).
    pub fresh: awc::Client,
}

impl UpstreamClient {
    pub fn new(tls: &Arc<ClientConfig>, options: &ClientOptions) -> Self {
        let fresh = ClientOptions {
            pool_idle: Duration::ZERO,
            ..options.clone()
        };
        Self {
            pooled: build_client(Arc::clone(tls), options),
            fresh: build_client(Arc::clone(tls), &fresh),
        }
    }
}

/// The clients of one worker, by provider name.
pub struct UpstreamClients {
    by_provider: HashMap<String, UpstreamClient>,
}

impl UpstreamClients {
    pub fn new(providers: &Providers, tls: &Arc<ClientConfig>) -> Self {
        let by_provider = providers
            .iter()
            .map(|p| {
                let options = ClientOptions {
                    connect_timeout: Duration::from_millis(p.settings.connect_timeout_ms),
                    max_connections: p.settings.max_concurrent_requests,
                    allow_private: p.settings.allow_private_network,
                    pool_idle: Duration::from_millis(p.settings.pool_idle_timeout_ms),
                };
                (p.name.clone(), UpstreamClient::new(tls, &options))
            })
            .collect();
        Self { by_provider }
    }

    pub fn get(&self, provider: &str) -> Option<&UpstreamClient> {
        self.by_provider.get(provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                is_internal(ip.parse().unwrap_or(IpAddr::from([1, 1, 1, 1]))),
                "{ip}"
            );
        }
        for ip in ["1.1.1.1", "104.18.6.192", "2606:4700::6810:6c0"] {
            assert!(
                !is_internal(ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{ip}"
            );
        }
    }
}
