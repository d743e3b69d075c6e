//! Waiting on the hub with a deadline.

use std::{future::Future, time::Duration};

/// How often the hub is asked again.
const INTERVAL: Duration = Duration::from_millis(500);

/// Calls `check` until it returns `Some` or fails; `None` once `timeout` has passed.
pub async fn until<T, F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(Some(value));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_or_none_at_the_deadline() {
        let mut calls = 0;
        let found = until(Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move { Ok((n == 3).then_some(n)) }
        })
        .await
        .expect("no error");
        assert_eq!(found, Some(3));

        let never: Option<()> = until(Duration::from_secs(2), || async { Ok(None) })
            .await
            .expect("no error");
        assert_eq!(never, None);
    }
}
