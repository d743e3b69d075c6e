//! Which clusters' credentials a pod gets for each RemoteServiceAccount it names, pure over the
//! watched RemoteServiceAccounts and MemberClusters.
//!
//! The targets are computed from the RemoteServiceAccount's spec with the remote access
//! controller's own selection (`access::targets::select`), not read from its status: the status
//! lags the spec by a reconcile and is empty for a RemoteServiceAccount created a moment ago
//! (`kubectl apply` of the account and a Deployment together), while the selection is what the
//! controller is about to provision. Named clusters that have not joined yet are mounted too:
//! the user named them, and the optional volume fills in once the member joins and its token
//! arrives.

use std::sync::Arc;

use kube::ResourceExt;
use roster_api::{MemberCluster, RemoteServiceAccount, names};

use super::mutate::Mount;
use crate::access::targets;

/// What to mount for `rsas` (annotation order) in a pod of `namespace` running as the service
/// account `pod_account`, with warnings for the user; or why the pod is refused (every problem,
/// one message). A federated RemoteServiceAccount acts as one hub service account, so only pods
/// running as that account can use it: the projected token is always the pod's own.
pub fn mounts(
    rsas: &[String],
    namespace: &str,
    pod_account: &str,
    lookup: impl Fn(&str) -> Option<Arc<RemoteServiceAccount>>,
    members: &[Arc<MemberCluster>],
) -> Result<(Vec<Mount>, Vec<String>), String> {
    let annotation = names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS;
    let mut mounts = Vec::new();
    let mut warnings = Vec::new();
    let mut problems = Vec::new();
    for name in rsas {
        let Some(rsa) = lookup(name) else {
            problems.push(format!(
                "remote service account {name:?} not found in namespace {namespace:?} \
                 (annotation {annotation})"
            ));
            continue;
        };
        if rsa.metadata.deletion_timestamp.is_some() {
            problems.push(format!(
                "remote service account {name:?} in namespace {namespace:?} is being deleted \
                 (annotation {annotation})"
            ));
            continue;
        }
        let clusters: Vec<String> = match targets::select(&rsa.spec.clusters, members) {
            Ok(targets) => targets
                .into_iter()
                // Names that cannot become a member namespace are never provisioned.
                .filter(|t| names::member_namespace_problem(&t.name).is_none())
                .map(|t| t.name)
                .collect(),
            Err(e) => {
                problems.push(format!(
                    "remote service account {name:?} in namespace {namespace:?} cannot select \
                     clusters: {e}"
                ));
                continue;
            }
        };
        let federated = match rsa.federated_service_account() {
            Some(account) if account != pod_account => {
                problems.push(format!(
                    "remote service account {name:?} in namespace {namespace:?} is federated \
                     for the hub service account {account:?}, but the pod runs as \
                     {pod_account:?}: set the pod's spec.serviceAccountName to {account:?}"
                ));
                continue;
            }
            Some(_) => Some(
                rsa.spec
                    .token
                    .as_ref()
                    .map_or(names::DEFAULT_TOKEN_EXPIRATION_SECONDS, |t| {
                        t.expiration_seconds
                    }),
            ),
            None => None,
        };
        if clusters.is_empty() {
            warnings.push(format!(
                "remote service account {name:?} targets no member cluster yet: nothing is \
                 mounted for it (recreate the pod once it does)"
            ));
        }
        mounts.push(Mount {
            rsa: rsa.name_any(),
            clusters,
            federated,
        });
    }
    if problems.is_empty() {
        Ok((mounts, warnings))
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::{
        RemoteServiceAccountSpec,
        remote_service_account::{ClusterSelection, MemberSelector},
    };

    fn rsa(name: &str, clusters: ClusterSelection) -> Arc<RemoteServiceAccount> {
        let mut rsa = RemoteServiceAccount::new(
            name,
            RemoteServiceAccountSpec {
                clusters,
                ..Default::default()
            },
        );
        rsa.metadata.namespace = Some("team-a".into());
        Arc::new(rsa)
    }

    fn named(names: &[&str]) -> ClusterSelection {
        ClusterSelection {
            names: Some(names.iter().map(|n| (*n).to_owned()).collect()),
            selector: None,
        }
    }

    fn selector(key: &str, value: &str) -> ClusterSelection {
        ClusterSelection {
            names: None,
            selector: Some(MemberSelector {
                match_labels: Some([(key.to_owned(), value.to_owned())].into()),
                match_expressions: None,
            }),
        }
    }

    fn member(name: &str, env: &str) -> Arc<MemberCluster> {
        let mut m = MemberCluster::new(name, Default::default());
        m.metadata.labels = Some([("env".to_owned(), env.to_owned())].into());
        Arc::new(m)
    }

    fn world() -> (Vec<Arc<RemoteServiceAccount>>, Vec<Arc<MemberCluster>>) {
        let rsas = vec![
            rsa(
                "deployer",
                named(&["member-2", "member-1", "not-joined-yet", "a.b"]),
            ),
            rsa("prod", selector("env", "prod")),
            rsa("nowhere", selector("env", "staging")),
            rsa("broken", selector("not a key", "x")),
        ];
        let members = vec![member("member-1", "prod"), member("member-2", "dev")];
        (rsas, members)
    }

    fn run(names: &[&str]) -> Result<(Vec<Mount>, Vec<String>), String> {
        let (rsas, members) = world();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        mounts(
            &names,
            "team-a",
            "default",
            |n| rsas.iter().find(|r| r.name_any() == n).cloned(),
            &members,
        )
    }

    #[test]
    fn names_and_selectors_give_sorted_servable_targets() {
        let (mounts, warnings) = run(&["prod", "deployer"]).unwrap();
        assert_eq!(
            mounts,
            [
                Mount {
                    rsa: "prod".into(),
                    clusters: vec!["member-1".into()],
                    federated: None,
                },
                Mount {
                    rsa: "deployer".into(),
                    clusters: vec![
                        "member-1".into(),
                        "member-2".into(),
                        "not-joined-yet".into()
                    ],
                    federated: None,
                },
            ]
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn no_targets_is_allowed_with_a_warning() {
        let (mounts, warnings) = run(&["nowhere"]).unwrap();
        assert_eq!(mounts[0].clusters, Vec::<String>::new());
        assert_eq!(
            warnings,
            [
                "remote service account \"nowhere\" targets no member cluster yet: nothing is \
              mounted for it (recreate the pod once it does)"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = run(&["missing", "deployer", "broken"]).unwrap_err();
        assert_eq!(
            err,
            "remote service account \"missing\" not found in namespace \"team-a\" (annotation \
             roster.dev/remote-service-accounts); remote service account \"broken\" in \
             namespace \"team-a\" cannot select clusters: selector label key \"not a key\": the \
             name must be at most 63 characters of letters, digits, '-', '_' or '.', starting \
             and ending with a letter or digit"
        );
    }

    #[test]
    fn a_federated_account_serves_only_pods_running_as_its_hub_service_account() {
        use roster_api::remote_service_account::{Federation, TokenSettings};
        let mut federated = (*rsa("ci", named(&["member-1"]))).clone();
        federated.spec.federation = Some(Federation {
            service_account_name: Some("ci-runner".into()),
        });
        federated.spec.token = Some(TokenSettings {
            expiration_seconds: 1200,
            audiences: vec![],
        });
        let federated = Arc::new(federated);
        let run = |account: &str| {
            mounts(
                &["ci".into()],
                "team-a",
                account,
                |_| Some(federated.clone()),
                &[member("member-1", "prod")],
            )
        };
        let (mounts, _) = run("ci-runner").unwrap();
        assert_eq!(mounts[0].federated, Some(1200));
        assert_eq!(
            run("default").unwrap_err(),
            "remote service account \"ci\" in namespace \"team-a\" is federated for the hub \
             service account \"ci-runner\", but the pod runs as \"default\": set the pod's \
             spec.serviceAccountName to \"ci-runner\""
        );
    }

    #[test]
    fn an_account_being_deleted_is_refused() {
        let mut leaving = (*rsa("leaving", named(&["member-1"]))).clone();
        leaving.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let leaving = Arc::new(leaving);
        let err = mounts(
            &["leaving".into()],
            "team-a",
            "default",
            |_| Some(leaving.clone()),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err,
            "remote service account \"leaving\" in namespace \"team-a\" is being deleted \
             (annotation roster.dev/remote-service-accounts)"
        );
    }
}
