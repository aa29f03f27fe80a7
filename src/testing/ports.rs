//! Loopback ports for servers and containers the tests start.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago: for a server (or a container's mapped port)
/// that must keep its address across a stop and a start.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
