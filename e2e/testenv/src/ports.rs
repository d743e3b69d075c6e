//! Free loopback ports.

use std::net::{SocketAddr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago. The kernel hands out ephemeral ports
/// in sequence, so a port just released is not handed to the next caller.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// 127.0.0.1 with a [`free_port`]: an admin address for a daemon of the tests.
pub fn free_address() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from(([127, 0, 0, 1], free_port()?)))
}
