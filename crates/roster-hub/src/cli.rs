//! Command line of `roster-hub`; every flag can also be set from the environment.

use clap::Parser;
use roster_api::webhook::{Endpoint, EndpointError};
use roster_runtime::logging::LogOptions;

/// The Roster hub operator: publishes one ClusterProfile per member cluster and keeps its
/// status true.
#[derive(Parser, Debug, Clone)]
#[command(name = "roster-hub", version, about, long_about = None)]
pub struct Cli {
    /// Namespace of the default Inventory (every member), created at start when no Inventory
    /// `cluster-inventory` exists; empty: none.
    #[arg(
        long,
        env = "ROSTER_INVENTORY_NAMESPACE",
        default_value = "cluster-inventory"
    )]
    pub inventory_namespace: String,

    /// Kubeconfig of the hub cluster; default: in-cluster, then the usual kubeconfig lookup.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Address of the admin server (/metrics, /healthz, /readyz). In a pod: 0.0.0.0:8080.
    #[arg(long, env = "ROSTER_ADMIN_ADDRESS", default_value = "127.0.0.1:8080")]
    pub admin_address: std::net::SocketAddr,

    #[command(flatten)]
    pub webhook: WebhookOptions,

    #[command(flatten)]
    pub leader_election: LeaderElectionOptions,

    #[command(flatten)]
    pub pod: PodOptions,

    #[command(flatten)]
    pub log: LogOptions,
}

impl Cli {
    /// The hub's own namespace (leader Lease, webhook CA): --leader-election-namespace, else
    /// this pod's, else roster-system.
    pub fn hub_namespace(&self) -> String {
        [
            self.leader_election.leader_election_namespace.as_deref(),
            self.pod.pod_namespace.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .unwrap_or(roster_api::names::AGENT_NAMESPACE)
        .to_owned()
    }
}

/// Where this replica runs, from the Downward API (the Deployment sets both).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PodOptions {
    /// This pod's name: the replica's identity in the leader Lease and in its Events.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,

    /// This pod's namespace: the hub's own namespace unless --leader-election-namespace says.
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
}

/// The pod automount webhook.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookOptions {
    /// Address the webhook serves HTTPS on; empty to run without the webhook. In a pod:
    /// 0.0.0.0:9443.
    #[arg(long, env = "ROSTER_WEBHOOK_ADDRESS", default_value = "127.0.0.1:9443",
          value_parser = optional_address)]
    // Fully qualified so clap takes the parser's output as the value instead of making the
    // flag optional: an empty value is a value, and means "no webhook".
    pub webhook_address: ::std::option::Option<std::net::SocketAddr>,

    /// Folder with tls.crt and tls.key (for example a mounted cert-manager Secret), re-read when
    /// they change. Without it the hub generates its own CA and serving certificate, rotates
    /// them, and keeps the webhook configuration's caBundle in step.
    #[arg(long, env = "ROSTER_WEBHOOK_CERT_DIR")]
    pub webhook_cert_dir: Option<std::path::PathBuf>,

    /// Name of the MutatingWebhookConfiguration the hub keeps (self-generated certificates
    /// only): created when missing, put back when deleted or changed, its caBundle in step
    /// with the hub's CA. With --webhook-cert-dir it is left to whoever provides the
    /// certificate.
    #[arg(
        long,
        env = "ROSTER_WEBHOOK_CONFIGURATION",
        default_value = roster_api::webhook::CONFIGURATION
    )]
    pub webhook_configuration: String,

    /// The Service (NAMESPACE/NAME[:PORT], path /mutate-pods) the webhook configuration sends
    /// the API server to, when the hub runs in the cluster.
    #[arg(
        long,
        env = "ROSTER_WEBHOOK_SERVICE",
        default_value = "roster-system/roster-hub:443",
        value_parser = service_endpoint
    )]
    pub webhook_service: Endpoint,

    /// Instead of --webhook-service: the https:// URL the API server calls, for a hub that runs
    /// off the cluster (for example https://127.0.0.1:9443/mutate-pods).
    #[arg(long, env = "ROSTER_WEBHOOK_URL", value_parser = url_endpoint,
          conflicts_with = "webhook_service")]
    pub webhook_url: Option<Endpoint>,

    /// DNS names (and IP addresses) the self-generated serving certificate is valid for.
    #[arg(
        long,
        env = "ROSTER_WEBHOOK_DNS_NAMES",
        value_delimiter = ',',
        default_value = "roster-hub.roster-system.svc,127.0.0.1"
    )]
    pub webhook_dns_names: Vec<String>,

    /// Lifetime of self-generated serving certificates, in seconds; they are replaced at two
    /// thirds of it. The CA lives ten times as long and is replaced with an overlap.
    #[arg(long, env = "ROSTER_WEBHOOK_CERT_VALIDITY", default_value_t = 7 * 24 * 3600,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub webhook_cert_validity: u64,
}

impl WebhookOptions {
    /// Where the webhook configuration sends the API server: the URL if given, else the
    /// Service.
    pub fn endpoint(&self) -> Endpoint {
        self.webhook_url
            .clone()
            .unwrap_or_else(|| self.webhook_service.clone())
    }
}

fn service_endpoint(value: &str) -> Result<Endpoint, String> {
    match value.parse() {
        Ok(Endpoint::Url(_)) => Err("a URL: use --webhook-url".into()),
        other => other.map_err(|e: EndpointError| e.to_string()),
    }
}

fn url_endpoint(value: &str) -> Result<Endpoint, String> {
    Endpoint::url(value).map_err(|e| e.to_string())
}

/// A socket address, or none for an empty (or blank) value.
fn optional_address(value: &str) -> Result<Option<std::net::SocketAddr>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|e| format!("{e}: expected IP:PORT (for example 0.0.0.0:9443), or empty"))
}

/// Leader election: several replicas, one writer.
#[derive(clap::Args, Debug, Clone)]
pub struct LeaderElectionOptions {
    /// Elect a leader on a Lease before writing; off only for a single replica.
    #[arg(long, env = "ROSTER_LEADER_ELECT", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Namespace of the leader Lease and the webhook CA Secret (default: --pod-namespace, else
    /// roster-system).
    #[arg(long, env = "ROSTER_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the leader Lease.
    #[arg(
        long,
        env = "ROSTER_LEADER_ELECTION_LEASE",
        default_value = "roster-hub"
    )]
    pub leader_election_lease: String,

    /// This replica's identity in the Lease (default: --pod-name, else hostname and process id).
    #[arg(long, env = "ROSTER_IDENTITY")]
    pub identity: Option<String>,

    /// Seconds a leader's Lease is valid without renewal; others take over after it.
    #[arg(long, env = "ROSTER_LEASE_DURATION", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub lease_duration: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_hub_namespace_is_the_flag_then_the_pods_then_roster_system() {
        let parse =
            |args: &[&str]| Cli::try_parse_from(["roster-hub"].iter().chain(args)).expect("parses");
        assert_eq!(parse(&[]).hub_namespace(), "roster-system");
        assert_eq!(parse(&["--pod-namespace=ops"]).hub_namespace(), "ops");
        assert_eq!(
            parse(&["--pod-namespace=ops", "--leader-election-namespace=lead"]).hub_namespace(),
            "lead"
        );
        assert_eq!(
            parse(&["--pod-namespace="]).hub_namespace(),
            "roster-system"
        );
    }

    #[test]
    fn an_empty_webhook_address_disables_the_webhook() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["roster-hub"], args].concat()).map(|c| c.webhook.webhook_address)
        };
        assert_eq!(parse(&[]).unwrap(), Some("127.0.0.1:9443".parse().unwrap()));
        assert_eq!(
            parse(&["--webhook-address=0.0.0.0:8443"]).unwrap(),
            Some("0.0.0.0:8443".parse().unwrap())
        );
        assert_eq!(parse(&["--webhook-address="]).unwrap(), None);
        assert_eq!(parse(&["--webhook-address", " "]).unwrap(), None);
        let err = parse(&["--webhook-address=localhost"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected IP:PORT"), "{err}");
    }

    #[test]
    fn the_webhook_endpoint_is_the_service_unless_a_url_is_given() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["roster-hub"], args].concat()).map(|c| c.webhook.endpoint())
        };
        assert_eq!(
            parse(&[]).unwrap().to_string(),
            "roster-system/roster-hub:443"
        );
        assert_eq!(
            parse(&["--webhook-service=hub/roster:8443"])
                .unwrap()
                .to_string(),
            "hub/roster:8443"
        );
        let url = "https://127.0.0.1:9443/mutate-pods";
        assert_eq!(
            parse(&[&format!("--webhook-url={url}")]).unwrap(),
            Endpoint::Url(url.into())
        );
        for bad in [
            "--webhook-url=http://127.0.0.1:9443/mutate-pods",
            "--webhook-service=roster-hub",
            "--webhook-service=https://127.0.0.1/x",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert!(parse(&["--webhook-service=a/b", &format!("--webhook-url={url}")]).is_err());
    }
}
