//! Build metrics: counted per provider and result, timed per provider, optional.

use prometheus::Registry;

use super::*;
use crate::{AccessMetrics, BUILD_DURATION_SECONDS, BUILDS_TOTAL};

fn counter(registry: &Registry, provider: &str, result: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == BUILDS_TOTAL)
        .flat_map(|family| family.get_metric())
        .filter(|metric| {
            let labels: Vec<(&str, &str)> = metric
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            labels == [("provider", provider), ("result", result)]
        })
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}

fn observations(registry: &Registry, provider: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == BUILD_DURATION_SECONDS)
        .flat_map(|family| family.get_metric())
        .filter(|metric| metric.get_label().iter().any(|l| l.value() == provider))
        .map(|metric| metric.get_histogram().get_sample_count())
        .sum()
}

fn good_profile() -> v1alpha1::ClusterProfile {
    profile_v1alpha1(
        vec![entry("test-provider-2", cluster("https://two.example.com"))],
        vec![],
    )
}

#[test]
fn builds_are_counted_per_provider_and_result() {
    let registry = Registry::new();
    let builder = builder(test_providers()).with_metrics(&registry).unwrap();

    builder.config_for_v1alpha1(&good_profile()).unwrap();
    builder.config_for_v1alpha1(&good_profile()).unwrap();
    let bad_server = profile_v1alpha1(vec![entry("test-provider-2", cluster("not a url"))], vec![]);
    builder.config_for_v1alpha1(&bad_server).unwrap_err();
    let unmatched = profile_v1alpha1(
        vec![entry("elsewhere", cluster("https://x.example.com"))],
        vec![],
    );
    builder.config_for_v1alpha1(&unmatched).unwrap_err();

    assert_eq!(counter(&registry, "test-provider-2", "ok"), 2);
    assert_eq!(counter(&registry, "test-provider-2", "error"), 1);
    // No provider chosen: the label is empty, never a name taken from the profile.
    assert_eq!(counter(&registry, "", "error"), 1);
    assert_eq!(counter(&registry, "elsewhere", "error"), 0);
    assert_eq!(observations(&registry, "test-provider-2"), 3);
}

#[test]
fn a_builder_without_metrics_works() {
    let builder = builder(test_providers());
    assert!(builder.config_for_v1alpha1(&good_profile()).is_ok());
}

#[test]
fn metrics_can_be_shared_but_not_registered_twice() {
    let registry = Registry::new();
    let metrics = AccessMetrics::register(&registry).unwrap();
    assert!(AccessMetrics::register(&registry).is_err());
    assert!(builder(test_providers()).with_metrics(&registry).is_err());

    let first = builder(test_providers()).with_access_metrics(metrics.clone());
    let second = builder(test_providers()).with_access_metrics(metrics);
    first.config_for_v1alpha1(&good_profile()).unwrap();
    second.config_for_v1alpha1(&good_profile()).unwrap();
    assert_eq!(counter(&registry, "test-provider-2", "ok"), 2);
}

#[test]
fn a_failed_registration_leaves_the_registry_unchanged() {
    let registry = Registry::new();
    // Take the duration histogram's name so that the second registration fails.
    let squatter = prometheus::IntCounter::new(BUILD_DURATION_SECONDS, "taken").unwrap();
    registry.register(Box::new(squatter)).unwrap();
    assert!(AccessMetrics::register(&registry).is_err());
    let names: Vec<String> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(names, [BUILD_DURATION_SECONDS]);
}
