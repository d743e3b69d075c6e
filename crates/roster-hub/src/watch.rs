//! How every watch of the hub is set up: the most recent list semantic, the hub's backoff, and
//! objects cached without their `managedFields` (a large share of each object that the hub
//! never reads: with thousands of members it is most of the cache).

use futures::{Stream, StreamExt};
use kube::{
    Api, Resource,
    runtime::{
        WatchStreamExt,
        reflector::{self, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;

use crate::backoff::WatchBackoff;

pub use roster_runtime::watch::config;

/// A cache of what `api` lists under `config`, and the stream of watch events that fills it
/// (poll it, for example as a controller trigger, to keep the cache current).
pub fn cached<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    reflect(watcher(api, config))
}

/// [`cached`] over any stream of watch events (tests feed fake ones): each event is stripped of
/// its `managedFields` and applied to the cache before the returned stream yields it, and
/// failures are retried with the hub's backoff.
pub fn reflect<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> (
    Store<K>,
    impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let events = reflector::reflector(
        writer,
        events.modify(|o| o.meta_mut().managed_fields = None),
    )
    .backoff(WatchBackoff::default())
    .boxed();
    (store, events)
}
