//! Model upgrades on the timetable (`[[upgrades]]`, issue #26).
//!
//! Decoupled: a rolling upgrade. At `at` the first `batch` serving nodes of
//! the group (in index order) leave routing and drain: they finish what is
//! queued and running on them, taking nothing new. A drained node loads
//! the new weights for `weight_bytes(new) / load_gb_per_s` seconds, then
//! serves the new model (its latency model, KV capacity and KV bytes per
//! token). When the whole batch serves it, the next batch starts; after the
//! last, the upgrade is complete. Nodes of the group whose operator is not
//! serving at `at` (issue #12's entrants and leavers) switch at once: they
//! load the weights when they (re)enter, within their provisioning time.
//! The streams switch at `streams_at`, or at completion; routing follows
//! each node's and each stream's current model, and a request that finds
//! no node serving its model is lost (`lost_to_capacity`), as always.
//!
//! Replicated: the streams switch at `streams_at` (or `at`); from then on
//! their requests execute the new model in every validator, and a validator
//! whose hardware cannot fit it becomes unable to execute (see
//! `execution`), and the chain halts when the rest hold ≤ 2/3 of the power.

use crate::event::Event;
use crate::inference::latency::LatencyModel;
use crate::scenario::{Architecture, Scenario, UpgradeSpec};
use crate::summary::{Sketch, UpgradeSummary};
use crate::time::{SimDuration, SimTime};

use super::Simulation;

/// One upgrade as it goes.
struct Run {
    spec: UpgradeSpec,
    /// The group's index (decoupled).
    group: Option<usize>,
    from_model: String,
    /// Indices of the streams that switch.
    streams: Vec<usize>,
    /// The new model as one of the group's nodes serves it (decoupled).
    latency: Option<LatencyModel>,
    kv_bytes_per_token: f64,
    kv_capacity_bytes: f64,
    /// How long a node takes to load the new weights.
    load_time: SimDuration,
    /// Nodes still to upgrade (serving, or with work left), in index order.
    todo: Vec<u16>,
    /// Nodes of the current batch that do not yet serve the new model.
    in_batch: usize,
    completed: Option<SimTime>,
    lost_at_start: u64,
    lost: Option<u64>,
    switched: bool,
    /// Block intervals and trust gaps (all modes) ending before `at` and
    /// from `at` on: what the upgrade did to the chain and to finality.
    intervals: [Sketch; 2],
    gaps: [Sketch; 2],
}

/// Every upgrade of the run.
#[derive(Default)]
pub(super) struct Upgrades {
    runs: Vec<Run>,
    /// Per GPU node: the upgrade it is draining for (empty without upgrades).
    draining: Vec<Option<u16>>,
}

impl Upgrades {
    /// A block interval that ended at `now`, for every upgrade's before and after.
    pub(super) fn note_interval(&mut self, now: SimTime, secs: f64) {
        for r in &mut self.runs {
            r.intervals[usize::from(now >= SimTime::ZERO + r.spec.at)].push(secs);
        }
    }

    /// A trust gap of a request finalised at `now`.
    pub(super) fn note_gap(&mut self, now: SimTime, secs: f64) {
        for r in &mut self.runs {
            r.gaps[usize::from(now >= SimTime::ZERO + r.spec.at)].push(secs);
        }
    }

    pub(super) fn new(s: &Scenario, gpu_nodes: usize) -> Upgrades {
        if s.upgrades.is_empty() {
            return Upgrades::default();
        }
        let decoupled = s.architecture == Architecture::Decoupled;
        let runs = s
            .upgrades
            .iter()
            .map(|u| {
                let streams: Vec<usize> = u
                    .streams
                    .iter()
                    .map(|n| {
                        s.workload
                            .iter()
                            .position(|w| w.name == *n)
                            .expect("checked")
                    })
                    .collect();
                let new = &s.models[&u.to_model];
                let group = u.group.as_ref().filter(|_| decoupled).map(|g| {
                    s.gpu_nodes
                        .iter()
                        .position(|x| x.name == *g)
                        .expect("checked")
                });
                let (mut latency, mut kv_capacity_bytes) = (None, 0.0);
                let from_model = match group {
                    Some(gi) => {
                        let g = &s.gpu_nodes[gi];
                        let hw = &s.hardware[&g.hardware];
                        let slowdown = if g.tee {
                            s.verification.tee_slowdown
                        } else {
                            1.0
                        };
                        latency = Some(LatencyModel::new(&g.latency, hw, new, slowdown, None));
                        kv_capacity_bytes =
                            hw.mem_gb * 1e9 * g.memory_fraction - new.weight_bytes();
                        g.model.clone()
                    }
                    None => streams
                        .first()
                        .map(|&i| s.workload[i].model.clone())
                        .unwrap_or_default(),
                };
                Run {
                    spec: u.clone(),
                    group,
                    from_model,
                    streams,
                    latency,
                    kv_bytes_per_token: new.kv_bytes_per_token(),
                    kv_capacity_bytes,
                    load_time: SimDuration::from_secs_f64(
                        new.weight_bytes() / (u.load_gb_per_s * 1e9),
                    ),
                    todo: Vec::new(),
                    in_batch: 0,
                    completed: None,
                    lost_at_start: 0,
                    lost: None,
                    switched: false,
                    intervals: Default::default(),
                    gaps: Default::default(),
                }
            })
            .collect();
        Upgrades {
            runs,
            draining: vec![None; gpu_nodes],
        }
    }
}

impl Simulation {
    /// Puts every upgrade's start and streams' switch on the timetable.
    pub(super) fn schedule_upgrades(&mut self) {
        let replicated = self.exec.replicated;
        for (i, r) in self.upg.runs.iter().enumerate() {
            let index = i as u16;
            if !replicated {
                self.queue
                    .push(SimTime::ZERO + r.spec.at, Event::UpgradeStart { index });
            }
            let switch = match (r.spec.streams_at, replicated) {
                (Some(t), _) => Some(t),
                (None, true) => Some(r.spec.at),
                (None, false) => None, // at completion
            };
            if let Some(t) = switch
                && !r.streams.is_empty()
            {
                self.queue
                    .push(SimTime::ZERO + t, Event::StreamsSwitch { index });
            }
        }
    }

    pub(super) fn on_upgrade_start(&mut self, index: u16) {
        let i = index as usize;
        let gi = self.upg.runs[i]
            .group
            .expect("decoupled upgrades name a group");
        self.upg.runs[i].lost_at_start = self.inf.lost_to_capacity;
        let mut todo = Vec::new();
        for n in 0..self.inf.num_nodes() {
            if self.inf.group_of[n] != gi {
                continue;
            }
            if !self.inf.active[n] && self.inf.is_idle(n) {
                self.switch_node(i, n);
            } else {
                todo.push(n as u16);
            }
        }
        self.upg.runs[i].todo = todo;
        self.start_batch(i);
    }

    /// Takes the next batch of nodes out of routing, or completes the upgrade.
    fn start_batch(&mut self, i: usize) {
        let run = &mut self.upg.runs[i];
        let k = run.spec.batch.min(run.todo.len());
        let batch: Vec<u16> = run.todo.drain(..k).collect();
        run.in_batch = batch.len();
        if batch.is_empty() {
            self.complete_upgrade(i);
            return;
        }
        for &n in &batch {
            self.inf.set_upgrading(n as usize, true);
            self.upg.draining[n as usize] = Some(i as u16);
        }
        for &n in &batch {
            self.check_drained(n as usize);
        }
    }

    /// A node draining for an upgrade that has nothing left queued or
    /// running starts loading the new weights.
    pub(super) fn check_drained(&mut self, n: usize) {
        let Some(Some(index)) = self.upg.draining.get(n).copied() else {
            return;
        };
        if !self.inf.is_idle(n) {
            return;
        }
        self.upg.draining[n] = None;
        let d = self.upg.runs[index as usize].load_time;
        self.queue.push(
            self.now + d,
            Event::WeightsLoaded {
                node: n as u16,
                index,
            },
        );
    }

    pub(super) fn on_weights_loaded(&mut self, node: u16, index: u16) {
        let i = index as usize;
        self.switch_node(i, node as usize);
        self.inf.set_upgrading(node as usize, false);
        let run = &mut self.upg.runs[i];
        run.in_batch -= 1;
        if run.in_batch == 0 {
            self.start_batch(i);
        }
    }

    /// Node `n` serves upgrade `i`'s model from now.
    fn switch_node(&mut self, i: usize, n: usize) {
        let run = &self.upg.runs[i];
        self.inf.switch_node_model(
            n,
            &run.spec.to_model,
            run.latency.as_ref().expect("decoupled"),
            run.kv_bytes_per_token,
            run.kv_capacity_bytes,
        );
    }

    fn complete_upgrade(&mut self, i: usize) {
        let now = self.now;
        let lost = self.inf.lost_to_capacity;
        let run = &mut self.upg.runs[i];
        run.completed = Some(now);
        run.lost = Some(lost - run.lost_at_start);
        if run.spec.streams_at.is_none() && !run.switched {
            self.on_streams_switch(i as u16);
        }
    }

    pub(super) fn on_streams_switch(&mut self, index: u16) {
        let i = index as usize;
        self.upg.runs[i].switched = true;
        for k in 0..self.upg.runs[i].streams.len() {
            let s = self.upg.runs[i].streams[k];
            self.inf
                .switch_stream(s, 1, self.upg.runs[i].spec.images.as_ref());
        }
        if self.exec.replicated {
            self.upg.runs[i].completed = Some(self.now);
            self.upg.runs[i].lost = Some(0);
        }
    }

    /// `summary.upgrades`.
    pub(super) fn upgrade_summaries(&self) -> Vec<UpgradeSummary> {
        self.upg
            .runs
            .iter()
            .map(|r| UpgradeSummary {
                at_s: r.spec.at.as_secs_f64(),
                group: r.group.map(|g| self.scenario.gpu_nodes[g].name.clone()),
                from_model: r.from_model.clone(),
                to_model: r.spec.to_model.clone(),
                completed_s: r.completed.map(SimTime::as_secs_f64),
                block_interval_s_before: r.intervals[0].distribution(),
                block_interval_s_after: r.intervals[1].distribution(),
                trust_gap_s_before: r.gaps[0].distribution(),
                trust_gap_s_after: r.gaps[1].distribution(),
                requests_lost: r.lost.unwrap_or_else(|| {
                    if self.exec.replicated {
                        0
                    } else {
                        // Still going at the end (or not started: 0).
                        let started = SimTime::ZERO + r.spec.at <= self.end;
                        if started {
                            self.inf.lost_to_capacity - r.lost_at_start
                        } else {
                            0
                        }
                    }
                }),
            })
            .collect()
    }
}
