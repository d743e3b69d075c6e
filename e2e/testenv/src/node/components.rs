//! Command lines of a node cluster's components, as pure functions of its files and plan.

use std::{ffi::OsString, path::Path};

use super::{
    files::Files,
    plan::{APISERVER_PORT, NodePlan, SERVICE_CIDR},
};
use crate::trust;

fn os(list: Vec<String>) -> Vec<OsString> {
    list.into_iter().map(OsString::from).collect()
}

/// etcd, alone in the node's namespace: fixed loopback ports, no fsync (test data).
pub fn etcd(files: &Files) -> Vec<OsString> {
    os(vec![
        "etcd".into(),
        format!("--data-dir={}", files.file("etcd").display()),
        "--listen-client-urls=http://127.0.0.1:2379".into(),
        "--advertise-client-urls=http://127.0.0.1:2379".into(),
        "--listen-peer-urls=http://127.0.0.1:2380".into(),
        "--initial-advertise-peer-urls=http://127.0.0.1:2380".into(),
        "--initial-cluster=default=http://127.0.0.1:2380".into(),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ])
}

/// The kube-apiserver: on every address of the node, advertising the node IP (the `kubernetes`
/// Service's endpoint, and the host of the issuer's `jwks_uri` members fetch), reaching kubelets
/// by their InternalIP (the node has no resolver); a member that `trusts_hub` loads the
/// authentication configuration [`super::files::write_all`] wrote.
pub fn apiserver(files: &Files, cluster: &str, plan: &NodePlan, trusts_hub: bool) -> Vec<OsString> {
    let f = |n: &str| files.file(n).display().to_string();
    let issuer = trust::issuer(cluster);
    let mut args = vec![
        "kube-apiserver".into(),
        "--etcd-servers=http://127.0.0.1:2379".into(),
        "--bind-address=0.0.0.0".into(),
        format!("--secure-port={APISERVER_PORT}"),
        format!("--advertise-address={}", plan.node_ip),
        format!("--cert-dir={}", files.dir().display()),
        format!("--tls-cert-file={}", f("apiserver.crt")),
        format!("--tls-private-key-file={}", f("apiserver.key")),
        format!("--client-ca-file={}", f("ca.crt")),
        "--authorization-mode=Node,RBAC".into(),
        "--enable-admission-plugins=NodeRestriction".into(),
        format!("--service-account-issuer={issuer}"),
        format!("--api-audiences={issuer}"),
        format!("--service-account-key-file={}", f("sa.pub")),
        format!("--service-account-signing-key-file={}", f("sa.key")),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        format!(
            "--kubelet-client-certificate={}",
            f("apiserver-kubelet-client.crt")
        ),
        format!("--kubelet-client-key={}", f("apiserver-kubelet-client.key")),
        "--kubelet-preferred-address-types=InternalIP".into(),
        "--enable-aggregator-routing=true".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ];
    if trusts_hub {
        args.push(trust::apiserver_flag(
            &files.file(trust::AUTHENTICATION_CONFIG),
        ));
    }
    os(args)
}

/// The kube-controller-manager, every default controller on (nodes are real here).
pub fn controller_manager(files: &Files) -> Vec<OsString> {
    os(vec![
        "kube-controller-manager".into(),
        format!(
            "--kubeconfig={}",
            files.kubeconfig("controller-manager").display()
        ),
        "--bind-address=127.0.0.1".into(),
        "--leader-elect=false".into(),
        "--use-service-account-credentials=true".into(),
        format!(
            "--service-account-private-key-file={}",
            files.file("sa.key").display()
        ),
        format!("--root-ca-file={}", files.file("ca.crt").display()),
        "--profiling=false".into(),
        "--v=1".into(),
    ])
}

/// The kube-scheduler.
pub fn scheduler(files: &Files) -> Vec<OsString> {
    os(vec![
        "kube-scheduler".into(),
        format!("--kubeconfig={}", files.kubeconfig("scheduler").display()),
        "--bind-address=127.0.0.1".into(),
        "--leader-elect=false".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ])
}

/// containerd (run through `controlplane exec`, so it dies with the test run).
pub fn containerd(files: &Files, containerd: &Path) -> Vec<OsString> {
    os(vec![
        "exec".into(),
        containerd.display().to_string(),
        format!("--config={}", files.file("containerd.toml").display()),
    ])
}

/// The kubelet.
pub fn kubelet(files: &Files, node: &str, plan: &NodePlan) -> Vec<OsString> {
    os(vec![
        "kubelet".into(),
        format!("--config={}", files.file("kubelet.json").display()),
        format!("--kubeconfig={}", files.kubeconfig("kubelet").display()),
        format!("--hostname-override={node}"),
        format!("--node-ip={}", plan.node_ip),
        format!("--cert-dir={}", files.file("kubelet-pki").display()),
        "--v=1".into(),
    ])
}

/// kube-proxy.
pub fn kube_proxy(files: &Files) -> Vec<OsString> {
    os(vec![
        "kube-proxy".into(),
        format!("--config={}", files.file("kube-proxy.json").display()),
        "--v=1".into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::plan;

    fn has(args: &[OsString], flag: &str) -> bool {
        args.iter().any(|a| a == flag)
    }

    #[test]
    fn the_apiserver_advertises_the_node_ip_and_authorizes_nodes() -> anyhow::Result<()> {
        let files = Files::new(Path::new("/c"));
        let args = apiserver(&files, "hub", &plan::node(0)?, false);
        assert!(has(&args, "--advertise-address=10.200.0.11"));
        assert!(has(&args, "--bind-address=0.0.0.0"));
        assert!(has(&args, "--authorization-mode=Node,RBAC"));
        assert!(has(&args, "--kubelet-preferred-address-types=InternalIP"));
        assert!(has(
            &args,
            "--service-account-issuer=https://hub.roster.test"
        ));
        assert!(
            !args
                .iter()
                .any(|a| a.to_string_lossy().starts_with("--authentication-config"))
        );
        Ok(())
    }

    #[test]
    fn a_trusting_member_loads_its_authentication_configuration() -> anyhow::Result<()> {
        let files = Files::new(Path::new("/c"));
        let args = apiserver(&files, "member-1", &plan::node(1)?, true);
        assert!(has(
            &args,
            "--authentication-config=/c/authentication-config.yaml"
        ));
        Ok(())
    }

    #[test]
    fn the_kubelet_names_its_node_and_address() -> anyhow::Result<()> {
        let files = Files::new(Path::new("/c"));
        let args = kubelet(&files, "hub", &plan::node(1)?);
        assert!(has(&args, "--hostname-override=hub"));
        assert!(has(&args, "--node-ip=10.200.0.12"));
        assert!(has(&args, "--config=/c/kubelet.json"));
        Ok(())
    }

    #[test]
    fn containerd_runs_through_exec_with_its_config() {
        let args = containerd(&Files::new(Path::new("/c")), Path::new("/b/containerd"));
        assert_eq!(
            args,
            ["exec", "/b/containerd", "--config=/c/containerd.toml"]
        );
    }
}
