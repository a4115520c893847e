//! Block execution by the validators themselves (issue #11): in the
//! replicated architecture, the design HACA replaces, every validator runs
//! every inference request of a committed block on its own hardware during
//! block execution (CometBFT's FinalizeBlock), and in the decoupled one it
//! only verifies attestations and proofs. This module decides how long that
//! takes, whether the validator can do it at all, and whether its results —
//! its app hash — still agree with the others'.
//!
//! Semantics, after CometBFT v0.38 `consensus/state.go`:
//! * the next height starts at max(commit + `timeout_commit`, commit +
//!   execution): `updateToState` sets `StartTime = CommitTime +
//!   timeout_commit`, and `ApplyBlock` runs within that wait;
//! * while a validator executes, its consensus routine is blocked: messages
//!   reaching it wait until execution ends;
//! * a model that does not fit (weights plus the KV cache of the largest
//!   request, or of the whole batch) leaves the validator unable to execute:
//!   it stops, as a CometBFT node whose application fails FinalizeBlock does;
//! * a proposal for height h+1 carries its proposer's app hash after h; a
//!   validator whose own app hash differs rejects it (prevotes nil); a
//!   validator left behind by a chain that committed another app hash stops
//!   (CometBFT: "wrong Block.Header.AppHash"); when no app hash holds more
//!   than 2/3 of the voting power the chain halts.
//!
//! Divergence: each validator, for each request it executes, produces an
//! output that differs from everyone else's with the probability of its
//! hardware class and batching policy (0 with deterministic kernels); a
//! differing output gives that validator an app hash of its own.

use std::collections::BTreeMap;

use crate::consensus::BlockId;
use crate::inference::HardwareSpec;
use crate::inference::latency::{LatencyConfig, LatencyModel, StepWork};
use crate::rng::{self, CounterKey, Purpose, Streams};
use crate::scenario::{Architecture, Batching, ReplicatedConfig, Scenario};
use crate::time::SimDuration;

/// One request carried by a block, as execution needs it.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockRequest {
    pub slot: u32,
    pub id: u64,
    pub stream: u16,
    pub prompt: u32,
    pub output: u32,
    pub images: u32,
    /// Its stream's model version (1: the model an upgrade switched to).
    pub version: u8,
}

/// What executing one block costs one hardware class.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cost {
    /// `None`: the model does not fit in the class's memory.
    pub time: Option<SimDuration>,
}

pub(super) struct Execution {
    pub replicated: bool,
    cfg: ReplicatedConfig,
    /// Hardware class of each validator, and the classes.
    pub class_of: Vec<usize>,
    pub classes: Vec<(String, HardwareSpec)>,
    /// Latency model per (class, workload stream model): index
    /// `first[stream] + version`.
    latency: Vec<Vec<LatencyModel>>,
    /// Each workload stream's models (its own, then the one an upgrade
    /// switches it to), one after another.
    models: Vec<crate::inference::ModelSpec>,
    /// Where each stream's models start in `models`.
    first: Vec<usize>,
    /// Execution costs per (block, class), computed once.
    costs: BTreeMap<(BlockId, usize), Cost>,
    /// Each validator's app hash after the last block it executed.
    pub app_hash: Vec<u64>,
    /// When each validator became unable to execute (a block's model did
    /// not fit it), if it did.
    pub unable_at: Vec<Option<crate::time::SimTime>>,
    pub diverged: Vec<bool>,
    /// Until when each validator is busy executing.
    pub busy_until: Vec<crate::time::SimTime>,
    divergence: CounterKey,
    /// First height that could not be decided because no app hash held +2/3.
    pub halted_at: Option<u64>,
    /// CPU seconds each validator spent verifying attestations and proofs.
    pub verify_cpu_s: Vec<f64>,
    pub tee_verify_s: f64,
    pub zk_verify_s: f64,
    /// Requests of the last executed block, final when the next block commits.
    pub awaiting_final: Vec<(u32, u64)>,
}

impl Execution {
    pub fn new(s: &Scenario, streams: &Streams) -> Execution {
        let specs = s.validator_specs();
        let mut classes: Vec<(String, HardwareSpec)> = Vec::new();
        let mut class_of = Vec::new();
        for v in &specs {
            let i = match classes.iter().position(|(n, _)| *n == v.hardware) {
                Some(i) => i,
                None => {
                    classes.push((v.hardware.clone(), s.hardware[&v.hardware].clone()));
                    classes.len() - 1
                }
            };
            class_of.push(i);
        }
        let (mut models, mut first) = (Vec::new(), Vec::new());
        for w in &s.workload {
            first.push(models.len());
            models.push(s.models[&w.model].clone());
            if let Some(u) = s.upgrades.iter().find(|u| u.streams.contains(&w.name)) {
                models.push(s.models[&u.to_model].clone());
            }
        }
        let cfg = LatencyConfig::default();
        let latency = classes
            .iter()
            .map(|(_, hw)| {
                models
                    .iter()
                    .map(|m| LatencyModel::new(&cfg, hw, m, 1.0, None))
                    .collect()
            })
            .collect();
        let n = specs.len();
        Execution {
            replicated: s.architecture == Architecture::Replicated,
            cfg: s.replicated.clone(),
            class_of,
            classes,
            latency,
            models,
            first,
            costs: BTreeMap::new(),
            app_hash: vec![0; n],
            unable_at: vec![None; n],
            diverged: vec![false; n],
            busy_until: vec![crate::time::SimTime::ZERO; n],
            divergence: streams.counter_key(Purpose::Divergence),
            halted_at: None,
            verify_cpu_s: vec![0.0; n],
            tee_verify_s: s
                .verification
                .measured("p384_cert_chain_3")
                .unwrap_or(s.verification.tee_verify_cpu_s),
            zk_verify_s: match s.verification.zk_proof_system {
                crate::verification::ProofSystem::Groth16 => {
                    s.verification.measured("groth16_bn254_verify")
                }
                _ => None,
            }
            .unwrap_or(s.verification.zk_proof_system.verify_cpu_s()),
            awaiting_final: Vec::new(),
        }
    }

    /// How long `class` takes to execute `requests` (block `block`), or
    /// `None` if the model does not fit its memory.
    pub fn cost(&mut self, block: BlockId, class: usize, requests: &[BlockRequest]) -> Cost {
        if let Some(c) = self.costs.get(&(block, class)) {
            return *c;
        }
        let mem = self.classes[class].1.mem_gb * 1e9;
        let slow = if self.cfg.deterministic_kernels {
            self.cfg.deterministic_slowdown
        } else {
            1.0
        };
        let fits = |k: usize, tokens: f64| self.models[k].memory_bytes(tokens) <= mem;
        let time = match self.cfg.batching {
            Batching::Sequential => {
                let mut total = SimDuration::ZERO;
                let mut ok = true;
                for r in requests {
                    let k = self.key(r);
                    ok &= fits(k, (r.prompt + r.output) as f64);
                    total = total + self.latency[class][k].solo(r.prompt, r.output, r.images);
                }
                ok.then(|| SimDuration::from_secs_f64(total.as_secs_f64() * slow))
            }
            Batching::Batched => self
                .batched(class, requests, mem)
                .map(|t| SimDuration::from_secs_f64(t * slow)),
        };
        let c = Cost { time };
        self.costs.insert((block, class), c);
        c
    }

    /// The index of a request's model in `models` and `latency`.
    fn key(&self, r: &BlockRequest) -> usize {
        self.first[r.stream as usize] + r.version as usize
    }

    /// One batch per model of the block: a prefill of every prompt, then
    /// decode steps while any sequence still has tokens to produce.
    fn batched(&self, class: usize, requests: &[BlockRequest], mem: f64) -> Option<f64> {
        let mut total = 0.0;
        let mut keys: Vec<usize> = requests.iter().map(|r| self.key(r)).collect();
        keys.sort_unstable();
        keys.dedup();
        for s in keys {
            let batch: Vec<&BlockRequest> = requests.iter().filter(|r| self.key(r) == s).collect();
            let m = &self.models[s];
            let tokens: f64 = batch.iter().map(|r| (r.prompt + r.output) as f64).sum();
            if m.memory_bytes(tokens) > mem {
                return None;
            }
            let lat = &self.latency[class][s];
            let p: f64 = batch.iter().map(|r| r.prompt as f64).sum();
            let p2: f64 = batch.iter().map(|r| (r.prompt as f64).powi(2)).sum();
            let images: f64 = batch.iter().map(|r| r.images as f64).sum();
            total += lat
                .step(&StepWork {
                    prefill_tokens: p,
                    prefill_tokens_sq: p2,
                    prefill_seqs: batch.len() as f64,
                    images,
                    ..Default::default()
                })
                .as_secs_f64();
            let longest = batch.iter().map(|r| r.output).max().unwrap_or(0);
            for j in 1..longest {
                let live: Vec<&&BlockRequest> = batch.iter().filter(|r| r.output > j).collect();
                let context: f64 = live.iter().map(|r| (r.prompt + j) as f64).sum();
                total += lat
                    .step(&StepWork {
                        decode_seqs: live.len() as f64,
                        decode_context: context,
                        ..Default::default()
                    })
                    .as_secs_f64();
            }
        }
        Some(total)
    }

    /// Folds `block`'s requests into every validator's app hash: each output
    /// that differs makes that validator's hash its own.
    pub fn apply_divergence(&mut self, requests: &[BlockRequest]) {
        for v in 0..self.app_hash.len() {
            let hw = &self.classes[self.class_of[v]].1;
            let p = if self.cfg.deterministic_kernels {
                0.0
            } else {
                match self.cfg.batching {
                    Batching::Sequential => hw.divergence_sequential,
                    Batching::Batched => hw.divergence_batched,
                }
            };
            if p <= 0.0 {
                continue;
            }
            for r in requests {
                if rng::unit_f64(&mut self.divergence.at(&[r.id, v as u64])) < p {
                    self.app_hash[v] = rng::mix64(
                        self.app_hash[v]
                            ^ rng::mix64(r.id.wrapping_mul(rng::GOLDEN) ^ (v as u64 + 1)),
                    );
                }
            }
        }
    }

    /// Forgets the costs of blocks below `lowest`.
    pub fn prune_below(&mut self, lowest: BlockId) {
        self.costs = self.costs.split_off(&(lowest, 0));
    }
}

impl super::Simulation {
    /// Block `block` of `height` is committed (first honest validator): the
    /// chain's side of block execution.
    pub(super) fn on_block_executed(
        &mut self,
        height: u64,
        block: BlockId,
        b: &super::Block,
        sink: &mut dyn crate::records::RecordSink,
    ) {
        let n = self.exec.app_hash.len();
        // Validators whose app hash is not the one this block was built on
        // are left behind by the chain and stop.
        if height >= 2 {
            for v in 0..n {
                if !self.net.faults.crashed[v] && self.exec.app_hash[v] != b.app_hash {
                    self.exec.diverged[v] = true;
                    self.net.faults.crashed[v] = true;
                }
            }
        }
        // This block's header commits to the previous block's results.
        for (slot, id) in std::mem::take(&mut self.exec.awaiting_final) {
            self.on_replicated_final(slot, id, sink);
        }
        if b.requests.is_empty() {
            return;
        }
        // The result reaches the user when the fastest live validator that
        // can run the model has executed the block.
        let mut fastest: Option<SimDuration> = None;
        let mut able = vec![false; n];
        #[allow(
            clippy::needless_range_loop,
            reason = "the index walks several tables in step"
        )]
        for v in 0..n {
            if self.net.faults.crashed[v] {
                continue;
            }
            if let Some(t) = self
                .exec
                .cost(block, self.exec.class_of[v], &b.requests)
                .time
            {
                able[v] = true;
                fastest = Some(fastest.map_or(t, |f| f.min(t)));
            }
        }
        if let Some(t) = fastest {
            for r in &b.requests {
                self.on_replicated_included(r.slot, r.id, self.now + t);
            }
            self.exec.awaiting_final = b.requests.iter().map(|r| (r.slot, r.id)).collect();
        }
        self.exec.apply_divergence(&b.requests);
        // Halt: no app hash among the validators that can go on holds +2/3.
        if self.exec.halted_at.is_none() {
            let mut groups: Vec<(u64, u64)> = Vec::new();
            for v in (0..n).filter(|&v| able[v]) {
                let h = self.exec.app_hash[v];
                match groups.iter_mut().find(|g| g.0 == h) {
                    Some(g) => g.1 += self.specs[v].power,
                    None => groups.push((h, self.specs[v].power)),
                }
            }
            let best = groups.iter().map(|g| g.1).max().unwrap_or(0);
            if best * 3 <= 2 * self.total_power {
                self.exec.halted_at = Some(height + 1);
            }
        }
        if height.is_multiple_of(64) {
            self.exec.prune_below(block.saturating_sub(64 * 4));
        }
    }
}

impl super::Simulation {
    /// Hardware-hours and USD per 1,000 finalised requests: every
    /// validator's machine for the whole run, and in the decoupled
    /// architecture every GPU node's too (in the replicated one none runs).
    pub(super) fn cost(&self, finalised: u64) -> crate::summary::CostSummary {
        let hours = self.scenario.duration.as_secs_f64() / 3600.0;
        let hw = &self.scenario.hardware;
        let (mut validator_gpus, mut usd_per_hour) = (0.0, 0.0);
        for v in &self.specs {
            validator_gpus += hw[&v.hardware].gpus as f64;
            usd_per_hour += hw[&v.hardware].usd_per_hour;
        }
        let mut node_gpus = 0.0;
        if !self.exec.replicated {
            for g in &self.scenario.gpu_nodes {
                node_gpus += g.count as f64 * hw[&g.hardware].gpus as f64;
                usd_per_hour += g.count as f64 * hw[&g.hardware].usd_per_hour;
            }
        }
        crate::summary::CostSummary {
            gpu_hours_validators: validator_gpus * hours,
            gpu_hours_inference_nodes: node_gpus * hours,
            usd_per_1k_requests: (finalised > 0)
                .then(|| usd_per_hour * hours / finalised as f64 * 1000.0),
        }
    }
}
