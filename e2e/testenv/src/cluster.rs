//! One test cluster: a kube-apiserver and a kube-controller-manager on loopback, sharing the
//! fleet's etcd under their own key prefix.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use anyhow::Context;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::{Api, config::Kubeconfig};

use roster_api::federation::HubIssuer;

use crate::{
    kubeconfig,
    pki::{CertKey, Pki},
    process::{Process, Spec},
    trust, wait,
};

/// How long a cluster may take to become ready; generous for a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A running test cluster.
#[derive(Debug)]
pub struct Cluster {
    name: String,
    server: String,
    dir: PathBuf,
    pki: Pki,
    admin: Kubeconfig,
    apiserver_spec: Spec,
    apiserver: Mutex<Option<Process>>,
    controller_manager: Mutex<Option<Process>>,
}

/// Where a cluster's processes find the binary and etcd.
#[derive(Debug)]
pub(crate) struct LaunchOptions<'a> {
    pub binary: &'a Path,
    pub dir: PathBuf,
    pub etcd_url: &'a str,
    /// The hub whose service-account tokens this cluster's API server accepts for its own
    /// audience (see [`crate::trust`]); `None` for the hub and untrusting members.
    pub trust: Option<&'a HubIssuer>,
}

impl Cluster {
    /// Writes the cluster's PKI and kubeconfigs and starts its processes; does not wait.
    pub(crate) fn launch(name: &str, opts: LaunchOptions<'_>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&opts.dir)?;
        let dir = opts.dir;
        let port = crate::ports::free_port()?;
        let server = format!("https://127.0.0.1:{port}");
        let pki = Pki::generate(name)?;
        let file = |n: &str| dir.join(n);
        write(&file("ca.crt"), &pki.ca_pem)?;
        write(&file("apiserver.crt"), &pki.serving.cert_pem)?;
        write(&file("apiserver.key"), &pki.serving.key_pem)?;
        write(&file("sa.key"), &pki.service_account_key_pem)?;
        write(&file("sa.pub"), &pki.service_account_public_pem)?;

        let admin_cert = pki.client_cert("roster-admin", Some("system:masters"))?;
        let admin = kubeconfig::client_cert_kubeconfig(name, &server, &pki.ca_pem, &admin_cert);
        write(&file("admin.kubeconfig"), &kubeconfig::to_yaml(&admin)?)?;
        let kcm_cert = pki.client_cert("system:kube-controller-manager", None)?;
        let kcm = kubeconfig::client_cert_kubeconfig(name, &server, &pki.ca_pem, &kcm_cert);
        write(
            &file("controller-manager.kubeconfig"),
            &kubeconfig::to_yaml(&kcm)?,
        )?;

        let issuer = trust::issuer(name);
        let mut apiserver_args = vec![
            "kube-apiserver".into(),
            format!("--etcd-servers={}", opts.etcd_url),
            format!("--etcd-prefix=/roster-test/{name}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", dir.display()),
            format!("--tls-cert-file={}", file("apiserver.crt").display()),
            format!("--tls-private-key-file={}", file("apiserver.key").display()),
            format!("--client-ca-file={}", file("ca.crt").display()),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-issuer={issuer}"),
            format!("--api-audiences={issuer}"),
            format!("--service-account-key-file={}", file("sa.pub").display()),
            format!(
                "--service-account-signing-key-file={}",
                file("sa.key").display()
            ),
            "--service-cluster-ip-range=10.96.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--enable-priority-and-fairness=false".into(),
            "--profiling=false".into(),
            "--endpoint-reconciler-type=none".into(),
            "--v=1".into(),
        ];
        if let Some(hub) = opts.trust {
            apiserver_args.push(trust::write_member_config(&dir, name, hub)?);
        }
        let apiserver_spec = Spec {
            name: format!("{name}/kube-apiserver"),
            program: opts.binary.to_owned(),
            args: args(&apiserver_args),
            log: file("kube-apiserver.log"),
            env: Vec::new(),
        };
        let controller_manager_spec = Spec {
            name: format!("{name}/kube-controller-manager"),
            program: opts.binary.to_owned(),
            args: args(&[
                "kube-controller-manager".into(),
                format!("--kubeconfig={}", file("controller-manager.kubeconfig").display()),
                "--secure-port=0".into(),
                "--leader-elect=false".into(),
                "--use-service-account-credentials=true".into(),
                format!("--service-account-private-key-file={}", file("sa.key").display()),
                format!("--root-ca-file={}", file("ca.crt").display()),
                // Controllers for nodes, volumes and autoscaling have nothing to do without nodes.
                "--controllers=*,-node-ipam-controller,-node-lifecycle-controller,-persistentvolume-binder-controller,-persistentvolume-attach-detach-controller,-persistentvolume-expander-controller,-horizontal-pod-autoscaler-controller".into(),
                "--profiling=false".into(),
                "--v=1".into(),
            ]),
            log: file("kube-controller-manager.log"),
            env: Vec::new(),
        };
        let apiserver = Process::spawn(apiserver_spec.clone())?;
        let controller_manager = Process::spawn(controller_manager_spec)?;
        Ok(Self {
            name: name.to_owned(),
            server,
            dir,
            pki,
            admin,
            apiserver_spec,
            apiserver: Mutex::new(Some(apiserver)),
            controller_manager: Mutex::new(Some(controller_manager)),
        })
    }

    /// Waits until the API server is ready and the controller manager has done its first work
    /// (the `default` service account and the `kube-root-ca.crt` config map exist).
    pub(crate) async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = self.client().await?;
        wait::until(
            &format!("{} API server ready", self.name),
            READY_TIMEOUT,
            || {
                let client = client.clone();
                async move {
                    self.check_processes()?;
                    let req = http::Request::get("/readyz").body(Vec::new())?;
                    Ok(client
                        .request_text(req)
                        .await
                        .ok()
                        .filter(|body| body.trim() == "ok"))
                }
            },
        )
        .await?;
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        wait::until(
            &format!("{} controller manager working", self.name),
            READY_TIMEOUT,
            || {
                let (sas, cms) = (sas.clone(), cms.clone());
                async move {
                    self.check_processes()?;
                    let sa = sas.get_opt("default").await.ok().flatten();
                    let cm = cms.get_opt("kube-root-ca.crt").await.ok().flatten();
                    Ok(sa.and(cm).map(|_| ()))
                }
            },
        )
        .await
    }

    /// Fails, with the log's tail, if a process of this cluster has exited.
    fn check_processes(&self) -> anyhow::Result<()> {
        for slot in [&self.apiserver, &self.controller_manager] {
            let mut guard = slot.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if let Some(process) = guard.as_mut()
                && let Some(status) = process.exit_status()
            {
                anyhow::bail!(
                    "{} exited ({status}); last log lines:\n{}",
                    process.spec().name,
                    process.log_tail(30)
                );
            }
        }
        Ok(())
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The CA certificate (PEM) that signs the API server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// The service-account signing key (PEM, PKCS#8), for tests that forge tokens.
    pub fn service_account_key_pem(&self) -> &str {
        &self.pki.service_account_key_pem
    }

    /// The authentication configuration this cluster's API server runs with (a member that
    /// trusts its hub), if any.
    pub fn authentication_config_path(&self) -> Option<PathBuf> {
        trust::config_path(&self.dir)
    }

    /// The folder holding this cluster's PKI, kubeconfigs and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the admin (system:masters) kubeconfig.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// The admin kubeconfig.
    pub fn admin_kubeconfig(&self) -> &Kubeconfig {
        &self.admin
    }

    /// An admin client configuration.
    pub async fn config(&self) -> anyhow::Result<kube::Config> {
        kubeconfig::to_config(self.admin.clone()).await
    }

    /// A new admin client. Each test builds its own: a client belongs to the runtime it was
    /// made on.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(kube::Client::try_from(self.config().await?)?)
    }

    /// A kubeconfig for `user` (optionally in `group`) authenticated by a client certificate,
    /// with no permissions beyond what RBAC grants that user.
    pub fn user_kubeconfig(&self, user: &str, group: Option<&str>) -> anyhow::Result<Kubeconfig> {
        let cert: CertKey = self.pki.client_cert(user, group)?;
        Ok(kubeconfig::client_cert_kubeconfig(
            &self.name,
            &self.server,
            &self.pki.ca_pem,
            &cert,
        ))
    }

    /// A kubeconfig authenticating with a bearer token.
    pub fn token_kubeconfig(&self, token: &str) -> Kubeconfig {
        kubeconfig::token_kubeconfig(&self.name, &self.server, &self.pki.ca_pem, token)
    }

    /// Stops the API server (the controller manager keeps running and retrying).
    pub fn stop_apiserver(&self) -> anyhow::Result<()> {
        let mut guard = self
            .apiserver
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        if let Some(mut process) = guard.take() {
            process.stop();
        }
        Ok(())
    }

    /// Starts the API server again after [`Cluster::stop_apiserver`] and waits until ready.
    pub async fn start_apiserver(&self) -> anyhow::Result<()> {
        {
            let mut guard = self
                .apiserver
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            if guard.is_none() {
                *guard = Some(Process::spawn(self.apiserver_spec.clone())?);
            }
        }
        self.wait_ready().await
    }

    /// Resident memory of the cluster's running processes, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        [&self.apiserver, &self.controller_manager]
            .iter()
            .filter_map(|slot| slot.lock().ok()?.as_ref().and_then(Process::rss_bytes))
            .sum()
    }

    /// Process ids of the cluster's running processes.
    pub fn pids(&self) -> Vec<u32> {
        [&self.apiserver, &self.controller_manager]
            .iter()
            .filter_map(|slot| slot.lock().ok()?.as_ref().map(Process::pid))
            .collect()
    }
}

fn args(list: &[String]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn write(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}
