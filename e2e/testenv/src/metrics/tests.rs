use super::*;

const PAGE: &str = r#"
# HELP roster_reconcile_total Reconciles by controller and result.
# TYPE roster_reconcile_total counter
roster_profile_writes_total 12
roster_reconcile_total{controller="member",result="ok"} 100
roster_reconcile_total{controller="member",result="error"} 4
roster_reconcile_total{controller="remote-access",result="ok"} 7
roster_reconcile_total_other 1
roster_write_errors_total{kind="ClusterProfile status",reason="a, b"} 2
roster_quoted{message="say \"hi\"\\now\nthen",x="y"} 3
apiserver_request_total{code="429",verb="PATCH"} 3 1700000000000
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 7
request_duration_seconds_bucket{le="0.005"} 90
request_duration_seconds_bucket{le="+Inf"} 100
request_duration_seconds_sum 0.5
summary_quantile{quantile="0.99"} NaN
not a sample line
"#;

#[test]
fn value_is_the_first_sample_with_every_label() {
    assert_eq!(value(PAGE, "roster_profile_writes_total", &[]), Some(12.0));
    assert_eq!(
        value(PAGE, "roster_reconcile_total", &[("result", "error")]),
        Some(4.0)
    );
    assert_eq!(value(PAGE, "roster_reconcile_total", &[]), Some(100.0));
    assert_eq!(
        value(
            PAGE,
            "roster_reconcile_total",
            &[("controller", "remote-access"), ("result", "error")]
        ),
        None
    );
    assert_eq!(value(PAGE, "missing", &[]), None);
}

#[test]
fn sum_adds_every_matching_sample_and_never_a_longer_name() {
    assert_eq!(sum(PAGE, "roster_reconcile_total", &[]), 111.0);
    assert_eq!(
        sum(PAGE, "roster_reconcile_total", &[("controller", "member")]),
        104.0
    );
    assert_eq!(sum(PAGE, "roster_reconcile_total_other", &[]), 1.0);
    assert_eq!(sum(PAGE, "missing", &[]), 0.0);
}

#[test]
fn empty_label_values_as_the_api_server_writes_them() {
    let gets = [("resource", "secrets"), ("verb", "GET")];
    assert_eq!(sum(PAGE, "apiserver_request_total", &gets), 7.0);
    assert_eq!(
        sum(PAGE, "apiserver_request_total", &[("dry_run", "")]),
        7.0
    );
}

#[test]
fn labels_keep_commas_spaces_and_escapes() {
    assert_eq!(
        value(
            PAGE,
            "roster_write_errors_total",
            &[("kind", "ClusterProfile status"), ("reason", "a, b")]
        ),
        Some(2.0)
    );
    let quoted = parse(PAGE)
        .find(|s| s.name == "roster_quoted")
        .expect("the quoted sample");
    assert_eq!(quoted.label("message"), Some("say \"hi\"\\now\nthen"));
    assert_eq!(quoted.label("x"), Some("y"));
    assert_eq!(quoted.value, 3.0);
}

#[test]
fn values_infinities_nan_and_timestamps() {
    // A timestamp after the value is not the value.
    assert_eq!(
        value(PAGE, "apiserver_request_total", &[("code", "429")]),
        Some(3.0)
    );
    let bounds: Vec<f64> = parse(PAGE)
        .filter(|s| s.name == "request_duration_seconds_bucket")
        .filter_map(|s| s.label("le")?.parse().ok())
        .collect();
    assert_eq!(bounds, vec![0.005, f64::INFINITY]);
    assert!(
        value(PAGE, "summary_quantile", &[])
            .expect("the NaN sample")
            .is_nan()
    );
    // Comments, blank lines and lines that are not samples yield nothing.
    assert_eq!(parse(PAGE).count(), 13);
    assert_eq!(parse("# only a comment\n\n").count(), 0);
}

#[test]
fn a_page_answers_like_the_functions() {
    let page = Page(PAGE.to_owned());
    assert_eq!(page.sum("roster_reconcile_total", &[]), 111.0);
    assert_eq!(page.value("roster_profile_writes_total", &[]), Some(12.0));
    assert_eq!(page.text(), PAGE);
}
