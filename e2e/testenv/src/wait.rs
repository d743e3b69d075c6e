//! Waiting for a condition with a deadline, never a bare sleep.

use std::{future::Future, time::Duration};

/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(200);

/// Polls `check` until it returns `Some`, fails, or `timeout` passes. The error names `what`
/// and the last failure seen.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}
