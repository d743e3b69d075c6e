//! Interoperability with the UPSTREAM Go access library (`sigs.k8s.io/cluster-inventory-api`
//! `pkg/access`, driven by `e2e/interop`'s `roster-interop`): a Go consumer reads a ClusterProfile
//! that roster-hub published, builds its `rest.Config` with `BuildConfigFromCP`, and reaches
//! member-1 through an exec plugin, as Argo CD or MultiKueue would.
//!
//! The member-side credential is made by hand here (a service account, a Role allowing to list
//! ConfigMaps in one namespace, a TokenRequest token), standing in for a RemoteServiceAccount.
//! Each test publishes its own profile: a MemberCluster named after the test namespace whose
//! `spec.apiServer` points at member-1 (so tests sharing the hub never collide on `member-1`).

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Namespace, Secret},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use roster_api::{
    Inventory, MemberCluster, MemberClusterSpec,
    member_cluster::ApiServer,
    names::{self, token_secret},
};
use roster_testenv::{
    TestEnv, identity, kubeconfig, roster,
    upstream::{self, LibraryBuild},
    wait,
};
use serde_json::{Value, json};

use super::support::{INVENTORY, hub_process};

const MEMBER: &str = "member-1";
const TIMEOUT: Duration = Duration::from_secs(60);
/// The ConfigMap the consumer must see on the member.
const CONFIGMAP: &str = "interop-data";
/// The member-side identity standing in for a RemoteServiceAccount's service account.
const READER: &str = "interop-reader";
/// The RemoteServiceAccount name the provider file and the token Secret use.
const RSA: &str = "interop";
/// `roster-interop`'s exit code for a 403 Forbidden from the member.
const EXIT_FORBIDDEN: i32 = 2;

/// What every test here starts from: a Roster-published profile pointing at member-1, and an
/// identity on member-1 that may list ConfigMaps in one namespace and nothing else.
struct Setup {
    env: TestEnv,
    /// Name of the MemberCluster, the ClusterProfile and the `clusterName` in its extension.
    cluster: String,
    /// Namespace on member-1 where the reader may list ConfigMaps.
    member_namespace: String,
    /// Namespace on the hub the consumer reads the profile from (an inventory's).
    profile_namespace: String,
    /// The reader's member-1 token and its expiry.
    token: String,
    expiration: Timestamp,
    /// Files of this test (provider files, kubeconfigs, dumps).
    dir: PathBuf,
}

impl Setup {
    async fn start() -> anyhow::Result<Self> {
        let env = TestEnv::start().await?;
        hub_process().await;
        let member = env.fleet.member(MEMBER).expect("member-1 in the fleet");
        let cluster = format!("{}-{MEMBER}", env.namespace);
        let spec = MemberClusterSpec {
            display_name: Some("Interop target".into()),
            api_server: Some(ApiServer {
                server: member.server().to_owned(),
                ca_data: Some(ByteString(member.ca_pem().as_bytes().to_vec())),
            }),
            ..Default::default()
        };
        Api::<MemberCluster>::all(env.hub.clone())
            .create(&PostParams::default(), &MemberCluster::new(&cluster, spec))
            .await?;

        let member_client = env.member(MEMBER).await?;
        let member_namespace = roster_testenv::env::create_namespace(&member_client).await?;
        let identity::Token {
            token,
            expires: expiration,
        } = reader_token(&member_client, &member_namespace).await?;
        let dir = env.fleet.dir().join(format!("interop-{}", env.namespace));
        std::fs::create_dir_all(&dir)?;
        let setup = Self {
            env,
            cluster,
            member_namespace,
            profile_namespace: INVENTORY.to_owned(),
            token,
            expiration,
            dir,
        };
        setup.wait_profile().await?;
        Ok(setup)
    }

    fn member(&self) -> &roster_testenv::Cluster {
        self.env
            .fleet
            .member(MEMBER)
            .expect("member-1 in the fleet")
    }

    /// Waits until roster-hub published the profile with its `roster` access provider, in
    /// `accessProviders` only (never the deprecated `credentialProviders`, which v1alpha2
    /// does not declare).
    async fn wait_profile(&self) -> anyhow::Result<()> {
        let api: Api<ClusterProfile> =
            Api::namespaced(self.env.hub.clone(), &self.profile_namespace);
        let server = self.member().server().to_owned();
        let waited = wait::until(
            &format!("profile {} with an access provider", self.cluster),
            TIMEOUT,
            || {
                let (api, server) = (api.clone(), server.clone());
                async move {
                    let published = api
                        .get_opt(&self.cluster)
                        .await?
                        .and_then(|p| p.status)
                        .is_some_and(|s| {
                            s.access_providers.iter().any(|a| {
                                a.name == names::ACCESS_PROVIDER
                                    && a.cluster.as_ref().is_some_and(|c| c.server == server)
                            })
                        });
                    Ok(published.then_some(()))
                }
            },
        )
        .await;
        waited.map_err(|e| e.context(super::support::hub_diagnostics(&self.env)))?;
        let status = api.get(&self.cluster).await?.status.unwrap_or_default();
        anyhow::ensure!(
            status.credential_providers.is_empty(),
            "profile {}: roster-hub wrote the deprecated credentialProviders {:?}",
            self.cluster,
            status.credential_providers
        );
        Ok(())
    }

    /// Writes `providers` as an upstream provider file and returns its path.
    fn provider_file(&self, name: &str, providers: Value) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(&providers)?)?;
        Ok(path)
    }

    /// Runs `roster-interop access` against this test's profile, once per upstream release.
    async fn interop(
        &self,
        provider_file: &Path,
        list_namespace: &str,
        secrets_namespace: Option<&str>,
    ) -> anyhow::Result<Vec<Run>> {
        let mut args = vec![
            format!(
                "--hub-kubeconfig={}",
                self.env.fleet.hub.kubeconfig_path().display()
            ),
            format!("--namespace={}", self.profile_namespace),
            format!("--profile={}", self.cluster),
            format!("--provider-file={}", provider_file.display()),
            format!("--list-namespace={list_namespace}"),
        ];
        args.extend(secrets_namespace.map(|ns| format!("--secrets-namespace={ns}")));
        interop_access(&args).await
    }

    /// Runs `roster-interop access` with `provider_file` (every upstream release in turn) and
    /// checks that each reached member-1 through the plugin `exec_command`; returns the runs.
    async fn reaches_member(
        &self,
        provider_file: &Path,
        exec_command: &str,
    ) -> anyhow::Result<Vec<Run>> {
        let namespace = &self.member_namespace;
        let runs = self
            .interop(provider_file, namespace, Some(namespace))
            .await?;
        for run in &runs {
            let report = success(run);
            assert_eq!(report["execCommand"], exec_command, "{report}");
            assert_reached_member(self, &report);
        }
        Ok(runs)
    }

    /// Projects this test's profile into an inventory of its own, as a platform admin would
    /// for a consumer: a namespace, the hub's right to write profiles there, an Inventory
    /// selecting the member by label; consumers then read the profile from that namespace.
    async fn project(&mut self) -> anyhow::Result<()> {
        let hub = &self.env.hub;
        let namespace = format!("{}-inventory", self.env.namespace);
        let params = PatchParams::apply("e2e-interop").force();
        let label = "e2e.roster.dev/interop-inventory";
        roster_testenv::inventory::open_namespace(hub, &namespace).await?;
        let inventory = json!({
            "apiVersion": "roster.dev/v1alpha1", "kind": "Inventory",
            "metadata": {"name": namespace},
            "spec": {"namespace": namespace,
                     "members": {"matchLabels": {label: self.env.namespace}}},
        });
        Api::<Inventory>::all(hub.clone())
            .patch(&namespace, &params, &Patch::Apply(&inventory))
            .await?;
        Api::<MemberCluster>::all(hub.clone())
            .patch(
                &self.cluster,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {label: self.env.namespace}}})),
            )
            .await?;
        self.profile_namespace = namespace;
        self.wait_profile().await
    }

    /// Removes what the test made outside its own hub namespace.
    async fn cleanup(self) -> anyhow::Result<()> {
        let dp = DeleteParams::default();
        if self.profile_namespace != INVENTORY {
            Api::<Inventory>::all(self.env.hub.clone())
                .delete(&self.profile_namespace, &dp)
                .await?;
            Api::<Namespace>::all(self.env.hub.clone())
                .delete(&self.profile_namespace, &dp)
                .await?;
        }
        Api::<MemberCluster>::all(self.env.hub.clone())
            .delete(&self.cluster, &dp)
            .await?;
        Api::<Namespace>::all(self.env.member(MEMBER).await?)
            .delete(&self.member_namespace, &dp)
            .await?;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

/// The warning both upstream releases log when a profile carries `credentialProviders`.
const DEPRECATED_FIELD_WARNING: &str = "uses deprecated field CredentialProviders";

/// One `roster-interop access` run by the harness built against one upstream release.
pub(super) struct Run {
    build: LibraryBuild,
    output: Output,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs `roster-interop access ARGS` with every upstream release's build, in turn.
pub(super) async fn interop_access(args: &[String]) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for build in upstream::LIBRARY_BUILDS {
        let mut command = tokio::process::Command::new(upstream::interop_binary_for(build)?);
        command
            .arg("access")
            .args(args)
            // Exec plugins inherit this environment: no ambient cluster may leak in.
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env_remove("POD_NAMESPACE")
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output()).await??;
        runs.push(Run { build, output });
    }
    Ok(runs)
}

/// Creates the reader on member-1 (a ConfigMap to find, a Role allowing to list ConfigMaps in
/// `ns` only) and returns a TokenRequest token for it with its expiry.
async fn reader_token(member: &Client, ns: &str) -> anyhow::Result<identity::Token> {
    let configmap = ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIGMAP.to_owned()),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        },
        data: Some([("hello".to_owned(), "from member-1".to_owned())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(member.clone(), ns)
        .create(&PostParams::default(), &configmap)
        .await?;
    identity::service_account(ns, READER)
        .rules([identity::rule("", &["configmaps"], &["get", "list"])])
        .create(member)
        .await
}

fn rfc3339(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The one JSON line `roster-interop` printed, failing with its stderr if it did not succeed;
/// checks that the expected upstream release answered, and through which status field it found
/// the provider: through `accessProviders` alone, with no deprecated-field warning.
pub(super) fn success(run: &Run) -> Value {
    let (output, stderr, version) = (&run.output, run.stderr(), run.build.version);
    assert!(
        output.status.success(),
        "roster-interop (upstream {version}) failed ({}): {stderr}",
        output.status
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "roster-interop (upstream {version}) printed no JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(report["libraryVersion"], version, "{report}");
    assert!(
        !stderr.contains(DEPRECATED_FIELD_WARNING),
        "upstream {version} read the deprecated credentialProviders; stderr: {stderr}"
    );
    eprintln!("interop: upstream {version} found the roster provider through accessProviders only");
    report
}

/// What the Go side reports after reaching member-1: the profile's server, the ConfigMap the
/// reader may list, and a real RBAC denial for Secrets.
fn assert_reached_member(setup: &Setup, report: &Value) {
    assert_eq!(report["server"], setup.member().server(), "{report}");
    assert_eq!(
        report["execClusterConfig"],
        json!({"clusterName": setup.cluster}),
        "{report}"
    );
    let configmaps: Vec<&str> = report["configMaps"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(configmaps.contains(&CONFIGMAP), "{report}");
    assert_eq!(
        report["secrets"],
        json!({"namespace": setup.member_namespace, "forbidden": true}),
        "{report}"
    );
}

/// The Go library picks Roster's `roster` provider from a Roster ClusterProfile (skipping a
/// provider the profile does not list) and hands the `client.authentication.k8s.io/exec`
/// extension to the plugin as `KUBERNETES_EXEC_INFO` `spec.cluster.config`. The plugin here is
/// a script that records what it got and prints the reader's token. A namespace the reader may
/// not read gives a real 403, exit code 2.
#[tokio::test]
async fn go_access_library_passes_roster_exec_extension_to_the_plugin() -> anyhow::Result<()> {
    let setup = Setup::start().await?;
    let script = setup.dir.join("dump-exec-info.sh");
    std::fs::write(
        &script,
        "printf '%s\\n' \"$KUBERNETES_EXEC_INFO\" >> \"$1\"\n\
         printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
         \"status\":{\"token\":\"%s\"}}\\n' \"$INTEROP_TOKEN\"\n",
    )?;
    // One line per plugin run, whichever upstream release ran it.
    let dump = setup.dir.join("exec-info.jsonl");
    let exec = |command: &str, args: Vec<String>| {
        json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": command,
            "args": args,
            "env": [{"name": "INTEROP_TOKEN", "value": setup.token}],
            "provideClusterInfo": true,
            "interactiveMode": "Never",
        })
    };
    // Run through `sh` rather than exec'd directly: a script just written may still be open
    // (ETXTBSY) in a child another test is forking.
    let providers = setup.provider_file(
        "providers.json",
        json!({"providers": [
            {"name": "not-in-the-profile", "execConfig": exec("/bin/false", vec![])},
            {"name": names::ACCESS_PROVIDER, "execConfig": exec("/bin/sh", vec![
                script.display().to_string(),
                dump.display().to_string(),
            ])},
        ]}),
    )?;

    let runs = setup.reaches_member(&providers, "/bin/sh").await?;
    let calls = assert_exec_info(&setup, &dump)?;
    assert!(
        calls >= runs.len(),
        "{calls} plugin runs for {} releases",
        runs.len()
    );

    // A namespace the reader has no Role in: the member refuses, and the exit code says so.
    for run in setup.interop(&providers, "default", None).await? {
        let stderr = run.stderr();
        let version = run.build.version;
        assert_eq!(
            run.output.status.code(),
            Some(EXIT_FORBIDDEN),
            "{version}: {stderr}"
        );
        assert!(stderr.contains("forbidden"), "{version}: {stderr}");
    }
    setup.cleanup().await
}

/// What the plugin was given, as the script recorded it in `dump` (a line per run); returns
/// how many runs there were.
fn assert_exec_info(setup: &Setup, dump: &Path) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(dump)?;
    // client-go's encoder ends the JSON with a newline already: skip the empty lines.
    let runs: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in &runs {
        assert_one_exec_info(setup, &serde_json::from_str(line)?);
    }
    Ok(runs.len())
}

fn assert_one_exec_info(setup: &Setup, info: &Value) {
    assert_eq!(
        info["apiVersion"], "client.authentication.k8s.io/v1",
        "{info}"
    );
    assert_eq!(info["kind"], "ExecCredential", "{info}");
    let cluster = &info["spec"]["cluster"];
    assert_eq!(cluster["server"], setup.member().server(), "{info}");
    assert_eq!(
        cluster["certificate-authority-data"],
        base64_encode(setup.member().ca_pem().as_bytes()),
        "{info}"
    );
    assert_eq!(
        cluster["config"],
        json!({"clusterName": setup.cluster}),
        "{info}"
    );
    assert_eq!(info["spec"]["interactive"], false, "{info}");
}

/// The upstream `secretreader` plugin (built from the pinned module by `make interop`) works
/// with a Roster ClusterProfile: it reads Secret `<clusterName>` from its kubeconfig context's
/// namespace on the hub.
#[tokio::test]
async fn upstream_secretreader_plugin_reaches_member_through_roster_profile() -> anyhow::Result<()>
{
    let setup = Setup::start().await?;
    secretreader_reaches_member(&setup).await?;
    setup.cleanup().await
}

/// Both upstream Go library releases read a profile that an Inventory projected into a
/// consumer's namespace, and reach the member through it.
#[tokio::test]
async fn go_access_library_reads_a_profile_projected_by_an_inventory() -> anyhow::Result<()> {
    let mut setup = Setup::start().await?;
    setup.project().await?;
    secretreader_reaches_member(&setup).await?;
    setup.cleanup().await
}

/// The upstream secretreader plugin, given a hub Secret holding the reader's token, reaches
/// member-1 through the profile (every upstream library release in turn).
async fn secretreader_reaches_member(setup: &Setup) -> anyhow::Result<()> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(setup.cluster.clone()),
            ..Default::default()
        },
        string_data: Some([("token".to_owned(), setup.token.clone())].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(setup.env.hub.clone(), &setup.env.namespace)
        .create(&PostParams::default(), &secret)
        .await?;
    let mut hub = setup.env.fleet.hub.admin_kubeconfig().clone();
    for context in &mut hub.contexts {
        if let Some(context) = context.context.as_mut() {
            context.namespace = Some(setup.env.namespace.clone());
        }
    }
    let hub_kubeconfig = setup.dir.join("secretreader-hub.kubeconfig");
    std::fs::write(&hub_kubeconfig, kubeconfig::to_yaml(&hub)?)?;
    let plugin = upstream::secretreader_binary()?;
    let providers = setup.provider_file(
        "secretreader.json",
        json!({"providers": [{"name": names::ACCESS_PROVIDER, "execConfig": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin.display().to_string(),
            "env": [{"name": "KUBECONFIG", "value": hub_kubeconfig.display().to_string()}],
            "provideClusterInfo": true,
            "interactiveMode": "Never",
        }}]}),
    )?;
    setup
        .reaches_member(&providers, &plugin.display().to_string())
        .await?;
    Ok(())
}

/// The whole consumer path of flows 4 and 6 from Go: the upstream library builds the config
/// from Roster's profile and runs `roster-credential`, which reads the token Secret
/// `<rsa>-<cluster>` on the hub with a consumer identity that may read only that Secret.
#[tokio::test]
async fn go_access_library_reaches_member_through_roster_credential() -> anyhow::Result<()> {
    let setup = Setup::start().await?;
    let hub = setup.env.hub.clone();
    let ns = setup.env.namespace.clone();
    let secret_name = names::token_secret_name(RSA, &setup.cluster);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.clone()),
            ..Default::default()
        },
        type_: Some(token_secret::TYPE.into()),
        string_data: Some(
            [
                (token_secret::TOKEN.to_owned(), setup.token.clone()),
                (
                    token_secret::EXPIRATION.to_owned(),
                    rfc3339(setup.expiration),
                ),
            ]
            .into(),
        ),
        ..Default::default()
    };
    let pp = PostParams::default();
    Api::<Secret>::namespaced(hub.clone(), &ns)
        .create(&pp, &secret)
        .await?;

    // The consumer's hub identity: get on that one Secret, nothing else.
    let consumer = "interop-consumer";
    let consumer_token = identity::service_account(&ns, consumer)
        .rules([identity::named_rule(
            "",
            &["secrets"],
            &["get"],
            &[&secret_name],
        )])
        .create(&hub)
        .await?
        .token;
    let consumer_kubeconfig = setup.dir.join("consumer.kubeconfig");
    std::fs::write(
        &consumer_kubeconfig,
        kubeconfig::to_yaml(&setup.env.fleet.hub.token_kubeconfig(&consumer_token))?,
    )?;

    let plugin = roster::binary_path("roster-credential")?;
    let provider_file = |file: &str, rsa: &str| {
        setup.provider_file(
            file,
            json!({"providers": [{"name": names::ACCESS_PROVIDER, "execConfig": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": plugin.display().to_string(),
                "args": ["--remote-service-account", rsa],
                "env": [
                    {"name": "POD_NAMESPACE", "value": ns},
                    {"name": "ROSTER_CREDENTIAL_KUBECONFIG", "value": consumer_kubeconfig.display().to_string()},
                ],
                "provideClusterInfo": true,
                "interactiveMode": "Never",
            }}]}),
        )
    };
    let providers = provider_file("roster-credential.json", RSA)?;
    setup
        .reaches_member(&providers, &plugin.display().to_string())
        .await?;

    // A RemoteServiceAccount the consumer has no token for: the plugin's message reaches the Go
    // consumer's error, and it is not mistaken for the member's RBAC denial.
    let providers = provider_file("roster-credential-other.json", "other")?;
    for run in setup
        .interop(&providers, &setup.member_namespace, None)
        .await?
    {
        let (stderr, version) = (run.stderr(), run.build.version);
        assert_eq!(run.output.status.code(), Some(1), "{version}: {stderr}");
        assert!(
            stderr.contains("roster-credential: "),
            "{version}: {stderr}"
        );
        assert!(
            stderr.contains(&names::token_secret_name("other", &setup.cluster)),
            "{version}: {stderr}"
        );
    }
    setup.cleanup().await
}

/// The whole path with nothing made by hand: a real RemoteServiceAccount on the really joined
/// member-1 (`members::joined`), the ClusterProfile roster-hub publishes for it, the upstream Go
/// library and `roster-credential` — the consumer acts on member-1 as the remote service
/// account, with exactly its rights.
#[tokio::test]
async fn go_access_library_acts_as_a_real_remote_service_account() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    super::members::joined().await;
    let member = env.member(MEMBER).await?;
    let apps = roster_testenv::env::create_namespace(&member).await?;
    let pp = PostParams::default();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(CONFIGMAP.into());
    Api::<ConfigMap>::namespaced(member.clone(), &apps)
        .create(&pp, &cm)
        .await?;
    roster_testenv::policy::allow_everything(&env.hub, &env.namespace).await?;
    let rsa: roster_api::RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
        "metadata": {"name": "go-consumer"},
        "spec": {"clusters": {"names": [MEMBER]}, "roles": [{"namespace": apps, "clusterRole": "view"}]},
    }))?;
    Api::<roster_api::RemoteServiceAccount>::namespaced(env.hub.clone(), &env.namespace)
        .create(&pp, &rsa)
        .await?;
    let secret_name = names::token_secret_name("go-consumer", MEMBER);
    let secrets: Api<Secret> = Api::namespaced(env.hub.clone(), &env.namespace);
    wait::until("the go-consumer token", TIMEOUT, || async {
        Ok(secrets.get_opt(&secret_name).await?.map(|_| ()))
    })
    .await
    .map_err(|e| e.context(super::support::hub_diagnostics(&env)))?;

    // The consumer's hub identity.
    // Exactly `get` on its token Secret, nothing else.
    let token = identity::service_account(&env.namespace, "go-consumer")
        .role_name("go-consumer-token")
        .rules([identity::named_rule(
            "",
            &["secrets"],
            &["get"],
            &[&secret_name],
        )])
        .create(&env.hub)
        .await?
        .token;
    let dir = env
        .fleet
        .dir()
        .join(format!("interop-rsa-{}", env.namespace));
    std::fs::create_dir_all(&dir)?;
    let consumer_kubeconfig = dir.join("consumer.kubeconfig");
    std::fs::write(
        &consumer_kubeconfig,
        kubeconfig::to_yaml(&env.fleet.hub.token_kubeconfig(&token))?,
    )?;
    let provider_file = dir.join("providers.json");
    std::fs::write(
        &provider_file,
        serde_json::to_vec(
            &json!({"providers": [{"name": names::ACCESS_PROVIDER, "execConfig": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": roster::binary_path("roster-credential")?.display().to_string(),
                "args": ["--remote-service-account", "go-consumer"],
                "env": [
                    {"name": "POD_NAMESPACE", "value": env.namespace},
                    {"name": "ROSTER_CREDENTIAL_KUBECONFIG", "value": consumer_kubeconfig.display().to_string()},
                ],
                "provideClusterInfo": true,
                "interactiveMode": "Never",
            }}]}),
        )?,
    )?;
    let runs = interop_access(&[
        format!(
            "--hub-kubeconfig={}",
            env.fleet.hub.kubeconfig_path().display()
        ),
        format!("--namespace={INVENTORY}"),
        format!("--profile={MEMBER}"),
        format!("--provider-file={}", provider_file.display()),
        format!("--list-namespace={apps}"),
        format!("--secrets-namespace={apps}"),
    ])
    .await?;
    let cluster = env.fleet.member(MEMBER).expect("member-1");
    for run in runs {
        let report = success(&run);
        assert_eq!(report["server"], cluster.server(), "{report}");
        assert_eq!(report["execClusterConfig"], json!({"clusterName": MEMBER}));
        assert!(
            report["configMaps"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(CONFIGMAP))),
            "{report}"
        );
        assert_eq!(
            report["secrets"],
            json!({"namespace": apps, "forbidden": true}),
            "view does not read Secrets: a real 403 from member-1"
        );
    }
    Api::<Namespace>::all(member)
        .delete(&apps, &DeleteParams::default())
        .await?;
    Ok(())
}
