//! What the hub needs to know about each published ClusterProfile to decide whether to write
//! it: who owns it, its resourceVersion, and digests of the content the hub manages — not the
//! profile itself. A profile is the largest object per member; keeping digests instead of a
//! cached copy is most of what a member costs the hub in memory.
//!
//! A digest is a hash of the value's JSON serialization: desired and observed content go
//! through the same Rust types, so equal content serializes to the same bytes.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Arc, Mutex},
};

use cluster_inventory::v1alpha1::ClusterProfile;
use futures::{Stream, StreamExt};
use kube::{ResourceExt, runtime::watcher};
use serde::Serialize;

use super::{
    desired_profile::{self, ProfileMeta},
    listed::Listed,
};

/// A digest of `value`'s content.
pub fn digest<T: Serialize + ?Sized>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes.hash(&mut hasher),
        // Never for these types; a digest nothing equals forces a write, never skips one.
        Err(_) => return u64::MAX,
    }
    hasher.finish()
}

/// The digests of a profile's hub-managed content: (labels and spec, status).
pub type Content = (u64, u64);

/// What the hub remembers of one observed profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Its resourceVersion.
    pub resource_version: Option<String>,
    /// The uids of its owners.
    pub owners: Vec<String>,
    /// Digests of its hub-managed content.
    pub content: Content,
}

impl Observed {
    /// What the hub remembers of `p`.
    pub fn of(p: &ClusterProfile) -> Self {
        Self {
            resource_version: p.resource_version(),
            owners: p.owner_references().iter().map(|o| o.uid.clone()).collect(),
            content: (digest(&managed_meta(p)), digest(&p.status)),
        }
    }

    /// Whether the object with `uid` owns it.
    pub fn owned_by(&self, uid: Option<&str>) -> bool {
        uid.is_some_and(|uid| self.owners.iter().any(|o| o == uid))
    }
}

/// The digests of the content the hub wants.
pub fn desired(profile: &desired_profile::DesiredProfile) -> Content {
    // `Some(status)` serializes like the observed `Option` does when set.
    (digest(&profile.meta), digest(&Some(&profile.status)))
}

/// The observed profile's labels (only those the hub manages) and spec.
fn managed_meta(p: &ClusterProfile) -> ProfileMeta {
    let labels = desired_profile::MANAGED_LABELS
        .iter()
        .filter_map(|k| p.labels().get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect();
    ProfileMeta {
        labels,
        spec: p.spec.clone(),
    }
}

/// The observed profiles of every inventory namespace, by name (a member's name), then
/// namespace.
#[derive(Debug, Default)]
pub struct Profiles {
    observed: Mutex<Maps>,
    listed: Listed,
}

/// The profiles, and those of a relist in progress (swapped in when it completes, as kube's
/// reflector does, so a relist never shows a half-filled map).
#[derive(Debug, Default)]
struct Maps {
    current: ByName,
    relist: ByName,
}

/// Profiles by name, each with the namespaces holding one (a member is in a few inventories).
type ByName = HashMap<String, Vec<(String, Observed)>>;

fn insert(map: &mut ByName, p: &ClusterProfile) {
    let namespace = p.namespace().unwrap_or_default();
    let copies = map.entry(p.name_any()).or_default();
    let observed = Observed::of(p);
    match copies.iter_mut().find(|(ns, _)| *ns == namespace) {
        Some((_, o)) => *o = observed,
        None => copies.push((namespace, observed)),
    }
}

fn remove(map: &mut ByName, p: &ClusterProfile) {
    let name = p.name_any();
    let namespace = p.namespace().unwrap_or_default();
    if let Some(copies) = map.get_mut(&name) {
        copies.retain(|(ns, _)| *ns != namespace);
        if copies.is_empty() {
            map.remove(&name);
        }
    }
}

impl Profiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the hub last saw of the profile `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Observed> {
        self.lock()
            .current
            .get(name)?
            .iter()
            .find(|(ns, _)| ns == namespace)
            .map(|(_, o)| o.clone())
    }

    /// The namespaces holding a profile named `name`, each with what the hub saw of it.
    pub fn copies(&self, name: &str) -> Vec<(String, Observed)> {
        self.lock().current.get(name).cloned().unwrap_or_default()
    }

    /// Waits until the profile watch delivered its first list.
    pub async fn wait_listed(&self) {
        self.listed.wait().await;
    }

    fn event(&self, event: &watcher::Event<ClusterProfile>) {
        let mut maps = self.lock();
        match event {
            watcher::Event::Apply(p) => insert(&mut maps.current, p),
            watcher::Event::Delete(p) => remove(&mut maps.current, p),
            watcher::Event::Init => maps.relist = HashMap::new(),
            watcher::Event::InitApply(p) => insert(&mut maps.relist, p),
            watcher::Event::InitDone => {
                maps.current = std::mem::take(&mut maps.relist);
                drop(maps);
                self.listed.set();
            }
        }
    }
}

/// Keeps `profiles` current from the profile watch and passes every profile on, as a trigger
/// of its member's reconcile (a profile changed by someone else is put back).
pub fn profile_triggers(
    events: impl Stream<Item = Result<watcher::Event<ClusterProfile>, watcher::Error>> + Send + 'static,
    profiles: Arc<Profiles>,
) -> impl Stream<Item = Result<ClusterProfile, watcher::Error>> + Send + 'static {
    events.filter_map(move |event| {
        let passed = match event {
            Ok(event) => {
                profiles.event(&event);
                match event {
                    watcher::Event::Apply(p)
                    | watcher::Event::Delete(p)
                    | watcher::Event::InitApply(p) => Some(Ok(p)),
                    watcher::Event::Init | watcher::Event::InitDone => None,
                }
            }
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(passed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_inventory::v1alpha1::{ClusterProfileSpec, ClusterProfileStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn profile(name: &str, version: &str) -> ClusterProfile {
        let mut p = ClusterProfile::new(
            name,
            ClusterProfileSpec {
                display_name: Some(name.into()),
                ..Default::default()
            },
        );
        p.metadata.resource_version = Some("7".into());
        p.metadata.namespace = Some("inv".into());
        p.metadata.labels = Some(
            [
                ("x-k8s.io/cluster-manager".to_owned(), "roster".to_owned()),
                ("someone-else".to_owned(), "ignored".to_owned()),
            ]
            .into(),
        );
        p.metadata.owner_references = Some(vec![OwnerReference {
            uid: "uid-1".into(),
            ..Default::default()
        }]);
        p.status = Some(ClusterProfileStatus {
            version: Some(cluster_inventory::v1alpha1::ClusterVersion {
                kubernetes: Some(version.into()),
            }),
            ..Default::default()
        });
        p
    }

    fn meta_of(p: &ClusterProfile) -> ProfileMeta {
        managed_meta(p)
    }

    #[test]
    fn the_observed_digest_matches_the_same_desired_content_only() {
        let p = profile("a", "v1.37.0");
        let o = Observed::of(&p);
        let want = desired(&desired_profile::DesiredProfile {
            meta: meta_of(&p),
            status: p.status.clone().unwrap(),
        });
        assert_eq!(o.content, want);
        let newer = profile("a", "v1.37.1");
        assert_ne!(o.content.1, Observed::of(&newer).content.1);
        assert_eq!(o.content.0, Observed::of(&newer).content.0);
        // Labels the hub does not manage do not matter; its own do.
        let mut relabelled = p.clone();
        relabelled
            .labels_mut()
            .insert("someone-else".into(), "changed".into());
        assert_eq!(Observed::of(&relabelled).content, o.content);
        relabelled
            .labels_mut()
            .insert("x-k8s.io/cluster-manager".into(), "other".into());
        assert_ne!(Observed::of(&relabelled).content.0, o.content.0);
        // No status is not an empty one.
        let mut bare = p.clone();
        bare.status = None;
        assert_ne!(
            Observed::of(&bare).content.1,
            digest(&Some(ClusterProfileStatus::default()))
        );
        assert!(o.owned_by(Some("uid-1")));
        assert!(!o.owned_by(Some("uid-2")));
        assert!(!o.owned_by(None));
    }

    #[tokio::test]
    async fn the_watch_keeps_digests_and_passes_every_profile_on() {
        let profiles = Arc::new(Profiles::default());
        let events = vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(profile("a", "v1"))),
            Ok(watcher::Event::InitApply(profile("b", "v1"))),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(profile("a", "v2"))),
            Ok(watcher::Event::Delete(profile("b", "v1"))),
            // A relist shows nothing until it is complete.
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(profile("c", "v1"))),
        ];
        let passed: Vec<String> = profile_triggers(futures::stream::iter(events), profiles.clone())
            .map(|p| p.unwrap().name_any())
            .collect()
            .await;
        assert_eq!(passed, ["a", "b", "a", "b", "c"]);
        profiles.wait_listed().await;
        assert_eq!(
            profiles.get("inv", "a").unwrap().content,
            Observed::of(&profile("a", "v2")).content
        );
        assert_eq!(profiles.get("inv", "b"), None);
        assert_eq!(profiles.get("inv", "c"), None);
        profiles.event(&watcher::Event::InitDone);
        assert_eq!(profiles.get("inv", "a"), None, "gone from the relist");
        assert!(profiles.get("inv", "c").is_some());
        // Copies in other namespaces are kept apart.
        let mut elsewhere = profile("c", "v9");
        elsewhere.metadata.namespace = Some("kueue-system".into());
        profiles.event(&watcher::Event::Apply(elsewhere.clone()));
        let namespaces: Vec<String> = profiles.copies("c").into_iter().map(|(ns, _)| ns).collect();
        assert_eq!(namespaces, ["inv", "kueue-system"]);
        assert_ne!(
            profiles.get("kueue-system", "c").unwrap().content,
            profiles.get("inv", "c").unwrap().content
        );
        profiles.event(&watcher::Event::Delete(elsewhere));
        assert_eq!(profiles.copies("c").len(), 1);
    }
}
