//! Growing the fleet: MemberClusters created in batches, and members joined one at a time.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use futures::StreamExt;
use kube::{Api, api::PostParams};
use roster_api::{MemberCluster, MemberClusterSpec, member_cluster::Heartbeat};

use super::{
    super::{observer::Observer, options::Options},
    Bench,
    members::{LABEL, member_name},
};

/// MemberClusters created concurrently.
const CREATE_CONCURRENCY: usize = 16;

/// How long one member may take to join when joined alone.
const JOIN_ONE_TIMEOUT: Duration = Duration::from_secs(60);

/// Seconds from creation to prepared, and from first heartbeat to `Joined=True`, of members
/// (`None` where the member got no further).
pub type Timings = (Vec<f64>, Vec<f64>);

impl Bench {
    fn outstanding(&self) -> usize {
        self.observer
            .count(|v| v.created.is_some() && v.prepared.is_none())
    }

    /// Creation-to-prepared and first-heartbeat-to-Joined of the members `from..to`.
    pub(super) fn timings(&self, from: usize, to: usize) -> Timings {
        let (mut prepare, mut join) = (Vec::new(), Vec::new());
        for name in (from..to).map(member_name) {
            let Some(view) = self.observer.view(&name) else {
                continue;
            };
            if let (Some(c), Some(p)) = (view.created, view.prepared) {
                prepare.push(p.saturating_duration_since(c).as_secs_f64());
            }
            let first = self.simulator.beats(&name).and_then(|b| b.first_sent);
            if let (Some(f), Some(j)) = (first, view.joined) {
                join.push(j.saturating_duration_since(f).as_secs_f64());
            }
        }
        (prepare, join)
    }

    /// Creates members up to `members`, keeping at most a batch awaiting the hub, and waits
    /// until all are joined and healthy. Returns the seconds it took and, if it could not,
    /// why.
    pub(super) async fn grow(&mut self, members: usize) -> anyhow::Result<(f64, Option<String>)> {
        let started = Instant::now();
        let new = members.saturating_sub(self.created);
        let timeout = self.opts.join_timeout.map_or_else(
            || Duration::from_secs_f64(60.0 + 0.1 * new as f64),
            Duration::from_secs,
        );
        let deadline = started + timeout;
        let batch = self.opts.join_batch.max(1);
        let step = (batch / 4).max(1);
        let api: Api<MemberCluster> = Api::all(self.client.clone());
        while self.created < members {
            let chunk: Vec<usize> = (self.created..members.min(self.created + step)).collect();
            let room = batch.saturating_sub(chunk.len());
            let left = deadline.saturating_duration_since(Instant::now());
            if !self
                .poll(left, |b| {
                    let o = b.outstanding();
                    async move { Ok(o <= room) }
                })
                .await?
            {
                let why = format!(
                    "N={members}: the hub had not prepared {} members after {:.0} s ({} created)",
                    self.outstanding(),
                    timeout.as_secs_f64(),
                    self.created
                );
                return Ok((started.elapsed().as_secs_f64(), Some(why)));
            }
            let results: Vec<anyhow::Result<()>> = futures::stream::iter(chunk.iter().copied())
                .map(|i| create(&api, &self.observer, i, &self.opts))
                .buffer_unordered(CREATE_CONCURRENCY)
                .collect()
                .await;
            results.into_iter().collect::<anyhow::Result<()>>()?;
            self.created += chunk.len();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let all = self.created;
        let ok = self
            .poll(left.max(Duration::from_secs(30)), |b| {
                let n = b.observer.count(|v| v.joined.is_some() && v.healthy());
                async move { Ok(n >= all) }
            })
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        if ok {
            return Ok((seconds, None));
        }
        let joined = self.observer.count(|v| v.joined.is_some());
        let healthy = self.observer.count(|v| v.healthy());
        Ok((
            seconds,
            Some(format!(
                "N={members}: after {seconds:.0} s only {joined} members were Joined and {healthy} \
                 healthy (last simulator error: {})",
                self.simulator.last_error().unwrap_or_else(|| "none".into())
            )),
        ))
    }

    /// Joins `count` members one at a time, each once the one before it is `Joined`.
    pub(super) async fn join_one_by_one(&mut self, count: usize) -> anyhow::Result<Timings> {
        let api: Api<MemberCluster> = Api::all(self.client.clone());
        let first = self.created;
        for _ in 0..count {
            create(&api, &self.observer, self.created, &self.opts).await?;
            let name = member_name(self.created);
            self.created += 1;
            self.poll(JOIN_ONE_TIMEOUT, |b| {
                let joined = b.observer.view(&name).is_some_and(|v| v.joined.is_some());
                async move { Ok(joined) }
            })
            .await?;
        }
        Ok(self.timings(first, self.created))
    }
}

/// Creates the `i`-th member's MemberCluster (retrying what the API server refuses for load)
/// and notes when.
async fn create(
    api: &Api<MemberCluster>,
    observer: &Observer,
    i: usize,
    opts: &Options,
) -> anyhow::Result<()> {
    let name = member_name(i);
    let mut mc = MemberCluster::new(
        &name,
        MemberClusterSpec {
            display_name: Some(format!("Simulated member {i}")),
            heartbeat: Some(Heartbeat {
                period_seconds: i32::try_from(opts.period)?,
                grace_seconds: i32::try_from(opts.grace)?,
            }),
            ..MemberClusterSpec::default()
        },
    );
    mc.metadata.labels = Some(BTreeMap::from([
        (LABEL.to_owned(), "fleet".to_owned()),
        ("env".to_owned(), "sim".to_owned()),
    ]));
    let mut attempt = 0;
    let sent = Instant::now();
    loop {
        attempt += 1;
        match api.create(&PostParams::default(), &mc).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.is_already_exists() => break,
            Err(e) if attempt < 5 => {
                eprintln!("fleet: creating {name}: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("creating MemberCluster {name}")));
            }
        }
    }
    observer.created(&name, sent);
    Ok(())
}
