//! How every watch of Roster's daemons lists.

use kube::runtime::watcher;

/// Watches list with the most recent semantic. A list served from a just-restarted API server's
/// watch cache can be older than what that cache can resume a watch from, which leaves a watcher
/// relisting on "too old resource version" for minutes; and a stale relist shows objects as they
/// were, which a watcher that compares them with what it wants takes for drift.
///
/// The watch itself keeps kube's server-side timeout (290 s) and bookmarks: the client that
/// runs it must not time out an idle read sooner (see `roster-agent`'s clients).
pub fn config() -> watcher::Config {
    watcher::Config::default().list_semantic(watcher::ListSemantic::MostRecent)
}
