//! The decision of RemoteAccessPolicies, pure: may this RemoteServiceAccount (its asks, its
//! namespace) obtain its identity on this member? The hub's admission webhook, its remote
//! access controller (at every reconcile) and `kubectl roster audit` all ask [`evaluate`].
//!
//! The rules:
//! - A policy *applies* when it selects the consumer namespace (by name or labels) and the
//!   member (by MemberCluster labels). No applicable policy: nothing is allowed, not even an
//!   identity without rights (it would still be an authenticated user of the member).
//! - Every thing asked for — each ClusterRole, each (namespace, ClusterRole), each rule, the
//!   token lifetime, each audience — must be allowed by some applicable policy (their union).
//! - All or nothing per member: one refused thing refuses the member, so an RSA never holds
//!   half of what it asked for on a member without saying so.
//! - A refusal names each refused thing and which policies would allow it if they selected
//!   this namespace and member, or that none would.

pub mod rules;

use std::{collections::BTreeMap, fmt};

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::{
    RemoteAccessPolicy, RemoteAccountGrantSpec, RemoteServiceAccountSpec, names,
    remote_access_policy::{ANY, RemoteAccessPolicySpec},
    remote_service_account::NamespacedRole,
};

/// What an identity asks for on a member.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// ClusterRoles bound cluster-wide.
    pub cluster_roles: &'a [String],
    /// ClusterRoles bound in member namespaces.
    pub roles: &'a [NamespacedRole],
    /// Extra rules.
    pub rules: &'a [PolicyRule],
    /// Token lifetime, seconds.
    pub expiration_seconds: i64,
    /// Token audiences (empty: the member API server's default).
    pub audiences: &'a [String],
}

impl<'a> From<&'a RemoteServiceAccountSpec> for Request<'a> {
    fn from(spec: &'a RemoteServiceAccountSpec) -> Self {
        let token = spec.token.as_ref();
        Self {
            cluster_roles: &spec.cluster_roles,
            roles: &spec.roles,
            rules: &spec.rules,
            expiration_seconds: token.map_or(names::DEFAULT_TOKEN_EXPIRATION_SECONDS, |t| {
                t.expiration_seconds
            }),
            audiences: token.map(|t| t.audiences.as_slice()).unwrap_or_default(),
        }
    }
}

impl<'a> From<&'a RemoteAccountGrantSpec> for Request<'a> {
    fn from(spec: &'a RemoteAccountGrantSpec) -> Self {
        Self {
            cluster_roles: &spec.cluster_roles,
            roles: &spec.roles,
            rules: &spec.rules,
            expiration_seconds: spec.token.expiration_seconds,
            audiences: &spec.token.audiences,
        }
    }
}

/// A labelled object the policies select: a consumer namespace or a member.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// One thing asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// A ClusterRole bound cluster-wide.
    ClusterRole(&'a str),
    /// A ClusterRole bound in a member namespace.
    Role(&'a NamespacedRole),
    /// An extra rule.
    Rule(&'a PolicyRule),
    /// The token lifetime.
    Expiration(i64),
    /// A token audience.
    Audience(&'a str),
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::ClusterRole(r) => write!(f, "ClusterRole {r}"),
            Item::Role(r) => write!(
                f,
                "ClusterRole {} in namespace {}",
                r.cluster_role, r.namespace
            ),
            Item::Rule(r) => f.write_str(&rules::describe(r)),
            Item::Expiration(s) => write!(f, "a token lifetime of {s} s"),
            Item::Audience(a) => write!(f, "token audience {a:?}"),
        }
    }
}

impl Request<'_> {
    /// Each thing asked for, in the spec's order.
    pub fn items(&self) -> Vec<Item<'_>> {
        let mut items: Vec<Item<'_>> = self
            .cluster_roles
            .iter()
            .map(|r| Item::ClusterRole(r))
            .collect();
        items.extend(self.roles.iter().map(Item::Role));
        items.extend(self.rules.iter().map(Item::Rule));
        items.push(Item::Expiration(self.expiration_seconds));
        items.extend(self.audiences.iter().map(|a| Item::Audience(a)));
        items
    }
}

/// Whether `spec` allows `item` (whoever and wherever it applies).
pub fn allows(spec: &RemoteAccessPolicySpec, item: &Item<'_>) -> bool {
    let named = |list: &[String], name: &str| list.iter().any(|n| n == ANY || n == name);
    match item {
        Item::ClusterRole(role) => named(&spec.cluster_roles, role),
        Item::Role(role) => {
            named(&spec.cluster_roles, &role.cluster_role)
                || spec.roles.iter().any(|a| {
                    named(&a.namespaces, &role.namespace)
                        && named(&a.cluster_roles, &role.cluster_role)
                })
        }
        Item::Rule(rule) => spec
            .rules
            .iter()
            .any(|allowed| rules::covers(allowed, rule)),
        Item::Expiration(seconds) => spec
            .token
            .as_ref()
            .and_then(|t| t.max_expiration_seconds)
            .is_none_or(|max| *seconds <= max),
        Item::Audience(audience) => spec
            .token
            .as_ref()
            .is_some_and(|t| t.audiences.iter().any(|a| a == audience)),
    }
}

/// Whether `spec` serves the consumer namespace `consumer`.
pub fn selects_consumer(spec: &RemoteAccessPolicySpec, consumer: &Subject<'_>) -> bool {
    let c = &spec.consumers;
    c.namespaces.iter().flatten().any(|n| n == consumer.name)
        || c.namespace_selector
            .as_ref()
            .is_some_and(|s| s.matches(consumer.labels))
}

/// Whether `spec` applies to `member`.
pub fn selects_member(spec: &RemoteAccessPolicySpec, member: &Subject<'_>) -> bool {
    spec.members.matches(member.labels)
}

/// The answer for one (consumer, member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Everything asked for is allowed, by these policies (sorted, each once).
    Allowed(Vec<String>),
    /// Something is not.
    Refused(Refusal),
}

impl Decision {
    /// Whether it is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// Why an identity may not be had on a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The consumer namespace.
    pub namespace: String,
    /// The member.
    pub member: String,
    /// What is refused, each with what would allow it; empty when no policy applies at all
    /// and nothing specific was asked for.
    pub refused: Vec<String>,
    /// Whether any policy selects both the namespace and the member.
    pub any_applies: bool,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (namespace, member) = (&self.namespace, &self.member);
        if !self.any_applies {
            write!(
                f,
                "no RemoteAccessPolicy lets namespace {namespace} obtain anything on member \
                 {member}"
            )?;
            if self.refused.is_empty() {
                return Ok(());
            }
            return write!(f, " ({})", self.refused.join("; "));
        }
        write!(
            f,
            "not allowed for namespace {namespace} on member {member}: {}",
            self.refused.join("; ")
        )
    }
}

/// The decision for an identity of `consumer` asking for `request` on `member`, under
/// `policies`.
pub fn evaluate(
    request: &Request<'_>,
    consumer: &Subject<'_>,
    member: &Subject<'_>,
    policies: &[&RemoteAccessPolicy],
) -> Decision {
    let name = |p: &RemoteAccessPolicy| p.metadata.name.clone().unwrap_or_default();
    let applicable: Vec<&RemoteAccessPolicy> = policies
        .iter()
        .copied()
        .filter(|p| selects_consumer(&p.spec, consumer) && selects_member(&p.spec, member))
        .collect();
    let mut used = Vec::new();
    let mut refused = Vec::new();
    for item in request.items() {
        match applicable.iter().find(|p| allows(&p.spec, &item)) {
            Some(p) => used.push(name(p)),
            // Without an applicable policy, that most policies would allow the lifetime says
            // nothing useful.
            None if applicable.is_empty() && matches!(item, Item::Expiration(_)) => {}
            None => refused.push(explain(&item, consumer, member, policies)),
        }
    }
    if applicable.is_empty() || !refused.is_empty() {
        return Decision::Refused(Refusal {
            namespace: consumer.name.to_owned(),
            member: member.name.to_owned(),
            refused,
            any_applies: !applicable.is_empty(),
        });
    }
    used.sort();
    used.dedup();
    Decision::Allowed(used)
}

/// How many policies a refusal names for one thing (those closest to applying first).
pub const NAMED_AT_MOST: usize = 3;

/// `item` is refused: which policies would allow it, and why they do not here. Those that
/// select the namespace (and only miss the member) come first.
fn explain(
    item: &Item<'_>,
    consumer: &Subject<'_>,
    member: &Subject<'_>,
    policies: &[&RemoteAccessPolicy],
) -> String {
    let mut would: Vec<(bool, String)> = policies
        .iter()
        .filter(|p| allows(&p.spec, item))
        .map(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            let (ns, m) = (consumer.name, member.name);
            match (
                selects_consumer(&p.spec, consumer),
                selects_member(&p.spec, member),
            ) {
                (false, false) => (
                    false,
                    format!("{name} (selects neither namespace {ns} nor member {m})"),
                ),
                (false, true) => (false, format!("{name} (does not select namespace {ns})")),
                _ => (true, format!("{name} (does not select member {m})")),
            }
        })
        .collect();
    if would.is_empty() {
        return format!("{item}: no RemoteAccessPolicy allows it");
    }
    would.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let more = would.len().saturating_sub(NAMED_AT_MOST);
    let mut named: Vec<String> = would
        .into_iter()
        .take(NAMED_AT_MOST)
        .map(|(_, text)| text)
        .collect();
    if more > 0 {
        named.push(format!("{more} more"));
    }
    format!("{item}: allowed by RemoteAccessPolicy {}", named.join(", "))
}

#[cfg(test)]
mod tests;
