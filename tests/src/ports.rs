//! Free TCP ports on 127.0.0.1 for servers that must be told their port up front.

use std::net::TcpListener;

/// A port the OS just handed out and released. Another process could take it before ours
/// binds, so spawners retry with a new port when binding fails.
pub fn free_port() -> u16 {
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(listener) => listener,
        Err(e) => panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"),
    };
    match listener.local_addr() {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot read a bound address: {e}"),
    }
}

/// Whether the process output says the port was taken.
pub fn looks_like_port_clash(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use") || log.contains("cannot listen on")
}
