//! The HTTP/1 server of every role: actix-http's `HttpService` (what `HttpServer` runs) over
//! client connections wrapped in [`guard::Guarded`], so that request heads actix-http would
//! refuse with a bare status (over 128 KiB, more than 96 headers, invalid bytes or framing,
//! not complete within the client request timeout) get the JSON envelope like every other
//! error, on the first request of a connection and on later ones alike.

mod chunked;
mod guard;
mod head;
mod reject;

use std::net::TcpListener;
use std::time::Duration;

use actix_http::HttpService;
use actix_server::Server;
use actix_service::{fn_service, map_config, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::{web, App};
use llm_proxy_platform::settings::ServerSettings;

pub use guard::Guarded;

/// Serves `configure`'s routes (run once per worker) on `listener` with the server settings:
/// workers, connection limit, keep-alive, client request timeout, shutdown timeout. Signals are
/// left to the caller (drain). Call inside the actix system.
pub fn serve<F>(
    listener: TcpListener,
    settings: &ServerSettings,
    configure: F,
) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let address = listener.local_addr()?;
    let keep_alive = Duration::from_secs(settings.keep_alive_secs);
    let head_timeout = Duration::from_millis(settings.client_request_timeout_ms);
    let mut builder = Server::build()
        .max_concurrent_connections(settings.max_connections)
        .shutdown_timeout(settings.shutdown_timeout_secs)
        .disable_signals();
    if let Some(workers) = settings.workers {
        builder = builder.workers(workers);
    }
    let shutdown = builder.graceful_shutdown_signal();
    builder
        .listen("llm-proxy", listener, move || {
            let app = App::new()
                .configure(reject::configure)
                .configure(configure.clone());
            let shutdown = shutdown.clone();
            let http = HttpService::build()
                // Idle keep-alive connections close when the server stops.
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .keep_alive(keep_alive)
                // The head timeout is the connection layer's, answered in the envelope.
                .client_request_timeout(Duration::ZERO)
                .client_disconnect_timeout(Duration::from_secs(1))
                // A client that closes its write side mid-stream cancels its request (and so
                // the upstream call) instead of leaving the handler streaming to nobody.
                .h1_allow_half_closed(false)
                .local_addr(address)
                .h1(map_config(app, move |_| {
                    // What `HttpServer` passes: the listener's address as the default host.
                    AppConfig::__priv_test_new(false, address.to_string(), address)
                }));
            fn_service(move |io: actix_rt::net::TcpStream| async move {
                // Stream chunks go out when written, not held back until the client ACKs
                // the previous segment (Nagle).
                if let Err(e) = io.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client connection");
                }
                let peer = io.peer_addr().ok();
                Ok((Guarded::new(io, head_timeout), peer))
            })
            .and_then(http)
        })
        .map(|builder| builder.run())
}
