//! A serving certificate from mounted files (`--webhook-cert-dir`: `tls.crt` and `tls.key`, for
//! example a cert-manager Secret), re-read when they change.
//!
//! The files are polled and compared by content rather than watched for events or mtimes: a
//! Secret volume is updated by swapping a symlink (`..data`), which inotify on the file names
//! does not report and which can keep old mtimes; two small reads every few seconds are cheap
//! and see every kind of update. A pair that does not load (a writer that replaced one file but
//! not yet the other) leaves the current certificate in place until the next poll.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tracing::{info, warn};

use super::{CurrentCert, TlsError, certified_key};

/// The certificate chain file, PEM.
pub const CERT_FILE: &str = "tls.crt";
/// The private key file, PEM.
pub const KEY_FILE: &str = "tls.key";
/// How often the files are re-read.
pub const POLL: Duration = Duration::from_secs(3);

/// The bytes of both files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// Reads both files of `dir`.
pub async fn read(dir: &Path) -> Result<Pair, TlsError> {
    let file = |name: &str| {
        let path = dir.join(name);
        async move {
            tokio::fs::read(&path)
                .await
                .map_err(|error| TlsError::Read { path, error })
        }
    };
    Ok(Pair {
        cert: file(CERT_FILE).await?,
        key: file(KEY_FILE).await?,
    })
}

/// Loads the certificate in `dir` into `current`; the start-up check (a hub whose mounted
/// certificate cannot be read stops with the reason, as a misconfiguration should).
pub async fn load(dir: &Path, current: &CurrentCert) -> Result<Pair, TlsError> {
    let pair = read(dir).await?;
    let key = certified_key(&pair.cert, &pair.key).map_err(|error| TlsError::Files {
        dir: dir.to_owned(),
        error: Box::new(error),
    })?;
    current.set(key);
    Ok(pair)
}

/// Re-reads `dir` every `every` and serves the certificate whenever the files change; runs
/// until dropped.
pub async fn watch(dir: PathBuf, current: Arc<CurrentCert>, loaded: Pair, every: Duration) {
    let mut served = loaded;
    let mut refused: Option<Pair> = None;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let pair = match read(&dir).await {
            Ok(pair) => pair,
            Err(e) => {
                warn!(error = %e, "webhook certificate files unreadable; serving the last one");
                continue;
            }
        };
        if pair == served || refused.as_ref() == Some(&pair) {
            continue;
        }
        match certified_key(&pair.cert, &pair.key) {
            Ok(key) => {
                current.set(key);
                info!(dir = %dir.display(), "webhook certificate reloaded");
                served = pair;
                refused = None;
            }
            Err(e) => {
                warn!(dir = %dir.display(), error = %e,
                    "webhook certificate files changed but do not load; serving the last one");
                refused = Some(pair);
            }
        }
    }
}
