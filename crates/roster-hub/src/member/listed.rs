//! A flag a watch adapter raises once its watch delivered the first list, for caches that are
//! not kube reflector stores (the heartbeat map, the observed profiles): decisions wait for it
//! so nothing is judged on a cache that is not filled yet.

/// Raised once, awaited by any number of tasks.
#[derive(Debug)]
pub struct Listed(tokio::sync::watch::Sender<bool>);

impl Default for Listed {
    fn default() -> Self {
        Self(tokio::sync::watch::channel(false).0)
    }
}

impl Listed {
    /// Says the first list is in.
    pub fn set(&self) {
        self.0.send_replace(true);
    }

    /// Waits until the first list is in.
    pub async fn wait(&self) {
        let mut listed = self.0.subscribe();
        let _ = listed.wait_for(|l| *l).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_before_and_after_are_released() {
        let listed = std::sync::Arc::new(Listed::default());
        let early = tokio::spawn({
            let listed = listed.clone();
            async move { listed.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!early.is_finished());
        listed.set();
        early.await.unwrap();
        listed.wait().await;
    }
}
