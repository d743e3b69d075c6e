//! `roster-credential --federated` against a real hub API server (no members needed: the
//! plugin only talks to the hub). The TokenRequest path returns a genuine hub token of the
//! caller's own service account for exactly the member's audience; without the RBAC rule the
//! plugin says which one is missing; a token file is handed out as it is, with its `exp`.
//!
//! The plugin is used as last built (`cargo build -p roster-credential` first when it changed).

use std::{path::Path, process::Output};

use base64::Engine;
use k8s_openapi::{
    api::authentication::v1::{TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec},
    api::core::v1::ServiceAccount,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use roster_testenv::{Fleet, env::create_namespace, identity, kubeconfig};
use serde_json::{Value, json};

const V1: &str = "client.authentication.k8s.io/v1";
const CONSUMER: &str = "consumer";

/// `KUBERNETES_EXEC_INFO` for the roster-federated provider of `cluster`, with the extension's
/// `audience` when given.
fn exec_info(cluster: &str, audience: Option<&str>) -> String {
    let mut config = json!({"clusterName": cluster});
    if let Some(audience) = audience {
        config["audience"] = json!(audience);
    }
    json!({
        "apiVersion": V1,
        "kind": "ExecCredential",
        "spec": {"interactive": false, "cluster": {
            "server": format!("https://{cluster}.example.com:6443"),
            "config": config,
        }},
    })
    .to_string()
}

/// The claims of a JWT (its payload), to check what the hub put in a token.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Runs the plugin as a client does, with only `KUBERNETES_EXEC_INFO` in its environment.
async fn run_plugin(args: &[&str], exec_info: &str) -> Output {
    super::credential::run_plugin(args, exec_info, &[]).await
}

/// The ExecCredential's token and expiry, after checking the run succeeded quietly.
fn credential(output: &Output) -> (String, Timestamp) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the plugin failed: {stderr}");
    assert!(stderr.is_empty(), "the plugin wrote on stderr: {stderr}");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(answer["apiVersion"], V1);
    assert_eq!(answer["kind"], "ExecCredential");
    let token = answer["status"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let expiry = answer["status"]["expirationTimestamp"]
        .as_str()
        .expect("an expiry")
        .parse()
        .expect("RFC 3339");
    (token, expiry)
}

/// The one stderr line of a failed run (nothing on stdout, no token in it).
fn failure(output: &Output, secrets: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the plugin succeeded: {stderr}");
    assert!(output.stdout.is_empty(), "stdout is not empty");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    for secret in secrets {
        assert!(!stderr.contains(secret), "a token is printed: {stderr}");
    }
    stderr
}

/// What the hub itself says of `token` when presented for `audience` (a TokenReview).
async fn review(admin: &Client, token: &str, audience: &str) -> anyhow::Result<(bool, String)> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: token.to_owned(),
            audiences: Some(vec![audience.to_owned()]),
        },
        ..TokenReview::default()
    };
    let status = Api::<TokenReview>::all(admin.clone())
        .create(&PostParams::default(), &review)
        .await?
        .status
        .unwrap_or_default();
    let user = status.user.and_then(|u| u.username).unwrap_or_default();
    Ok((status.authenticated == Some(true), user))
}

fn write_kubeconfig(fleet: &Fleet, dir: &Path, name: &str, token: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::write(
        &path,
        kubeconfig::to_yaml(&fleet.hub.token_kubeconfig(token))?,
    )?;
    Ok(path.to_str().expect("UTF-8 path").to_owned())
}

#[tokio::test]
async fn federated_tokens_from_the_hub_and_from_a_token_file() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("roster-federated-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fleet = Fleet::start(&dir.join("fleet"), &[]).await?;
    let admin = fleet.hub.client().await?;
    let ns = create_namespace(&admin).await?;
    let sa = format!("system:serviceaccount:{ns}:{CONSUMER}");

    // The consumer may request tokens for itself, and for nothing else.
    let own = identity::service_account(&ns, CONSUMER)
        .rules([identity::named_rule(
            "",
            &["serviceaccounts/token"],
            &["create"],
            &[CONSUMER],
        )])
        .create(&admin)
        .await?;
    let consumer = write_kubeconfig(&fleet, &dir, "consumer.kubeconfig", &own.token)?;

    // TokenRequest path, audience from the extension, then the default one.
    for (cluster, audience, extension) in [
        ("member-1", "roster:member-1", Some("roster:member-1")),
        ("member-2", "roster:member-2", None),
    ] {
        let before = Timestamp::now();
        let output = run_plugin(
            &["--federated", "--kubeconfig", &consumer],
            &exec_info(cluster, extension),
        )
        .await;
        let (token, expiry) = credential(&output);
        let claims = claims(&token);
        assert_eq!(claims["aud"], json!([audience]), "{cluster}");
        assert_eq!(claims["sub"], json!(sa), "{cluster}");
        assert_eq!(claims["exp"], json!(expiry.as_second()), "{cluster}");
        let lifetime = expiry.duration_since(before);
        assert!(
            lifetime > SignedDuration::from_secs(3500)
                && lifetime <= SignedDuration::from_secs(3700),
            "{cluster}: lasts {lifetime:?}"
        );
        // A real token of the hub for that audience, not for the hub's own.
        assert_eq!(review(&admin, &token, audience).await?, (true, sa.clone()));
        assert!(
            !review(&admin, &token, "https://kubernetes.default.svc")
                .await?
                .0
        );
    }

    let short = run_plugin(
        &[
            "--federated",
            "--expiration-seconds",
            "600",
            "--kubeconfig",
            &consumer,
        ],
        &exec_info("member-1", None),
    )
    .await;
    let (_, expiry) = credential(&short);
    assert!(expiry.duration_since(Timestamp::now()) <= SignedDuration::from_secs(600));

    // Without the rule: a real 403, and the line names the missing rule.
    let bare = identity::service_account(&ns, "bare")
        .create(&admin)
        .await?;
    let bare_kubeconfig = write_kubeconfig(&fleet, &dir, "bare.kubeconfig", &bare.token)?;
    let denied = run_plugin(
        &["--federated", "--kubeconfig", &bare_kubeconfig],
        &exec_info("member-1", Some("roster:member-1")),
    )
    .await;
    assert_eq!(
        failure(&denied, &[&bare.token]),
        format!(
            "roster-credential: access denied: User \"system:serviceaccount:{ns}:bare\" may not \
             request a token for its own service account {ns}/bare: the missing RBAC rule is \
             create on serviceaccounts/token with resourceNames [\"bare\"] in namespace \
             \"{ns}\" (a Role, bound to the service account by a RoleBinding)\n"
        )
    );

    // The admin's client certificate is no service account: found by a SelfSubjectReview.
    let admin_kubeconfig = fleet.hub.kubeconfig_path();
    let admin_kubeconfig = admin_kubeconfig.to_str().expect("UTF-8 path");
    let not_sa = run_plugin(
        &["--federated", "--kubeconfig", admin_kubeconfig],
        &exec_info("member-1", None),
    )
    .await;
    let line = failure(&not_sa, &[]);
    assert!(
        line.starts_with("roster-credential: federated mode needs a hub service account, and the plugin reaches the hub as User \""),
        "{line}"
    );

    // Token file path: a projected token as the webhook mounts it (requested here by the
    // admin), handed out as it is with its exp; the hub is not contacted.
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(tokens.join("member-1"))?;
    let projected = projected_token(&admin, &ns, "roster:member-1").await?;
    std::fs::write(tokens.join("member-1/token"), &projected.0)?;
    let tokens_arg = tokens.to_str().expect("UTF-8 path");
    let from_file = run_plugin(
        &["--federated", "--token-dir", tokens_arg],
        &exec_info("member-1", Some("roster:member-1")),
    )
    .await;
    assert_eq!(credential(&from_file), projected);

    // The same file presented for another member's audience is refused.
    std::fs::create_dir_all(tokens.join("member-2"))?;
    std::fs::copy(tokens.join("member-1/token"), tokens.join("member-2/token"))?;
    let wrong = run_plugin(
        &["--federated", "--token-dir", tokens_arg],
        &exec_info("member-2", None),
    )
    .await;
    let line = failure(&wrong, &[&projected.0]);
    assert!(
        line.contains("is for audience [\"roster:member-1\"], not \"roster:member-2\""),
        "{line}"
    );

    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A token of the consumer for `audience`, as the kubelet would project it, and its expiry.
async fn projected_token(
    admin: &Client,
    ns: &str,
    audience: &str,
) -> anyhow::Result<(String, Timestamp)> {
    let request = TokenRequest {
        metadata: ObjectMeta::default(),
        spec: Some(TokenRequestSpec {
            audiences: Some(vec![audience.to_owned()]),
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let status = Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create_token_request(CONSUMER, &PostParams::default(), &request)
        .await?
        .status
        .unwrap_or_default();
    let token = status.token.unwrap_or_default();
    let expires = status
        .expiration_timestamp
        .ok_or_else(|| anyhow::anyhow!("no expirationTimestamp"))?
        .0;
    Ok((token, expires))
}
