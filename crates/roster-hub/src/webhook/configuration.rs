//! Drift of the hub's MutatingWebhookConfiguration: whether what the API server holds still
//! says what [`roster_api::webhook::configuration`] builds. A deleted configuration lets
//! annotated pods start without their credentials; a `failurePolicy: Ignore`, a dropped match
//! condition or another URL changes who is mutated, or whether at all. The hub (self-generated
//! certificates only) watches the configuration and applies the whole desired object when
//! [`drift`] finds anything.
//!
//! Only what the hub sets counts, per webhook of the desired object found by name: review
//! versions, side effects, failure and reinvocation policies, timeout, client config (URL or
//! Service), rules and namespace selector (atomic, compared whole), each desired match
//! condition (a keyed list: others' extra conditions are kept by server-side apply, so they are
//! not drift), and the caBundle. Labels, annotations, other webhooks and fields the hub leaves
//! to the API server's defaults are not.
//!
//! Server-side apply cannot remove a field another manager owns: a `url` someone put in place
//! of the hub's `service` stays beside it, and the object is then invalid. For that case
//! [`replacement`] replaces the hub's webhooks whole (a JSON patch), after which the apply
//! holds.

use k8s_openapi::api::admissionregistration::v1::{MutatingWebhook, MutatingWebhookConfiguration};
use serde_json::{Value, json};

/// What differs, for logs: field names; empty when nothing the hub sets differs.
pub fn drift(
    desired: &MutatingWebhookConfiguration,
    observed: &MutatingWebhookConfiguration,
) -> Vec<String> {
    let mut found = Vec::new();
    for want in desired.webhooks.iter().flatten() {
        let have = observed
            .webhooks
            .iter()
            .flatten()
            .find(|w| w.name == want.name);
        match have {
            Some(have) => webhook_drift(want, have, &mut found),
            None => found.push(format!("webhooks[{}]", want.name)),
        }
    }
    found
}

fn webhook_drift(want: &MutatingWebhook, have: &MutatingWebhook, found: &mut Vec<String>) {
    let mut differs = |field: &str, differs: bool| {
        if differs {
            found.push(format!("webhooks[{}].{field}", want.name));
        }
    };
    /// A field the hub sets (Some) must hold that value; one it leaves unset is the API
    /// server's (defaults) or another manager's.
    fn set_and_differs<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
        want.is_some() && want != have
    }
    differs(
        "admissionReviewVersions",
        want.admission_review_versions != have.admission_review_versions,
    );
    differs("sideEffects", want.side_effects != have.side_effects);
    differs(
        "failurePolicy",
        set_and_differs(&want.failure_policy, &have.failure_policy),
    );
    differs(
        "reinvocationPolicy",
        set_and_differs(&want.reinvocation_policy, &have.reinvocation_policy),
    );
    differs(
        "timeoutSeconds",
        set_and_differs(&want.timeout_seconds, &have.timeout_seconds),
    );
    let (want_client, have_client) = (&want.client_config, &have.client_config);
    differs(
        "clientConfig",
        want_client.url != have_client.url || want_client.service != have_client.service,
    );
    differs(
        "clientConfig.caBundle",
        set_and_differs(&want_client.ca_bundle, &have_client.ca_bundle),
    );
    differs("rules", set_and_differs(&want.rules, &have.rules));
    differs(
        "namespaceSelector",
        set_and_differs(&want.namespace_selector, &have.namespace_selector),
    );
    let conditions = have.match_conditions.as_deref().unwrap_or_default();
    differs(
        "matchConditions",
        want.match_conditions
            .iter()
            .flatten()
            .any(|w| !conditions.contains(w)),
    );
}

/// A JSON patch that replaces each webhook of `desired` in `observed` whole (guarded by a test
/// of its name at that index, so a concurrent reorder fails instead of hitting another
/// webhook), or adds it when missing. Others' webhooks are left alone.
pub fn replacement(
    desired: &MutatingWebhookConfiguration,
    observed: &MutatingWebhookConfiguration,
) -> Result<json_patch::Patch, serde_json::Error> {
    let present = observed.webhooks.as_deref().unwrap_or_default();
    let mut ops = Vec::new();
    if observed.webhooks.is_none() {
        ops.push(json!({"op": "add", "path": "/webhooks", "value": []}));
    }
    for want in desired.webhooks.iter().flatten() {
        let value = serde_json::to_value(want)?;
        match present.iter().position(|w| w.name == want.name) {
            Some(i) => {
                let path = format!("/webhooks/{i}");
                ops.push(json!({"op": "test", "path": format!("{path}/name"), "value": want.name}));
                ops.push(json!({"op": "replace", "path": path, "value": value}));
            }
            None => ops.push(json!({"op": "add", "path": "/webhooks/-", "value": value})),
        }
    }
    serde_json::from_value(Value::Array(ops))
}

/// Whether `drift` is only the caBundle (a CA rotation, or a first fill), for logs.
pub fn only_ca_bundle(drift: &[String]) -> bool {
    drift.iter().all(|d| d.ends_with(".caBundle"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use k8s_openapi::{
        ByteString, api::admissionregistration::v1::MatchCondition,
        apimachinery::pkg::apis::meta::v1::LabelSelector,
    };
    use roster_api::webhook::{self, Endpoint};

    use super::*;

    fn desired() -> MutatingWebhookConfiguration {
        let endpoint: Endpoint = "roster-system/roster-hub:443".parse().unwrap();
        webhook::configuration("roster-hub", &endpoint, "roster-system", Some(b"CA"))
    }

    /// An edit someone else makes to the hub's webhook.
    type Edit = fn(&mut MutatingWebhook);

    fn edited(edit: impl FnOnce(&mut MutatingWebhook)) -> MutatingWebhookConfiguration {
        let mut config = desired();
        edit(&mut config.webhooks.as_mut().unwrap()[0]);
        config
    }

    #[test]
    fn what_others_or_the_api_server_add_is_not_drift() {
        assert!(drift(&desired(), &desired()).is_empty());
        let mut observed = edited(|w| {
            w.match_policy = Some("Equivalent".into());
            w.object_selector = Some(LabelSelector::default());
            w.match_conditions.as_mut().unwrap().push(MatchCondition {
                name: "theirs".into(),
                expression: "true".into(),
            });
        });
        observed.metadata.labels = Some([("team".to_owned(), "x".to_owned())].into());
        observed.metadata.annotations = Some([("note".to_owned(), "y".to_owned())].into());
        let mut other = observed.webhooks.as_ref().unwrap()[0].clone();
        other.name = "other.example.com".into();
        observed.webhooks.as_mut().unwrap().push(other);
        assert!(drift(&desired(), &observed).is_empty());
    }

    #[test]
    fn removals_and_changes_of_what_the_hub_sets_are_drift() {
        let empty = MutatingWebhookConfiguration::default();
        assert_eq!(
            drift(&desired(), &empty),
            [
                "webhooks[pods.roster.dev]",
                "webhooks[remoteserviceaccounts.roster.dev]"
            ]
        );
        let cases: [(&str, Edit); 8] = [
            ("failurePolicy", |w| {
                w.failure_policy = Some("Ignore".into())
            }),
            ("matchConditions", |w| w.match_conditions = None),
            ("clientConfig", |w| {
                w.client_config.service = None;
                w.client_config.url = Some("https://elsewhere/x".into());
            }),
            ("clientConfig.caBundle", |w| {
                w.client_config.ca_bundle = Some(ByteString(b"old".to_vec()));
            }),
            ("rules", |w| w.rules.as_mut().unwrap().clear()),
            ("namespaceSelector", |w| {
                w.namespace_selector = Some(LabelSelector::default());
            }),
            ("timeoutSeconds", |w| w.timeout_seconds = Some(30)),
            ("reinvocationPolicy", |w| {
                w.reinvocation_policy = Some("Never".into());
            }),
        ];
        for (field, edit) in cases {
            assert_eq!(
                drift(&desired(), &edited(edit)),
                [format!("webhooks[pods.roster.dev].{field}")],
                "{field}"
            );
        }
        let rotated = drift(&desired(), &edited(|w| w.client_config.ca_bundle = None));
        assert!(only_ca_bundle(&rotated), "{rotated:?}");
        let tampered = drift(
            &desired(),
            &edited(|w| {
                w.client_config.ca_bundle = None;
                w.failure_policy = Some("Ignore".into());
            }),
        );
        assert!(!only_ca_bundle(&tampered), "{tampered:?}");
    }

    #[test]
    fn the_replacement_puts_the_hubs_webhook_back_whole_and_keeps_others() {
        // A URL beside the hub's Service: what an apply leaves when someone swapped them.
        let mut observed = edited(|w| w.client_config.url = Some("https://elsewhere/x".into()));
        let mut other = desired().webhooks.unwrap()[0].clone();
        other.name = "other.example.com".into();
        observed.webhooks.as_mut().unwrap().insert(0, other.clone());
        let patch = replacement(&desired(), &observed).unwrap();
        let mut doc = serde_json::to_value(&observed).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        let patched: MutatingWebhookConfiguration = serde_json::from_value(doc).unwrap();
        assert!(drift(&desired(), &patched).is_empty());
        let hooks = patched.webhooks.unwrap();
        assert_eq!(hooks[0], other);
        assert_eq!(hooks[1].client_config.url, None);

        // Missing altogether: added.
        for observed in [
            MutatingWebhookConfiguration::default(),
            MutatingWebhookConfiguration {
                webhooks: Some(vec![other.clone()]),
                ..MutatingWebhookConfiguration::default()
            },
        ] {
            let mut doc = serde_json::to_value(&observed).unwrap();
            json_patch::patch(&mut doc, &replacement(&desired(), &observed).unwrap()).unwrap();
            let patched: MutatingWebhookConfiguration = serde_json::from_value(doc).unwrap();
            assert!(drift(&desired(), &patched).is_empty());
        }
    }
}
