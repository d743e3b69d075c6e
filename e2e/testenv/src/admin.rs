//! Reading a Roster daemon's admin port (`/metrics`, `/healthz`, `/readyz`), for the e2e tests
//! and the bench.

use std::{net::SocketAddr, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A status and body from the admin port.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The whole body.
    pub body: String,
}

/// `GET path` on `address` over HTTP/1.0 (no chunking, the body ends with the connection),
/// reading for at most `timeout`; `None` while nothing listens there yet.
pub async fn get(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<Option<Answer>> {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return Ok(None);
    };
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = String::new();
    tokio::time::timeout(timeout, stream.read_to_string(&mut raw)).await??;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP answer from {address}{path}: {raw:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("bad status line from {address}{path}: {head:?}"))?;
    Ok(Some(Answer {
        status,
        body: body.to_owned(),
    }))
}
