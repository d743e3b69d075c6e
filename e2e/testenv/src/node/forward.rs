//! A loopback TCP forwarder into a node's network namespace.
//!
//! The API servers listen inside their nodes' namespaces; tests and people's `kubectl` run in
//! the host's. The forwarder listens on `127.0.0.1:<free port>` in the host namespace and, for
//! each connection, opens the upstream socket from a thread that has entered the node's network
//! namespace (a socket belongs to the namespace it was created in). No address of the node is
//! ever routed in the host namespace.

use std::{
    fs::File,
    io,
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    os::fd::AsFd,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use anyhow::Context;
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// How long connecting upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a forwarder connects, changeable while it runs (for example the current leader
/// pod's address); `None` refuses connections.
pub type Target = Arc<RwLock<Option<SocketAddr>>>;

/// A running forwarder; stops accepting when dropped.
#[derive(Debug)]
pub struct Forwarder {
    local: SocketAddr,
    stopped: Arc<AtomicBool>,
}

impl Forwarder {
    /// Forwards `127.0.0.1:<free port>` to `target` inside the network namespace of `pid`.
    pub fn start(name: &str, pid: u32, target: SocketAddr) -> anyhow::Result<Self> {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_at(name, local, pid, Arc::new(RwLock::new(Some(target))))
    }

    /// Forwards `local` (a loopback address; port 0 picks a free one) to whatever `target`
    /// holds when a connection arrives, inside the network namespace of `pid`.
    pub fn start_at(
        name: &str,
        local: SocketAddr,
        pid: u32,
        target: Target,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            local.ip().is_loopback(),
            "a forwarder listens on loopback only, not {local}"
        );
        let listener = TcpListener::bind(local)
            .with_context(|| format!("binding the forwarder to {local}"))?;
        let local = listener.local_addr()?;
        let stopped = Arc::new(AtomicBool::new(false));
        let stop = stopped.clone();
        thread::Builder::new()
            .name(format!("forward-{name}"))
            .spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let current = *target.read().unwrap_or_else(|e| e.into_inner());
                    // No target yet: the connection is closed at once.
                    let Some(current) = current else { continue };
                    let _ = thread::Builder::new()
                        .name("forward-conn".into())
                        .spawn(move || {
                            if let Err(e) = serve(client, pid, current) {
                                tracing::debug!(error = %e, "forwarded connection ended");
                            }
                        });
                }
            })?;
        Ok(Self { local, stopped })
    }

    /// The loopback address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so it sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.local, Duration::from_secs(1));
    }
}

/// Connects to `target` from inside the network namespace of `pid`, then copies both ways.
fn serve(client: TcpStream, pid: u32, target: SocketAddr) -> io::Result<()> {
    let netns = File::open(format!("/proc/{pid}/ns/net"))?;
    // Only this thread moves; the sockets it opens stay in the node's namespace.
    move_into_link_name_space(netns.as_fd(), Some(LinkNameSpaceType::Network))?;
    let upstream = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    let (mut client_read, mut client_write) = (client.try_clone()?, client);
    let (mut upstream_read, mut upstream_write) = (upstream.try_clone()?, upstream);
    let back = thread::Builder::new()
        .name("forward-back".into())
        .spawn(move || {
            let _ = io::copy(&mut upstream_read, &mut client_write);
            let _ = client_write.shutdown(Shutdown::Write);
        })?;
    let _ = io::copy(&mut client_read, &mut upstream_write);
    let _ = upstream_write.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// Entering a network namespace needs CAP_SYS_ADMIN, as real nodes do; the test enters
    /// its own.
    #[test]
    fn follows_its_target_and_refuses_without_one() -> anyhow::Result<()> {
        let upstream = TcpListener::bind("127.0.0.1:0")?;
        let target: Target = Arc::new(RwLock::new(Some(upstream.local_addr()?)));
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let forwarder = Forwarder::start_at("test", any, std::process::id(), target.clone())?;
        assert!(forwarder.local_addr().port() != 0);

        let mut client = TcpStream::connect(forwarder.local_addr())?;
        client.write_all(b"ping")?;
        let (mut served, _) = upstream.accept()?;
        let mut got = [0u8; 4];
        served.read_exact(&mut got)?;
        assert_eq!(&got, b"ping");
        served.write_all(b"pong")?;
        client.read_exact(&mut got)?;
        assert_eq!(&got, b"pong");

        *target.write().unwrap_or_else(|e| e.into_inner()) = None;
        let mut refused = TcpStream::connect(forwarder.local_addr())?;
        refused.set_read_timeout(Some(Duration::from_secs(5)))?;
        assert_eq!(refused.read(&mut got)?, 0, "closed without a target");

        let outside = SocketAddr::from(([10, 0, 0, 1], 0));
        assert!(Forwarder::start_at("test", outside, std::process::id(), target).is_err());
        Ok(())
    }
}
