//! The network: regions, a one-way latency matrix, jitter, bandwidth, an
//! optional gossip topology, and the faults that are in force right now.
//!
//! One function, [`Network::send_delay`], answers "how long does this message
//! take, or is it lost?"; every random draw it makes is keyed by the message's
//! identity, so the answer does not depend on the order of unrelated events.

mod column;
mod netem;
pub mod p2p;

pub use column::{ABSENT, NOT_SENT};

use column::Bases;
use petgraph::graph::{NodeIndex, UnGraph};
use rand::Rng;

use crate::rng::{self, CounterKey, Purpose, Streams};
use crate::scenario::{FaultKind, JitterKind, Scenario, TopologyKind};
use crate::time::SimDuration;

/// Index of a validator (its address order).
pub type NodeId = u16;

/// A lost transmission is sent again by the peer's gossip routine after this
/// long: CometBFT `config.toml` `consensus.peer_gossip_sleep_duration = "100ms"`.
pub const GOSSIP_RETRY: SimDuration = SimDuration(100_000_000);

/// After this many lost transmissions in a row the message is given up
/// (only reached with loss rates near 1).
const MAX_TRANSMISSIONS: u64 = 64;

/// The word a (sender, receiver) pair adds to a message's key: one place,
/// so that `send_delays`' fast loop draws exactly what `delay` draws.
#[inline]
fn pair_word(from: NodeId, to: NodeId) -> u64 {
    ((from as u64) << 16) | to as u64
}

#[derive(Clone, Copy, Debug)]
pub struct Jitter {
    pub kind: JitterKind,
    pub fraction: f64,
    pub sigma: f64,
}

impl Jitter {
    /// Applies jitter to the base delay (ns) of the pair (`from`, `to`) of
    /// a message whose jitter key is `key`. Normal jitter is netem's table
    /// ([`netem`]): this runs for every (vote, receiver) pair, N² times a
    /// height.
    #[inline(always)]
    fn apply(&self, base_ns: f64, key: CounterKey, from: NodeId, to: NodeId) -> f64 {
        match self.kind {
            JitterKind::None => base_ns,
            JitterKind::Normal => netem::propagation(
                base_ns,
                self.fraction * base_ns,
                netem::column(key, to),
                from,
            ),
            JitterKind::Lognormal => {
                let z: f64 = rand_distr::Distribution::sample(
                    &rand_distr::StandardNormal,
                    &mut key.at(&[pair_word(from, to)]),
                );
                base_ns * (self.sigma * z - 0.5 * self.sigma * self.sigma).exp()
            }
        }
    }
}

/// Faults in force now. Changed only by [`Network::apply_fault`].
#[derive(Clone, Debug)]
pub struct FaultState {
    pub crashed: Vec<bool>,
    /// Multiplier on the delay of messages sent or received (1 = normal).
    pub slow: Vec<f64>,
    /// Partition side of each node while a partition is in force; `None` for
    /// nodes in no side (they reach everyone).
    pub side: Option<Vec<Option<u16>>>,
    pub loss_rate: f64,
}

/// A fault with its names resolved to node ids, ready to apply.
#[derive(Clone, Debug)]
pub enum FaultAction {
    Crash(Vec<NodeId>),
    Recover(Vec<NodeId>),
    Slow(Vec<NodeId>, f64),
    Partition(Vec<Option<u16>>),
    Heal,
    Loss(f64),
}

/// Relay paths for a restricted topology: per pair, the one-way latency of the
/// fastest path over live links, and its hop count.
#[derive(Clone, Debug)]
struct Routes {
    graph: UnGraph<(), ()>,
    /// `dist[from * n + to]` in ns; `u64::MAX` when unreachable.
    dist: Vec<u64>,
    hops: Vec<u16>,
}

#[derive(Clone, Debug)]
pub struct Network {
    pub region_names: Vec<String>,
    /// One-way latency in ns between regions, `[from * r + to]`.
    region_latency_ns: Vec<u64>,
    num_regions: usize,
    /// Region of each node.
    pub region_of: Vec<usize>,
    jitter: Jitter,
    /// Nanoseconds per byte on a link.
    ns_per_byte: f64,
    base_loss_rate: f64,
    routes: Option<Routes>,
    pub faults: FaultState,
    jitter_key: CounterKey,
    loss_key: CounterKey,
    /// Per receiver region, each sender's base latency and jitter spread
    /// for the normal-jitter column loop (empty for other jitter): fixed
    /// by the latency matrix and the jitter, so made once, not per vote.
    bases: Vec<Bases>,
}

impl Network {
    pub fn new(scenario: &Scenario, streams: &Streams) -> Network {
        let net = &scenario.network;
        let r = net.regions.len();
        let matrix = net
            .latency_ms
            .as_ref()
            .expect("resolved scenario has a latency matrix");
        let region_latency_ns = matrix
            .iter()
            .flatten()
            .map(|ms| (ms * 1e6).round() as u64)
            .collect();
        let specs = scenario.validator_specs();
        let n = specs.len();
        let region_of: Vec<usize> = specs.iter().map(|s| s.region).collect();
        let mut network = Network {
            region_names: net.regions.clone(),
            region_latency_ns,
            num_regions: r,
            region_of,
            jitter: Jitter {
                kind: net.jitter.kind,
                fraction: net.jitter.fraction,
                sigma: net.jitter.sigma,
            },
            ns_per_byte: 8.0 * 1e9 / (net.bandwidth_mbps * 1e6),
            base_loss_rate: net.loss_rate,
            routes: None,
            faults: FaultState {
                crashed: vec![false; n],
                slow: vec![1.0; n],
                side: None,
                loss_rate: net.loss_rate,
            },
            jitter_key: streams.counter_key(Purpose::NetworkJitter),
            loss_key: streams.counter_key(Purpose::MessageLoss),
            bases: Vec::new(),
        };
        network.bases = network.make_bases();
        let topo = &net.topology;
        let edges: Option<Vec<(usize, usize)>> = match topo.kind {
            // The p2p model keeps its own peer graph (`sim/gossip.rs`).
            _ if net.model == crate::scenario::NetworkModel::P2p => None,
            TopologyKind::Full => None,
            TopologyKind::Random => Some(random_links(n, topo.degree, streams)),
            TopologyKind::Edges => {
                let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                let pos = |x: &str| {
                    names
                        .iter()
                        .position(|n| *n == x)
                        .expect("validated edge name")
                };
                Some(topo.edges.iter().map(|[a, b]| (pos(a), pos(b))).collect())
            }
        };
        if let Some(edges) = edges {
            let mut graph = UnGraph::with_capacity(n, edges.len());
            for _ in 0..n {
                graph.add_node(());
            }
            for (a, b) in edges {
                if a != b
                    && graph
                        .find_edge(NodeIndex::new(a), NodeIndex::new(b))
                        .is_none()
                {
                    graph.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
                }
            }
            network.routes = Some(Routes {
                graph,
                dist: Vec::new(),
                hops: Vec::new(),
            });
            network.recompute_routes();
        }
        network
    }

    pub fn num_nodes(&self) -> usize {
        self.region_of.len()
    }

    /// Base one-way latency between two nodes' regions, in ns.
    pub fn region_latency(&self, from: NodeId, to: NodeId) -> u64 {
        self.region_latency_ns
            [self.region_of[from as usize] * self.num_regions + self.region_of[to as usize]]
    }

    fn partitioned(&self, a: usize, b: usize) -> bool {
        match &self.faults.side {
            Some(side) => matches!((side[a], side[b]), (Some(x), Some(y)) if x != y),
            None => false,
        }
    }

    /// One-way delay of a p2p batch (`network::p2p`) between nodes `from` and
    /// `to` of the p2p network, in regions `rf` and `rt`: the matrix cell,
    /// jittered once per batch (`key`: link and batch number), scaled by a
    /// slow fault on a validator at either end. Transfer time is the
    /// connection's rate limiter's, not this.
    pub fn batch_latency(
        &self,
        (from, rf): (NodeId, usize),
        (to, rt): (NodeId, usize),
        key: [u64; 2],
    ) -> SimDuration {
        let base = self.region_latency_ns[rf * self.num_regions + rt];
        let propagation = self
            .jitter
            .apply(base as f64, self.jitter_key.then(&key), from, to);
        let slow = |i: NodeId| self.faults.slow.get(i as usize).copied().unwrap_or(1.0);
        SimDuration((propagation * slow(from).max(slow(to)) + 0.5) as u64)
    }

    /// Whether a partition in force separates validators `a` and `b`
    /// (nodes past the validators are in no side).
    pub fn separated(&self, a: NodeId, b: NodeId) -> bool {
        let n = self.num_nodes();
        (a as usize) < n && (b as usize) < n && self.partitioned(a as usize, b as usize)
    }

    /// Delay of a message of `bytes` from `from` to `to`, or `None` if it is
    /// dropped (crashed sender, partition, no path). `key` identifies the
    /// message (e.g. height, round, step, block) for its random draws.
    ///
    /// A lost transmission is not a lost message: CometBFT's gossip keeps
    /// sending a peer the votes and block parts it lacks, so each loss costs
    /// one `GOSSIP_RETRY` before the next attempt.
    pub fn send_delay(
        &self,
        from: NodeId,
        to: NodeId,
        bytes: u64,
        key: [u64; 4],
    ) -> Option<SimDuration> {
        let (f, t) = (from as usize, to as usize);
        if self.faults.crashed[f] || self.partitioned(f, t) {
            return None;
        }
        self.delay(
            from,
            to,
            bytes,
            self.jitter_key.then(&key),
            self.loss_key.then(&key),
        )
    }

    /// [`Network::send_delay`] from `from` to every node at once (`out[to]`,
    /// 0 for `from` itself), the message hashed once; `None` if any is lost.
    pub fn send_delays(
        &self,
        from: NodeId,
        bytes: u64,
        key: [u64; 4],
        out: &mut [u64],
    ) -> Option<()> {
        let f = from as usize;
        if self.faults.crashed[f] || self.faults.side.is_some() {
            return None;
        }
        let (jitter, loss) = (self.jitter_key.then(&key), self.loss_key.then(&key));
        if self.direct() {
            let r = self.num_regions;
            let row = &self.region_latency_ns[self.region_of[f] * r..(self.region_of[f] + 1) * r];
            let transfer = bytes as f64 * self.ns_per_byte;
            for (t, o) in out.iter_mut().enumerate() {
                *o = if t == f {
                    0
                } else {
                    self.direct_delay(jitter, from, t as NodeId, row[self.region_of[t]], transfer)
                };
            }
            return Some(());
        }
        for (t, o) in out.iter_mut().enumerate() {
            *o = if t == f {
                0
            } else {
                self.delay(from, t as NodeId, bytes, jitter, loss)?.0
            };
        }
        Some(())
    }

    /// One message from every node, for [`Columns::arrivals`] to give its
    /// arrival times at each receiver in turn (the columns of
    /// [`Network::send_delays`], with the same draws): the faults checked
    /// and the message hashed once. `None` if a partition is in force or a
    /// node is down.
    pub fn columns(&self, bytes: u64, key: [u64; 4]) -> Option<Columns<'_>> {
        if self.faults.side.is_some() || self.faults.crashed.iter().any(|&c| c) {
            return None;
        }
        let direct = self.direct();
        let bases = if direct { &self.bases[..] } else { &[] };
        Some(Columns {
            net: self,
            bytes,
            jitter: self.jitter_key.then(&key),
            loss: self.loss_key.then(&key),
            direct,
            bases,
        })
    }

    /// Per receiver region, each sender's base latency and jitter spread
    /// as `Jitter::apply` computes them, for the normal-jitter loop.
    fn make_bases(&self) -> Vec<Bases> {
        if self.jitter.kind != JitterKind::Normal {
            return Vec::new();
        }
        let r = self.num_regions;
        (0..r)
            .map(|to| {
                let ns: Vec<f64> = self
                    .region_of
                    .iter()
                    .map(|&from| self.region_latency_ns[from * r + to] as f64)
                    .collect();
                let spread = ns.iter().map(|&ns| self.jitter.fraction * ns).collect();
                Bases::new(ns, spread)
            })
            .collect()
    }

    /// Replaces the jitter (tests), and what is made from it.
    #[cfg(test)]
    fn set_jitter(&mut self, jitter: Jitter) {
        self.jitter = jitter;
        self.bases = self.make_bases();
    }

    /// The common case, N² times a height: no routes, no loss, no slow node.
    fn direct(&self) -> bool {
        self.routes.is_none()
            && self.faults.loss_rate == 0.0
            && self.faults.slow.iter().all(|&k| k == 1.0)
    }

    /// What `delay` computes when `direct` holds (one hop, no loss, no
    /// slow node), given the pair's base latency and the transfer time.
    #[inline(always)]
    fn direct_delay(
        &self,
        jitter: CounterKey,
        from: NodeId,
        to: NodeId,
        base: u64,
        transfer: f64,
    ) -> u64 {
        let propagation = self.jitter.apply(base as f64, jitter, from, to);
        (propagation + transfer + 0.5) as u64
    }

    /// The delay once the message's words are folded into the keys.
    #[inline]
    fn delay(
        &self,
        from: NodeId,
        to: NodeId,
        bytes: u64,
        jitter: CounterKey,
        loss: CounterKey,
    ) -> Option<SimDuration> {
        let (f, t) = (from as usize, to as usize);
        let pair = [pair_word(from, to)];
        let mut retries = 0;
        if self.faults.loss_rate > 0.0 {
            let mut r = loss.at(&pair);
            while rng::unit_f64(&mut r) < self.faults.loss_rate {
                retries += 1;
                if retries == MAX_TRANSMISSIONS {
                    return None;
                }
            }
        }
        let (base, hops) = match &self.routes {
            None => (self.region_latency(from, to), 1),
            Some(routes) => {
                let n = self.num_nodes();
                let d = routes.dist[f * n + t];
                if d == u64::MAX {
                    return None;
                }
                (d, routes.hops[f * n + t].max(1) as u64)
            }
        };
        let propagation = self.jitter.apply(base as f64, jitter, from, to);
        let transfer = bytes as f64 * self.ns_per_byte * hops as f64;
        let slow = self.faults.slow[f].max(self.faults.slow[t]);
        // Non-negative: adding ½ and truncating rounds to nearest without a libm call.
        Some(
            SimDuration(((propagation + transfer) * slow + 0.5) as u64)
                + GOSSIP_RETRY.saturating_mul(retries),
        )
    }

    pub fn apply_fault(&mut self, action: &FaultAction) {
        match action {
            FaultAction::Crash(ids) => ids
                .iter()
                .for_each(|&i| self.faults.crashed[i as usize] = true),
            FaultAction::Recover(ids) => ids
                .iter()
                .for_each(|&i| self.faults.crashed[i as usize] = false),
            FaultAction::Slow(ids, k) => {
                ids.iter().for_each(|&i| self.faults.slow[i as usize] = *k)
            }
            FaultAction::Partition(side) => self.faults.side = Some(side.clone()),
            FaultAction::Heal => self.faults.side = None,
            FaultAction::Loss(rate) => self.faults.loss_rate = *rate,
        }
        if self.routes.is_some() && !matches!(action, FaultAction::Slow(..) | FaultAction::Loss(_))
        {
            self.recompute_routes();
        }
    }

    /// The action that undoes `action` (for a fault's `until`).
    pub fn inverse(&self, action: &FaultAction) -> FaultAction {
        match action {
            FaultAction::Crash(ids) => FaultAction::Recover(ids.clone()),
            FaultAction::Recover(ids) => FaultAction::Crash(ids.clone()),
            FaultAction::Slow(ids, _) => FaultAction::Slow(ids.clone(), 1.0),
            FaultAction::Partition(_) | FaultAction::Heal => FaultAction::Heal,
            FaultAction::Loss(_) => FaultAction::Loss(self.base_loss_rate),
        }
    }

    /// Shortest paths over links whose ends are up and on the same side.
    fn recompute_routes(&mut self) {
        let n = self.num_nodes();
        let Some(routes) = self.routes.take() else {
            return;
        };
        let mut dist = vec![u64::MAX; n * n];
        let mut hops = vec![0u16; n * n];
        let usable = |a: usize, b: usize| {
            !self.faults.crashed[a] && !self.faults.crashed[b] && !self.partitioned(a, b)
        };
        let region_of = &self.region_of;
        let lat = |a: usize, b: usize| {
            self.region_latency_ns[region_of[a] * self.num_regions + region_of[b]]
        };
        // Dijkstra from every source; n is at most a few hundred validators.
        let mut heap = std::collections::BinaryHeap::new();
        for s in 0..n {
            let row = &mut dist[s * n..(s + 1) * n];
            let hrow = &mut hops[s * n..(s + 1) * n];
            row[s] = 0;
            heap.clear();
            heap.push(std::cmp::Reverse((0u64, s)));
            while let Some(std::cmp::Reverse((d, u))) = heap.pop() {
                if d > row[u] {
                    continue;
                }
                for v in routes.graph.neighbors(NodeIndex::new(u)) {
                    let v = v.index();
                    if !usable(u, v) {
                        continue;
                    }
                    let nd = d + lat(u, v).max(1);
                    if nd < row[v] {
                        row[v] = nd;
                        hrow[v] = hrow[u] + 1;
                        heap.push(std::cmp::Reverse((nd, v)));
                    }
                }
            }
        }
        self.routes = Some(Routes {
            dist,
            hops,
            ..routes
        });
    }

    /// Resolves a fault specification's names into an action.
    pub fn resolve_fault(
        scenario: &Scenario,
        kind: FaultKind,
        validators: &[String],
        groups: &[Vec<String>],
        factor: Option<f64>,
        rate: Option<f64>,
    ) -> FaultAction {
        let ids = |names: &[String]| -> Vec<NodeId> {
            names
                .iter()
                .flat_map(|n| scenario.resolve_validators(n).unwrap_or_default())
                .map(|i| i as NodeId)
                .collect()
        };
        match kind {
            FaultKind::Crash => FaultAction::Crash(ids(validators)),
            FaultKind::Recover => FaultAction::Recover(ids(validators)),
            FaultKind::Slow => FaultAction::Slow(ids(validators), factor.unwrap_or(1.0)),
            FaultKind::Heal => FaultAction::Heal,
            FaultKind::Loss => FaultAction::Loss(rate.unwrap_or(0.0)),
            FaultKind::Partition => {
                let specs = scenario.validator_specs();
                let mut side = vec![None; specs.len()];
                for (g, names) in groups.iter().enumerate() {
                    for name in names {
                        if let Some(r) = scenario.network.regions.iter().position(|x| x == name) {
                            for (i, s) in specs.iter().enumerate() {
                                if s.region == r {
                                    side[i] = Some(g as u16);
                                }
                            }
                        } else {
                            for i in scenario.resolve_validators(name).unwrap_or_default() {
                                side[i] = Some(g as u16);
                            }
                        }
                    }
                }
                FaultAction::Partition(side)
            }
        }
    }
}

/// One message from every node to each receiver in turn: see [`Network::columns`].
pub struct Columns<'a> {
    net: &'a Network,
    bytes: u64,
    jitter: CounterKey,
    loss: CounterKey,
    /// No routes, no loss, no slow node, as when the message was hashed.
    direct: bool,
    /// By receiver region, with normal jitter on direct links.
    bases: &'a [Bases],
}

impl Columns<'_> {
    /// When the message, sent by each node `from` at `sent[from]`
    /// ([`NOT_SENT`] if it does not send), reaches `to`: `out[from]`,
    /// [`ABSENT`] for `to` itself and for nodes that do not send. Returns
    /// the latest arrival (`i64::MIN` if none);
    /// `None` if any transmission is given up. Times below 2^63 ns.
    pub fn arrivals(&self, to: NodeId, sent: &[u64], out: &mut [i64]) -> Option<i64> {
        let (net, t) = (self.net, to as usize);
        let transfer = self.bytes as f64 * net.ns_per_byte;
        if self.direct
            && let Some(bases) = self.bases.get(net.region_of[t])
        {
            return Some(column::normal_arrivals(
                netem::column(self.jitter, to),
                bases,
                transfer,
                sent,
                t,
                out,
            ));
        }
        let (r, region) = (net.num_regions, net.region_of[t]);
        for (f, o) in out.iter_mut().enumerate() {
            *o = if f == t || sent[f] == NOT_SENT {
                ABSENT
            } else if self.direct {
                let base = net.region_latency_ns[net.region_of[f] * r + region];
                (sent[f] + net.direct_delay(self.jitter, f as NodeId, to, base, transfer)) as i64
            } else {
                (sent[f]
                    + net
                        .delay(f as NodeId, to, self.bytes, self.jitter, self.loss)?
                        .0) as i64
            };
        }
        Some(column::latest(out))
    }
}

/// A ring (so the graph is connected) plus random chords up to `degree` links
/// per node on average, from the topology stream.
fn random_links(n: usize, degree: usize, streams: &Streams) -> Vec<(usize, usize)> {
    let mut rng = streams.stream(Purpose::Topology, 0);
    let mut edges = Vec::new();
    if n < 2 {
        return edges;
    }
    for i in 0..n {
        edges.push((i, (i + 1) % n));
    }
    let extra = (n * degree / 2).saturating_sub(n);
    for _ in 0..extra {
        let a = (rng.next_u64() % n as u64) as usize;
        let b = (rng.next_u64() % n as u64) as usize;
        if a != b {
            edges.push((a, b));
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    /// Four validators a-b-c-d in regions 0,1,2,3 with the given topology lines.
    fn four(extra: &str) -> (Scenario, Network) {
        let text = format!(
            r#"
name = "n"
duration = "1s"
[network]
regions = ["r0", "r1", "r2", "r3"]
latency_ms = [[0, 10, 20, 30], [10, 0, 10, 20], [20, 10, 0, 10], [30, 20, 10, 0]]
jitter = {{ kind = "none" }}
bandwidth_mbps = 8.0
{extra}
[[validators]]
name = "a"
region = "r0"
[[validators]]
name = "b"
region = "r1"
[[validators]]
name = "c"
region = "r2"
[[validators]]
name = "d"
region = "r3"
"#
        );
        let s = Scenario::from_toml_str(&text, "n.toml").unwrap();
        let net = Network::new(&s, &Streams::new(1));
        (s, net)
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn direct_delay_is_cell_plus_transfer() {
        let (_, net) = four("");
        // 8 Mbit/s = 1 byte per microsecond: 1000 bytes add 1 ms.
        assert_eq!(net.send_delay(0, 3, 0, [0; 4]), Some(SimDuration(30 * MS)));
        assert_eq!(
            net.send_delay(0, 3, 1000, [0; 4]),
            Some(SimDuration(31 * MS))
        );
    }

    #[test]
    fn restricted_topology_relays_along_the_fastest_path() {
        let (_, mut net) =
            four(r#"topology = { kind = "edges", edges = [["a", "b"], ["b", "c"], ["c", "d"]] }"#);
        // a→d over three hops of 10 ms, and the 1 ms transfer paid per hop.
        assert_eq!(
            net.send_delay(0, 3, 1000, [0; 4]),
            Some(SimDuration(33 * MS))
        );
        // Crashing the relay c cuts d off.
        net.apply_fault(&FaultAction::Crash(vec![2]));
        assert_eq!(net.send_delay(0, 3, 0, [0; 4]), None);
        net.apply_fault(&FaultAction::Recover(vec![2]));
        assert_eq!(net.send_delay(0, 3, 0, [0; 4]), Some(SimDuration(30 * MS)));
    }

    #[test]
    fn faults_crash_slow_partition_and_loss() {
        let (s, mut net) = four("");
        net.apply_fault(&FaultAction::Slow(vec![1], 3.0));
        assert_eq!(
            net.send_delay(0, 1, 0, [0; 4]),
            Some(SimDuration(30 * MS)),
            "slow receiver"
        );
        assert_eq!(
            net.send_delay(1, 2, 0, [0; 4]),
            Some(SimDuration(30 * MS)),
            "slow sender"
        );
        let undo = net.inverse(&FaultAction::Slow(vec![1], 3.0));
        net.apply_fault(&undo);
        assert_eq!(net.send_delay(0, 1, 0, [0; 4]), Some(SimDuration(10 * MS)));

        let part = Network::resolve_fault(
            &s,
            FaultKind::Partition,
            &[],
            &[vec!["r0".into(), "r1".into()], vec!["c".into()]],
            None,
            None,
        );
        net.apply_fault(&part);
        assert_eq!(
            net.send_delay(0, 2, 0, [0; 4]),
            None,
            "across the partition"
        );
        assert!(net.send_delay(0, 1, 0, [0; 4]).is_some(), "same side");
        assert!(
            net.send_delay(0, 3, 0, [0; 4]).is_some(),
            "d is in no group: reaches everyone"
        );
        net.apply_fault(&FaultAction::Heal);
        assert!(net.send_delay(0, 2, 0, [0; 4]).is_some());

        net.apply_fault(&FaultAction::Crash(vec![0]));
        assert_eq!(
            net.send_delay(0, 1, 0, [0; 4]),
            None,
            "a crashed sender sends nothing"
        );
        net.apply_fault(&FaultAction::Recover(vec![0]));

        // Loss: with rate 0.3 about 30% of 20,000 first transmissions are
        // lost (binomial sd ≈ 65, so ±400 is > 6 sd), and the mean number of
        // retries is p/(1−p) = 3/7 (geometric), each costing GOSSIP_RETRY.
        net.apply_fault(&FaultAction::Loss(0.3));
        let delays: Vec<u64> = (0..20_000u64)
            .map(|i| net.send_delay(0, 1, 0, [i, 0, 0, 0]).unwrap().0)
            .collect();
        let retried = delays.iter().filter(|&&d| d > 10 * MS).count();
        assert!((5600..=6400).contains(&retried), "retried {retried}");
        let mean_retries = delays
            .iter()
            .map(|&d| ((d - 10 * MS) / GOSSIP_RETRY.0) as f64)
            .sum::<f64>()
            / 20_000.0;
        assert!(
            (mean_retries - 3.0 / 7.0).abs() < 0.03,
            "mean retries {mean_retries}"
        );
        // A message's fate depends on the message, not on what was sent before it.
        let first: Vec<_> = (0..100u64)
            .map(|i| net.send_delay(0, 1, 0, [i, 0, 0, 0]))
            .collect();
        let again: Vec<_> = (0..100u64)
            .rev()
            .map(|i| net.send_delay(0, 1, 0, [i, 0, 0, 0]))
            .rev()
            .collect();
        assert_eq!(first, again);
        net.apply_fault(&FaultAction::Loss(1.0));
        assert_eq!(
            net.send_delay(0, 1, 0, [0; 4]),
            None,
            "all transmissions lost"
        );
    }

    /// The arrivals `columns` gives a receiver, for messages sent at time
    /// 0, are a column of the `send_delays` matrix and each entry is
    /// `send_delay`'s, with jitter, with and without slow nodes and loss
    /// (the direct loop and the general one); the receiver's own is absent.
    #[test]
    fn columns_are_the_columns_of_send_delays() {
        let (_, mut net) = four("");
        net.set_jitter(Jitter {
            kind: JitterKind::Normal,
            fraction: 0.05,
            sigma: 0.0,
        });
        for action in [
            None,
            Some(FaultAction::Slow(vec![2], 2.5)),
            Some(FaultAction::Loss(0.2)),
        ] {
            if let Some(a) = &action {
                net.apply_fault(a);
            }
            for key in [[7, 0, 1, 3], [8, 1, 2, 3]] {
                let mut rows = [[0u64; 4]; 4];
                for (from, row) in rows.iter_mut().enumerate() {
                    net.send_delays(from as NodeId, 500, key, row).unwrap();
                }
                #[allow(
                    clippy::needless_range_loop,
                    reason = "the index walks several tables in step"
                )]
                for to in 0..4 {
                    let mut column = [0i64; 4];
                    let latest = net
                        .columns(500, key)
                        .unwrap()
                        .arrivals(to as NodeId, &[0; 4], &mut column)
                        .unwrap();
                    assert_eq!(
                        latest,
                        (0..4)
                            .filter(|&f| f != to)
                            .map(|f| rows[f][to] as i64)
                            .max()
                            .unwrap()
                    );
                    for from in 0..4 {
                        if from == to {
                            assert_eq!(column[from], ABSENT);
                            continue;
                        }
                        assert_eq!(
                            column[from], rows[from][to] as i64,
                            "{action:?} {from}->{to}"
                        );
                        assert_eq!(
                            column[from],
                            net.send_delay(from as NodeId, to as NodeId, 500, key)
                                .unwrap()
                                .0 as i64,
                            "{action:?} {from}->{to}"
                        );
                    }
                }
            }
        }
        net.apply_fault(&FaultAction::Crash(vec![3]));
        assert!(net.columns(500, [0; 4]).is_none(), "a sender is down");
    }

    #[test]
    fn normal_jitter_has_the_configured_spread() {
        let (_, mut net) = four("");
        net.set_jitter(Jitter {
            kind: JitterKind::Normal,
            fraction: 0.05,
            sigma: 0.0,
        });
        let n = 20_000u64;
        let xs: Vec<f64> = (0..n)
            .map(|i| net.send_delay(0, 3, 0, [i, 1, 2, 3]).unwrap().0 as f64 / MS as f64)
            .collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        // Cell 30 ms, sd 5% = 1.5 ms; standard error of the mean ≈ 0.011 ms.
        assert!((mean - 30.0).abs() < 0.05, "mean {mean}");
        assert!((sd - 1.5).abs() < 0.05, "sd {sd}");
    }
}
