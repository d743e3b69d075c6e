//! The per-profile cache of parsed servers and CAs: reused only for the same bytes, replaced
//! when they change, never holding a failure, swept when unused, shared by a builder's clones.

use std::{
    cell::Cell,
    time::{Duration, Instant},
};

use super::*;
use crate::{
    AccessError,
    parsed::{Parsed, ParsedClusters, SWEEP_INTERVAL, Source},
};

fn other_ca_pem() -> String {
    rcgen::generate_simple_self_signed(vec!["other.example.com".to_owned()])
        .unwrap()
        .cert
        .pem()
}

fn der_of(pem: &str) -> Vec<u8> {
    pem::parse(pem).unwrap().into_contents()
}

fn profile(namespace: &str, server: &str, ca: Option<&str>) -> v1alpha1::ClusterProfile {
    let cluster = v1alpha1::Cluster {
        certificate_authority_data: ca.map(|pem| ByteString(pem.as_bytes().to_vec())),
        ..cluster(server)
    };
    let mut profile = profile_v1alpha1(vec![entry("p", cluster)], vec![]);
    profile.metadata.namespace = Some(namespace.to_owned());
    profile
}

fn root_cert(config: &kube::Config) -> Vec<u8> {
    let certs = config.root_cert.as_ref().unwrap();
    assert_eq!(certs.len(), 1);
    certs[0].clone()
}

fn source<'a>(namespace: &'a str, server: &'a str, ca_pem: &'a [u8]) -> Source<'a> {
    Source {
        namespace,
        name: "member-1",
        server,
        ca_pem,
    }
}

/// A parse that counts its calls.
fn counted(calls: &Cell<u32>, server: &str) -> impl FnOnce() -> Result<Parsed, String> {
    calls.set(calls.get() + 1);
    let url = server.parse().unwrap();
    move || {
        Ok(Parsed {
            url,
            root_cert: None,
        })
    }
}

#[test]
fn the_same_server_and_ca_are_parsed_once() {
    let cache = ParsedClusters::new(Instant::now());
    let calls = Cell::new(0);
    let now = Instant::now();
    for _ in 0..3 {
        let parsed = cache
            .get_or_parse(source("a", "https://one", b"ca"), now, || {
                counted(&calls, "https://one")()
            })
            .unwrap();
        assert_eq!(parsed.url.to_string(), "https://one/");
    }
    assert_eq!(calls.get(), 1);
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_changed_server_or_ca_is_parsed_again_and_replaces_the_entry() {
    let cache = ParsedClusters::new(Instant::now());
    let calls = Cell::new(0);
    let now = Instant::now();
    let get = |server: &str, ca: &[u8]| {
        cache
            .get_or_parse(source("a", server, ca), now, || counted(&calls, server)())
            .unwrap()
            .url
            .to_string()
    };
    assert_eq!(get("https://one", b"ca"), "https://one/");
    assert_eq!(get("https://one", b"ca2"), "https://one/");
    assert_eq!(get("https://two", b"ca2"), "https://two/");
    assert_eq!(get("https://two", b"ca2"), "https://two/");
    assert_eq!(get("https://two", b""), "https://two/");
    assert_eq!(calls.get(), 4);
    assert_eq!(cache.len(), 1, "one entry per profile");
}

#[test]
fn profiles_of_one_name_in_two_namespaces_are_kept_apart() {
    let cache = ParsedClusters::new(Instant::now());
    let calls = Cell::new(0);
    let now = Instant::now();
    for namespace in ["a", "b", "a", "b"] {
        let server = format!("https://{namespace}");
        let parsed = cache
            .get_or_parse(source(namespace, &server, b"ca"), now, || {
                counted(&calls, &server)()
            })
            .unwrap();
        assert_eq!(parsed.url.to_string(), format!("{server}/"));
    }
    assert_eq!(calls.get(), 2);
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_failed_parse_is_not_kept() {
    let cache = ParsedClusters::new(Instant::now());
    let now = Instant::now();
    let failed: Result<Parsed, String> =
        cache.get_or_parse(source("a", "https://one", b"ca"), now, || {
            Err("no".to_owned())
        });
    assert!(failed.is_err());
    assert_eq!(cache.len(), 0);
    let calls = Cell::new(0);
    cache
        .get_or_parse(source("a", "https://one", b"ca"), now, || {
            counted(&calls, "https://one")()
        })
        .unwrap();
    assert_eq!(calls.get(), 1);
}

#[test]
fn entries_unused_for_a_sweep_interval_are_dropped() {
    let start = Instant::now();
    let cache = ParsedClusters::new(start);
    let calls = Cell::new(0);
    let get = |namespace: &str, now: Instant| {
        cache
            .get_or_parse(source(namespace, "https://one", b"ca"), now, || {
                counted(&calls, "https://one")()
            })
            .unwrap();
    };
    get("used", start);
    get("unused", start);
    // The first sweep keeps both (both were used in the interval before it) and clears their
    // marks; "used" is used again after it.
    get("used", start + SWEEP_INTERVAL);
    assert_eq!(calls.get(), 2);
    // The second drops "unused", which nothing used since the first.
    get("used", start + SWEEP_INTERVAL * 2);
    assert_eq!(calls.get(), 2);
    assert_eq!(cache.len(), 1);
    get(
        "unused",
        start + SWEEP_INTERVAL * 2 + Duration::from_secs(1),
    );
    assert_eq!(calls.get(), 3, "the dropped entry is parsed again");
}

#[test]
fn a_rotated_ca_reaches_the_config_and_a_builder_never_serves_a_stale_one() {
    let builder = builder(vec![provider("p", "plugin", &[])]);
    let (first, second) = (ca_pem(), other_ca_pem());
    let build =
        |ca: Option<&str>| builder.config_for_v1alpha1(&profile("inventory", "https://m", ca));

    assert_eq!(root_cert(&build(Some(&first)).unwrap()), der_of(&first));
    assert_eq!(root_cert(&build(Some(&first)).unwrap()), der_of(&first));
    assert_eq!(root_cert(&build(Some(&second)).unwrap()), der_of(&second));
    assert!(build(None).unwrap().root_cert.is_none());
    let invalid = build(Some(
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    ));
    assert!(
        matches!(
            invalid,
            Err(AccessError::InvalidCertificateAuthority { .. })
        ),
        "{invalid:?}"
    );
    assert_eq!(root_cert(&build(Some(&first)).unwrap()), der_of(&first));
}

#[test]
fn a_moved_server_reaches_the_config() {
    let builder = builder(vec![provider("p", "plugin", &[])]);
    let ca = ca_pem();
    let server = |server: &str| {
        builder
            .config_for_v1alpha1(&profile("inventory", server, Some(&ca)))
            .unwrap()
            .cluster_url
            .to_string()
    };
    assert_eq!(
        server("https://one.example.com"),
        "https://one.example.com/"
    );
    assert_eq!(
        server("https://two.example.com"),
        "https://two.example.com/"
    );
    let invalid = builder.config_for_v1alpha1(&profile("inventory", "two.example.com", Some(&ca)));
    assert!(
        matches!(invalid, Err(AccessError::InvalidServer { .. })),
        "{invalid:?}"
    );
}

#[test]
fn same_named_profiles_in_two_inventories_get_their_own_ca() {
    let builder = builder(vec![provider("p", "plugin", &[])]);
    let (first, second) = (ca_pem(), other_ca_pem());
    for _ in 0..2 {
        let a = builder
            .config_for_v1alpha1(&profile("inventory-a", "https://m", Some(&first)))
            .unwrap();
        let b = builder
            .config_for_v1alpha1(&profile("inventory-b", "https://m", Some(&second)))
            .unwrap();
        assert_eq!(root_cert(&a), der_of(&first));
        assert_eq!(root_cert(&b), der_of(&second));
    }
}

#[test]
fn clones_of_a_builder_share_what_it_parsed() {
    let builder = builder(vec![provider("p", "plugin", &[])]);
    let clone = builder.clone();
    let ca = ca_pem();
    builder
        .config_for_v1alpha1(&profile("inventory", "https://m", Some(&ca)))
        .unwrap();
    assert_eq!(clone.parsed_profiles(), 1);
    assert_eq!(format!("{builder:?}").matches("profiles: 1").count(), 1);
}
