//! How the suite names and labels the MemberClusters it creates.

/// Label on every MemberCluster the suite creates.
pub const LABEL: &str = "bench.roster.dev/suite";

/// Name of the `i`-th simulated member.
pub fn member_name(i: usize) -> String {
    format!("sim-{i:05}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_named_in_order() {
        assert_eq!(member_name(7), "sim-00007");
        assert!(member_name(9) < member_name(10));
    }
}
