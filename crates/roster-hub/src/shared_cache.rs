//! One watch and one cache of a kind for the whole process, read by every controller and the
//! webhook, with subscriptions that the controllers use as triggers.
//!
//! Each watch keeps a full copy of what it lists: with thousands of members, a MemberCluster
//! watch per reader (member controller, remote access controller, webhook) was most of the hub's
//! memory. A [`SharedCache`] lives as long as the process, because the webhook serves on every
//! replica; controllers come and go with leadership, and each new subscription starts with
//! everything cached, so a controller started on regaining the lease reconciles every object.
//!
//! Changes reach subscribers through a bounded broadcast channel, so a slow subscriber never
//! holds the watch up: one that falls behind is handed the whole cache again instead of the
//! changes it missed (deletions among them are not replayed; what is cached is).

use std::{fmt, sync::Arc};

use futures::{Stream, StreamExt, future::BoxFuture};
use kube::{
    Api, Resource,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tracing::debug;

/// Changes a subscriber can fall behind by before it is handed the whole cache instead.
const CAPACITY: usize = 1024;

/// What the watch tells subscribers.
#[derive(Debug)]
enum Change<K> {
    /// An object was created or updated (the cache's own copy).
    Applied(Arc<K>),
    /// An object was deleted.
    Deleted(Arc<K>),
    /// The watch (re)listed: anything cached may have changed.
    Listed,
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Applied(o) => Self::Applied(o.clone()),
            Self::Deleted(o) => Self::Deleted(o.clone()),
            Self::Listed => Self::Listed,
        }
    }
}

/// One watch and one cache of a kind for the whole process, read by every controller and the
/// webhook, with subscriptions that controllers use as triggers.
pub struct SharedCache<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
    listed: watch::Receiver<bool>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for SharedCache<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            changes: self.changes.clone(),
            listed: self.listed.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> fmt::Debug for SharedCache<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("kind", &K::kind(&()))
            .field("objects", &self.store.len())
            .finish_non_exhaustive()
    }
}

impl<K> SharedCache<K>
where
    K: Resource<DynamicType = ()> + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// The cache of what `api` lists under `config` (see [`crate::watch`]) and the future that
    /// drives its watch: spawn or join it for the process's life.
    pub fn start(api: Api<K>, config: watcher::Config) -> (Self, BoxFuture<'static, ()>)
    where
        K: DeserializeOwned,
    {
        Self::from_watch(watcher(api, config))
    }

    /// The cache filled by `events`, as [`Self::start`] fills it from a watch (tests feed fake
    /// events).
    pub(crate) fn from_watch(
        events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    ) -> (Self, BoxFuture<'static, ()>) {
        Self::with_capacity(events, CAPACITY)
    }

    fn with_capacity(
        events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        capacity: usize,
    ) -> (Self, BoxFuture<'static, ()>) {
        let (store, events) = crate::watch::reflect(events);
        let (changes, _) = broadcast::channel(capacity);
        let (raise, listed) = watch::channel(false);
        let cache = Self {
            store: store.clone(),
            changes: changes.clone(),
            listed,
        };
        (cache, Box::pin(fill(events, store, changes, raise)))
    }

    /// The cache. Wait for its first list with [`Self::ready`], not `Store::wait_until_ready`:
    /// that one loses the wake-ups of concurrent waiters, and this store has many readers.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Resolves once the cache holds its first list (`true`), or once its watch is gone without
    /// one (`false`). Any number of tasks may wait.
    pub fn ready(&self) -> impl Future<Output = bool> + Send + 'static {
        let mut listed = self.listed.clone();
        async move { listed.wait_for(|l| *l).await.is_ok() }
    }

    /// Every object in the cache (once the first list is in), then every applied or deleted
    /// object as it changes; after a relist or after falling behind, every object in the cache
    /// again. Never blocks the watch; never fails (the watch retries on its own).
    pub fn touched(&self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        self.subscribe(true)
    }

    /// [`Self::touched`] without deletions.
    pub fn applied(&self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        self.subscribe(false)
    }

    fn subscribe(
        &self,
        deletions: bool,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        // Subscribed before the flag is read: a cache without its first list raises the flag
        // before it announces the list (see `fill`), so the announcement reaches this receiver;
        // a cache that has it is handed out whole at once.
        let changes = self.changes.subscribe();
        let resend = *self.listed.borrow();
        let subscription = Subscription {
            changes,
            store: self.store.clone(),
            resending: Vec::new().into_iter(),
            resend,
            deletions,
        };
        futures::stream::unfold(subscription, Subscription::next)
    }

    /// A cache holding `objects` as after its first list, with no watch behind it.
    #[cfg(test)]
    pub(crate) fn loaded(objects: Vec<K>) -> Self {
        use futures::FutureExt;
        let list = std::iter::once(watcher::Event::Init)
            .chain(objects.into_iter().map(watcher::Event::InitApply))
            .chain([watcher::Event::InitDone])
            .map(Ok);
        let events = futures::stream::iter(list).chain(futures::stream::pending());
        let (cache, mut watch) = Self::from_watch(events);
        assert!(watch.as_mut().now_or_never().is_none());
        cache
    }
}

/// Applies the watch's events to the cache (in `crate::watch::reflect`) and tells subscribers.
async fn fill<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
    listed: watch::Sender<bool>,
) where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let mut events = std::pin::pin!(events);
    // The cache as a relist began, to tell which objects the relist dropped.
    let mut before = Vec::new();
    // A send fails only while nobody subscribes, when there is no one to tell.
    let send = |change| {
        let _ = changes.send(change);
    };
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(object)) => {
                // Subscribers share the cache's copy rather than hold another.
                let cached = store
                    .get(&ObjectRef::from_obj(&object))
                    .unwrap_or_else(|| Arc::new(object));
                send(Change::Applied(cached));
            }
            Ok(watcher::Event::Delete(object)) => send(Change::Deleted(Arc::new(object))),
            Ok(watcher::Event::Init) => before = store.state(),
            Ok(watcher::Event::InitApply(_)) => {}
            Ok(watcher::Event::InitDone) => {
                for gone in std::mem::take(&mut before) {
                    if store.get(&ObjectRef::from_obj(gone.as_ref())).is_none() {
                        send(Change::Deleted(gone));
                    }
                }
                listed.send_replace(true);
                send(Change::Listed);
            }
            Err(error) => debug!(kind = %K::kind(&()), %error, "watch failed; retrying"),
        }
    }
}

/// One subscriber's position: the broadcast receiver and what is left of a resend.
struct Subscription<K: Resource<DynamicType = ()> + 'static> {
    changes: broadcast::Receiver<Change<K>>,
    store: Store<K>,
    resending: std::vec::IntoIter<Arc<K>>,
    /// Whether the whole cache is to be handed out before the next change.
    resend: bool,
    deletions: bool,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Subscription<K> {
    async fn next(mut self) -> Option<(Result<K, watcher::Error>, Self)> {
        loop {
            if std::mem::take(&mut self.resend) {
                self.resending = self.store.state().into_iter();
            }
            if let Some(object) = self.resending.next() {
                return Some((Ok(K::clone(&object)), self));
            }
            let object = match self.changes.recv().await {
                Ok(Change::Applied(object)) => object,
                Ok(Change::Deleted(object)) if self.deletions => object,
                Ok(Change::Deleted(_)) => continue,
                Ok(Change::Listed) => {
                    self.resend = true;
                    continue;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    debug!(kind = %K::kind(&()), missed, "subscriber fell behind; resending the cache");
                    self.resend = true;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            return Some((Ok(K::clone(&object)), self));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::{FutureExt, channel::mpsc};
    use k8s_openapi::{
        api::core::v1::ConfigMap,
        apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta},
    };
    use kube::ResourceExt;

    use super::*;

    type Event = watcher::Event<ConfigMap>;

    fn object(name: &str, version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("ns".to_owned()),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                ..Default::default()
            },
            data: Some([("v".to_owned(), version.to_owned())].into()),
            ..Default::default()
        }
    }

    fn list(objects: &[(&str, &str)]) -> Vec<Event> {
        let mut events = vec![Event::Init];
        events.extend(objects.iter().map(|(n, v)| Event::InitApply(object(n, v))));
        events.push(Event::InitDone);
        events
    }

    /// A cache over a fake watch, driven by hand.
    struct Fake {
        cache: SharedCache<ConfigMap>,
        watch: mpsc::UnboundedSender<Result<Event, watcher::Error>>,
        fill: BoxFuture<'static, ()>,
    }

    impl Fake {
        fn new(capacity: usize) -> Self {
            let (watch, events) = mpsc::unbounded();
            let (cache, fill) = SharedCache::with_capacity(events, capacity);
            Self { cache, watch, fill }
        }

        /// The watch delivers `events` and the cache takes them all in.
        fn deliver(&mut self, events: impl IntoIterator<Item = Event>) {
            for event in events {
                self.watch.unbounded_send(Ok(event)).unwrap();
            }
            assert!(
                self.fill.as_mut().now_or_never().is_none(),
                "the watch ended"
            );
        }
    }

    /// What `stream` hands out without waiting, as `name=version`, in order.
    fn ready_now<S>(stream: &mut S) -> Vec<String>
    where
        S: Stream<Item = Result<ConfigMap, watcher::Error>> + Unpin,
    {
        let mut out = Vec::new();
        while let Some(Some(item)) = stream.next().now_or_never() {
            let object = item.unwrap();
            assert!(object.metadata.managed_fields.is_none());
            out.push(format!(
                "{}={}",
                object.name_any(),
                object.data.unwrap()["v"]
            ));
        }
        out
    }

    fn sorted(mut names: Vec<String>) -> Vec<String> {
        names.sort();
        names
    }

    #[test]
    fn early_subscribers_get_the_first_list_once_then_each_change() {
        let mut fake = Fake::new(16);
        let mut touched = Box::pin(fake.cache.touched());
        let mut applied = Box::pin(fake.cache.applied());
        fake.deliver([Event::Init, Event::InitApply(object("a", "1"))]);
        assert_eq!(ready_now(&mut touched), Vec::<String>::new());

        fake.deliver([Event::InitApply(object("b", "1")), Event::InitDone]);
        assert_eq!(sorted(ready_now(&mut touched)), ["a=1", "b=1"]);
        assert_eq!(sorted(ready_now(&mut applied)), ["a=1", "b=1"]);

        fake.deliver([
            Event::Apply(object("a", "2")),
            Event::Delete(object("b", "1")),
        ]);
        assert_eq!(ready_now(&mut touched), ["a=2", "b=1"]);
        assert_eq!(ready_now(&mut applied), ["a=2"]);
    }

    #[test]
    fn later_subscribers_start_with_the_whole_cache() {
        let mut fake = Fake::new(16);
        fake.deliver(list(&[("a", "1"), ("b", "1")]));
        fake.deliver([
            Event::Apply(object("c", "1")),
            Event::Delete(object("b", "1")),
        ]);
        // A controller started when this replica regains the lease.
        let mut touched = Box::pin(fake.cache.touched());
        assert_eq!(sorted(ready_now(&mut touched)), ["a=1", "c=1"]);
        fake.deliver([Event::Apply(object("a", "2"))]);
        assert_eq!(ready_now(&mut touched), ["a=2"]);
    }

    #[test]
    fn a_subscriber_that_falls_behind_gets_the_whole_cache_again() {
        let mut fake = Fake::new(2);
        fake.deliver(list(&[("a", "1"), ("b", "1")]));
        let mut touched = Box::pin(fake.cache.touched());
        assert_eq!(sorted(ready_now(&mut touched)), ["a=1", "b=1"]);

        // More changes than the channel holds, none read: the watch goes on regardless.
        fake.deliver([
            Event::Apply(object("a", "2")),
            Event::Apply(object("b", "2")),
            Event::Apply(object("a", "3")),
            Event::Apply(object("c", "1")),
        ]);
        let got = ready_now(&mut touched);
        assert_eq!(sorted(got[..3].to_vec()), ["a=3", "b=2", "c=1"]);
        // Then what the channel still holds.
        assert_eq!(got[3..], ["a=3", "c=1"]);
    }

    #[test]
    fn a_relist_reports_what_it_dropped_and_hands_out_the_rest() {
        let mut fake = Fake::new(16);
        fake.deliver(list(&[("a", "1"), ("b", "1")]));
        let mut touched = Box::pin(fake.cache.touched());
        let mut applied = Box::pin(fake.cache.applied());
        ready_now(&mut touched);
        ready_now(&mut applied);

        // The watch fell too far behind and listed again; `b` was deleted meanwhile.
        fake.deliver(list(&[("a", "2")]));
        assert_eq!(ready_now(&mut touched), ["b=1", "a=2"]);
        assert_eq!(ready_now(&mut applied), ["a=2"]);
    }

    #[tokio::test]
    async fn every_waiter_learns_of_the_first_list() {
        let mut fake = Fake::new(16);
        let waiters: Vec<_> = (0..4).map(|_| tokio::spawn(fake.cache.ready())).collect();
        tokio::task::yield_now().await;
        assert!(waiters.iter().all(|w| !w.is_finished()));
        fake.deliver(list(&[("a", "1")]));
        for waiter in waiters {
            let ready = tokio::time::timeout(Duration::from_secs(5), waiter).await;
            assert!(ready.unwrap().unwrap());
        }
        assert!(fake.cache.ready().await);
    }

    #[tokio::test]
    async fn a_cache_whose_watch_is_gone_before_listing_is_never_ready() {
        let Fake { cache, fill, .. } = Fake::new(16);
        drop(fill);
        assert!(!cache.ready().await);
    }
}
