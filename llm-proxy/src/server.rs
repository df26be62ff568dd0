//! The HTTP server every role runs: settings applied once, routes supplied by the nodes.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use llm_proxy_platform::Settings;
use proxy_node::resilience::drain::{self, Drain};

/// Binds `server.host:server.port` and builds the server; routes come from `configure`, which
/// runs once per worker (so per-worker clients are created inside it). SIGTERM/SIGINT start a
/// drain: every `drains` fails readiness first, then after `server.drain_delay_secs` (none when
/// there is nothing to drain) the server stops accepting and lets requests in flight finish
/// within `server.shutdown_timeout_secs`. Call inside the actix system.
pub fn bind<F>(
    settings: &Settings,
    drains: Vec<Drain>,
    configure: F,
) -> Result<(Server, u16), String>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    let listener =
        TcpListener::bind(&address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?
        .port();
    let server = proxy_node::connection::serve(listener, &settings.server, configure)
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let delay = if drains.is_empty() {
        Duration::ZERO
    } else {
        Duration::from_secs(settings.server.drain_delay_secs)
    };
    actix_rt::spawn(drain::on_signal(drains, server.handle(), delay));
    Ok((server, port))
}
