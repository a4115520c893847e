//! Inference requests from arrival to finality: workload arrivals, GPU nodes
//! (batched steps or exponential service), delivery, settlement transactions,
//! and verification (TEE at inclusion, ZK proofs, vanilla challenge window
//! with sampled re-execution). Every handler is named after its event.

use crate::event::Event;
use crate::inference::latency::{LatencyKind, LatencyModel, StepWork};
use crate::inference::node::{BatchLimits, GpuNode, Seq};
use crate::mempool::{Tx, TxKind};
use crate::records::{GpuNodeRecord, RecordSink, RequestRecord};
use crate::rng::{self, CounterKey, Purpose, Streams};
use crate::scenario::{GpuSteps, Scenario};
use crate::summary::{FraudSummary, ModeGaps, PoolSummary, RequestCounts, Sketch, TrustGaps};
use crate::time::{SimDuration, SimTime};
use crate::verification::VerificationConfig;
use crate::verification::zk::ProverPool;
use crate::workload::{Arrivals, Mode, StreamConfig, TokenDist};

use super::Simulation;

/// One request's timeline. Lives in a slot of the request table until its
/// record is written.
#[derive(Clone, Debug)]
pub(super) struct Request {
    id: u64,
    stream: u16,
    node: u16,
    mode: Mode,
    /// Prompt tokens of the language model, image tokens included.
    prompt: u32,
    output: u32,
    /// Images the model encodes (a vision-language model's stream).
    images: u32,
    honest: bool,
    /// Which of its stream's models it was submitted for (0: the
    /// stream's own; 1: after an upgrade switched the stream).
    version: u8,
    submitted: SimTime,
    started: Option<SimTime>,
    first_token: Option<SimTime>,
    delivered: Option<SimTime>,
    settled: Option<SimTime>,
    proof_started: Option<SimTime>,
    proof_done: Option<SimTime>,
    finalised: Option<SimTime>,
    detected: Option<SimTime>,
    /// When its user gave up waiting (`workload.timeout`).
    abandoned: Option<SimTime>,
}

impl Request {
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: u64,
        stream: u16,
        node: u16,
        mode: Mode,
        prompt: u32,
        output: u32,
        honest: bool,
        submitted: SimTime,
    ) -> Request {
        Request {
            id,
            stream,
            node,
            mode,
            prompt,
            output,
            images: 0,
            honest,
            version: 0,
            submitted,
            started: None,
            first_token: None,
            delivered: None,
            settled: None,
            proof_started: None,
            proof_done: None,
            finalised: None,
            detected: None,
            abandoned: None,
        }
    }
}

/// Memory that one request in flight holds, roughly: its row of the
/// request table, its place in a node's queue, the growth reserve of both,
/// and its `Abandon` event (measured, `scenarios/SOURCES.md`).
const BYTES_PER_REQUEST_IN_FLIGHT: u64 = 200;

/// A rate for messages: whole requests/s when large, else three figures.
fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// A replicated request carries its prompt on chain: about 4 bytes a token
/// (UTF-8 text, for byte-pair tokenisers' ~4 characters per token).
const PROMPT_BYTES_PER_TOKEN: u64 = 4;

/// Most steps one event stands for with coalesced steps: bounds the step
/// end times a run keeps (a few hundred decode steps are a few seconds of
/// a busy node).
const MAX_RUN_STEPS: u64 = 256;

/// A GPU node's fixed description and counters.
#[derive(Clone, Debug)]
struct GpuMeta {
    name: String,
    group: String,
    hardware: String,
    model: String,
    tee: bool,
    dishonest: f64,
    latency: LatencyModel,
    kv_bytes_per_token: f64,
    wrong_results: u64,
    slashed: u64,
}

struct Stream {
    cfg: StreamConfig,
    arrivals: Arrivals,
    /// Long-run mean arrival rate (requests/s), for the overload message.
    mean_rate_per_s: f64,
    /// Nodes serving the stream's model, and those of them in TEE mode.
    nodes: Vec<u16>,
    tee_nodes: Vec<u16>,
    /// The stream's models by version (for the FLOPs a ZK proof must
    /// cover, the image tokens): its own, then the model an upgrade
    /// switches it to (`[[upgrades]]`).
    models: Vec<(String, crate::inference::ModelSpec)>,
    /// The version new requests are submitted for.
    version: u8,
}

impl Stream {
    /// The model of the stream's new requests.
    fn model_name(&self) -> &str {
        &self.models[self.version as usize].0
    }
}

/// Everything about inference and verification in one run.
pub(super) struct Inference {
    streams: Vec<Stream>,
    gpus: Vec<GpuNode>,
    meta: Vec<GpuMeta>,
    /// `gpu_steps = "coalesced"`: one event per run of steps.
    coalesce: bool,
    /// Whether each GPU node's operator is serving (issue #12), and its
    /// group. Changed only through `set_active`, which keeps `loads`.
    pub(super) active: Vec<bool>,
    /// Whether each GPU node is out of routing for a model upgrade
    /// (draining or loading weights). Changed only through
    /// `set_upgrading`, which keeps `loads`.
    upgrading: Vec<bool>,
    /// Each node's requests in system (queued or batched), `u32::MAX` while
    /// its operator is away or it is upgrading: what `pick_node` compares for every request,
    /// kept in one small array rather than read from each node.
    loads: Vec<u32>,
    pub(super) group_of: Vec<usize>,
    /// Requests that found no active node for their model.
    pub(super) lost_to_capacity: u64,
    /// Sum of submit → delivery times of delivered requests (s).
    pub(super) latency_sum_s: f64,
    requests: Vec<Option<Request>>,
    free: Vec<u32>,
    next_id: u64,
    /// `limits.max_in_flight`: live rows of `requests` allowed.
    max_in_flight: u64,
    peak_in_flight: u64,
    provers: ProverPool,
    verification: VerificationConfig,
    draws: CounterKey,
    service: CounterKey,
    // Statistics.
    submitted: u64,
    delivered: u64,
    finalised: u64,
    rejected: u64,
    abandoned: u64,
    abandoned_in_service: u64,
    gaps: [Sketch; 3],
    finality_s: Sketch,
    gpu_waits_s: Sketch,
    wrong_results: u64,
    detected: u64,
    detection_delays_s: Sketch,
    exposed_value: f64,
}

/// The nodes serving `model`, and those of them in TEE mode.
fn serving(meta: &[GpuMeta], model: &str) -> (Vec<u16>, Vec<u16>) {
    let nodes: Vec<u16> = (0..meta.len())
        .filter(|&n| meta[n].model == model)
        .map(|n| n as u16)
        .collect();
    let tee_nodes = nodes
        .iter()
        .copied()
        .filter(|&n| meta[n as usize].tee)
        .collect();
    (nodes, tee_nodes)
}

fn mode_index(m: Mode) -> usize {
    match m {
        Mode::Tee => 0,
        Mode::Zk => 1,
        Mode::Vanilla => 2,
    }
}

impl Inference {
    pub(super) fn new(s: &Scenario, streams_rng: &Streams) -> Inference {
        let v = &s.verification;
        let mut gpus = Vec::new();
        let mut meta = Vec::new();
        let mut active = Vec::new();
        let mut group_of = Vec::new();
        // Each group's nodes, then (issue #12) each group's potential
        // entrants, idle until they enter: existing indices never move.
        let entrants = s.gpu_entrants();
        let plan: Vec<(usize, usize, bool)> = (0..s.gpu_nodes.len())
            .flat_map(|gi| (0..s.gpu_nodes[gi].count).map(move |i| (gi, i, true)))
            .chain((0..s.gpu_nodes.len()).flat_map(|gi| (0..entrants).map(move |e| (gi, e, false))))
            .collect();
        for (gi, i, serving) in plan {
            let g = &s.gpu_nodes[gi];
            let m = &s.models[&g.model];
            let hw = &s.hardware[&g.hardware];
            let slowdown = if g.tee { v.tee_slowdown } else { 1.0 };
            let profile = g
                .latency
                .profile
                .as_ref()
                .and_then(|p| s.profiles.get(p))
                .cloned();
            if g.latency.kind == LatencyKind::Profile {
                assert!(
                    profile.is_some(),
                    "profile {:?} was not attached (Scenario::attach_profiles)",
                    g.latency.profile
                );
            }
            let latency = LatencyModel::new(&g.latency, hw, m, slowdown, profile);
            let limits = BatchLimits {
                max_batch: g.max_batch,
                max_batch_tokens: g.max_batch_tokens,
                kv_capacity_bytes: hw.mem_gb * 1e9 * g.memory_fraction - m.weight_bytes(),
            };
            {
                active.push(serving);
                group_of.push(gi);
                let mut node = GpuNode::new(limits);
                node.max_queue = g.max_queue.map_or(usize::MAX, |q| q as usize);
                gpus.push(node);
                meta.push(GpuMeta {
                    name: match (serving, g.count) {
                        (false, _) => format!("{}-entrant-{}", g.name, i),
                        (true, 1) => g.name.clone(),
                        (true, _) => format!("{}-{}", g.name, i),
                    },
                    group: g.name.clone(),
                    hardware: g.hardware.clone(),
                    model: g.model.clone(),
                    tee: g.tee,
                    dishonest: g.dishonest_probability,
                    latency: latency.clone(),
                    kv_bytes_per_token: m.kv_bytes_per_token(),
                    wrong_results: 0,
                    slashed: 0,
                });
            }
        }
        let streams = s
            .workload
            .iter()
            .enumerate()
            .map(|(i, cfg)| {
                let (nodes, tee_nodes) = serving(&meta, &cfg.model);
                let mut models = vec![(cfg.model.clone(), s.models[&cfg.model].clone())];
                if let Some(u) = s.upgrades.iter().find(|u| u.streams.contains(&cfg.name)) {
                    models.push((u.to_model.clone(), s.models[&u.to_model].clone()));
                }
                let trace = s.traces.get(&i).cloned().unwrap_or_default();
                Stream {
                    cfg: cfg.clone(),
                    mean_rate_per_s: cfg.arrival.mean_rate_per_s(&trace),
                    arrivals: Arrivals::new(
                        &cfg.arrival,
                        streams_rng.stream(Purpose::Workload, i as u64),
                        trace,
                    ),
                    nodes,
                    tee_nodes,
                    models,
                    version: 0,
                }
            })
            .collect();
        Inference {
            streams,
            gpus,
            meta,
            coalesce: s.gpu_steps == GpuSteps::Coalesced,
            loads: active
                .iter()
                .map(|&a| if a { 0 } else { u32::MAX })
                .collect(),
            upgrading: vec![false; active.len()],
            active,
            group_of,
            lost_to_capacity: 0,
            latency_sum_s: 0.0,
            requests: Vec::new(),
            free: Vec::new(),
            next_id: 0,
            max_in_flight: s.limits.max_in_flight,
            peak_in_flight: 0,
            provers: ProverPool::new(v.zk_provers, v.zk_prover_flops, v.zk_proof_overhead),
            verification: v.clone(),
            draws: streams_rng.counter_key(Purpose::Request),
            service: streams_rng.counter_key(Purpose::Service),
            submitted: 0,
            delivered: 0,
            finalised: 0,
            rejected: 0,
            abandoned: 0,
            abandoned_in_service: 0,
            gaps: Default::default(),
            gpu_waits_s: Sketch::default(),
            finality_s: Sketch::default(),
            wrong_results: 0,
            detected: 0,
            detection_delays_s: Sketch::default(),
            exposed_value: 0.0,
        }
    }

    pub(super) fn num_streams(&self) -> usize {
        self.streams.len()
    }

    fn req(&mut self, slot: u32, id: u64) -> Option<&mut Request> {
        self.requests
            .get_mut(slot as usize)?
            .as_mut()
            .filter(|r| r.id == id)
    }

    /// Requests submitted so far.
    pub(super) fn submitted(&self) -> u64 {
        self.submitted
    }

    /// Requests in flight: the live rows of the request table.
    pub(super) fn in_flight(&self) -> u64 {
        (self.requests.len() - self.free.len()) as u64
    }

    fn alloc(&mut self, r: Request) -> u32 {
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight() + 1);
        match self.free.pop() {
            Some(slot) => {
                self.requests[slot as usize] = Some(r);
                slot
            }
            None => {
                if self.requests.len() == self.requests.capacity() {
                    // By a quarter, not doubling: the slab's size follows
                    // the most requests ever live at once (a diurnal peak),
                    // and doubling could hold twice that for the rest of
                    // the run (flat memory, issue #8).
                    self.requests
                        .reserve_exact((self.requests.len() / 4).max(1024));
                }
                self.requests.push(Some(r));
                (self.requests.len() - 1) as u32
            }
        }
    }

    /// The least loaded active node that can serve the request (lowest
    /// index on ties); `None` when every operator serving it has left.
    fn pick_node(&self, stream: usize, mode: Mode) -> Option<u16> {
        let st = &self.streams[stream];
        let pool = if mode == Mode::Tee {
            &st.tee_nodes
        } else {
            &st.nodes
        };
        let (load, node) = pool.iter().map(|&n| (self.loads[n as usize], n)).min()?;
        (load != u32::MAX).then_some(node)
    }

    /// Brings node `n`'s entry in `loads` up to date after its queue or
    /// batch changed.
    fn note_load(&mut self, n: u16) {
        let n = n as usize;
        self.loads[n] = if self.active[n] && !self.upgrading[n] {
            self.gpus[n].in_system() as u32
        } else {
            u32::MAX
        };
    }

    /// An operator starts or stops serving node `n`.
    pub(super) fn set_active(&mut self, n: usize, active: bool) {
        self.active[n] = active;
        self.note_load(n as u16);
    }

    /// Node `n` leaves routing for an upgrade (`true`) or returns to it.
    pub(super) fn set_upgrading(&mut self, n: usize, upgrading: bool) {
        self.upgrading[n] = upgrading;
        self.note_load(n as u16);
    }

    /// Node `n` has nothing queued or running.
    pub(super) fn is_idle(&self, n: usize) -> bool {
        self.gpus[n].in_system() == 0
    }

    /// GPU nodes in all (serving or not).
    pub(super) fn num_nodes(&self) -> usize {
        self.meta.len()
    }

    /// Node `n` (idle) now serves `model`: its latency model, KV bytes per
    /// token and KV capacity those of the new model; the streams' node
    /// lists follow.
    pub(super) fn switch_node_model(
        &mut self,
        n: usize,
        model: &str,
        latency: &LatencyModel,
        kv_bytes_per_token: f64,
        kv_capacity_bytes: f64,
    ) {
        debug_assert!(self.is_idle(n), "a node switches model only when idle");
        let m = &mut self.meta[n];
        m.model = model.to_string();
        m.latency = latency.clone();
        m.kv_bytes_per_token = kv_bytes_per_token;
        self.gpus[n].limits.kv_capacity_bytes = kv_capacity_bytes;
        self.refresh_stream_nodes();
    }

    /// Stream `stream`'s new requests are for its model `version` from now
    /// and, with `images`, carry that many images.
    pub(super) fn switch_stream(&mut self, stream: usize, version: u8, images: Option<&TokenDist>) {
        let st = &mut self.streams[stream];
        st.version = st.version.max(version.min(st.models.len() as u8 - 1));
        if let Some(d) = images {
            st.cfg.images = Some(d.clone());
        }
        self.refresh_stream_nodes();
    }

    /// Recomputes each stream's nodes from each node's current model.
    fn refresh_stream_nodes(&mut self) {
        for st in &mut self.streams {
            let (nodes, tee_nodes) = serving(&self.meta, &st.models[st.version as usize].0);
            st.nodes = nodes;
            st.tee_nodes = tee_nodes;
        }
    }

    /// Delivered requests so far and the sum of their latencies.
    pub(super) fn delivered(&self) -> (u64, f64) {
        (self.delivered, self.latency_sum_s)
    }

    /// Requests waiting for admission on active nodes.
    pub(super) fn queued(&self) -> usize {
        self.gpus
            .iter()
            .zip(&self.active)
            .filter(|(_, a)| **a)
            .map(|(g, _)| g.queue.len())
            .sum()
    }

    /// Frees the row of a request whose record has been written.
    fn release(&mut self, slot: u32) {
        self.requests[slot as usize] = None;
        self.free.push(slot);
    }

    /// The error that stops a run at `limits.max_in_flight`: the offered
    /// load against the fleet's estimated capacity, and what to change.
    fn overload_message(&self, replicated: bool) -> String {
        let offered: f64 = self.streams.iter().map(|s| s.mean_rate_per_s).sum();
        let mut text = format!(
            "{} requests in flight reached limits.max_in_flight = {}. The workload offers {} requests/s (mean arrival rates summed over {} stream{})",
            self.in_flight(),
            self.max_in_flight,
            rate(offered),
            self.streams.len(),
            if self.streams.len() == 1 { "" } else { "s" }
        );
        if replicated {
            text.push_str(
                "; with architecture = \"replicated\" every validator executes them inside blocks (no GPU-node capacity to estimate), so requests wait in the mempool.",
            );
        } else {
            let capacity = self.capacity_per_s();
            let nodes = self.active.iter().filter(|&&a| a).count();
            text.push_str(&format!(
                "; the {nodes} GPU node{} serving can take about {} requests/s with full batches (a rough estimate from the latency model)",
                if nodes == 1 { "" } else { "s" },
                rate(capacity)
            ));
            if offered > capacity {
                text.push_str(&format!(
                    ", so the load is {:.0}× the capacity and the queues grow without bound.",
                    offered / capacity.max(f64::MIN_POSITIVE)
                ));
            } else {
                text.push_str(
                    ", so the requests pile up after their GPU step (settlements waiting for block space, proofs, challenge windows).",
                );
            }
        }
        text.push_str(&format!(
            " Lower the arrival rates ([[workload]] arrival), add [[gpu_nodes]], bound the queues (gpu_nodes max_queue, workload timeout), or raise [limits] max_in_flight if the memory is there (about {BYTES_PER_REQUEST_IN_FLIGHT} bytes per request in flight)."
        ));
        text
    }

    /// Requests per second the active GPU nodes can serve with full
    /// batches, summed: a rough figure for messages, not used by the
    /// simulation. Per node, with the mean prompt `P` and output `O` of the
    /// streams of its model (weighted by their rates): `B` sequences at
    /// once (`max_batch`, fewer if their KV cache does not fit), prefilled
    /// as many prompts a step as `max_batch_tokens` holds, then `O` decode
    /// steps of all `B` at a context of `P + O/2` each; `B` requests per
    /// that time. Exponential service: `max_batch / mean`.
    fn capacity_per_s(&self) -> f64 {
        (0..self.gpus.len())
            .filter(|&n| self.active[n])
            .map(|n| self.node_capacity_per_s(n))
            .sum()
    }

    fn node_capacity_per_s(&self, n: usize) -> f64 {
        let (meta, limits) = (&self.meta[n], &self.gpus[n].limits);
        let lat = &meta.latency;
        if lat.kind == LatencyKind::Exponential {
            return limits.max_batch as f64 / lat.mean.as_secs_f64().max(1e-12);
        }
        let (mut weight, mut prompt, mut output) = (0.0, 0.0, 0.0);
        for s in self.streams.iter().filter(|s| s.model_name() == meta.model) {
            weight += s.mean_rate_per_s;
            prompt += s.mean_rate_per_s * s.cfg.prompt_tokens.mean_tokens();
            output += s.mean_rate_per_s * s.cfg.output_tokens.mean_tokens();
        }
        if weight <= 0.0 {
            return 0.0;
        }
        let (p, o) = ((prompt / weight).max(1.0), (output / weight).max(1.0));
        let fit_kv = (limits.kv_capacity_bytes / (meta.kv_bytes_per_token * (p + o))).floor();
        let b = (limits.max_batch as f64).min(fit_kv).max(1.0);
        let per_step = (limits.max_batch_tokens as f64 / p).floor().max(1.0).min(b);
        let prefill = lat.step(&StepWork {
            prefill_tokens: per_step * p,
            prefill_tokens_sq: per_step * p * p,
            prefill_seqs: per_step,
            ..Default::default()
        });
        let decode = lat.step(&StepWork {
            decode_seqs: b,
            decode_context: b * (p + o / 2.0),
            ..Default::default()
        });
        let secs = (b / per_step).ceil() * prefill.as_secs_f64() + o * decode.as_secs_f64();
        b / secs.max(1e-12)
    }

    /// GPU nodes (all, active or not) and each one's hardware.
    pub(super) fn node_hardware(&self) -> Vec<String> {
        self.meta.iter().map(|m| m.hardware.clone()).collect()
    }
}

impl Simulation {
    /// Schedules the first arrival of every stream.
    pub(super) fn start_workload(&mut self) {
        for s in 0..self.inf.num_streams() {
            self.schedule_arrival(s as u16);
        }
    }

    fn schedule_arrival(&mut self, stream: u16) {
        if let Some(mut t) = self.inf.streams[stream as usize].arrivals.next(self.now) {
            // Demand that responds (issue #12): the gap to the next arrival
            // shrinks or stretches by the demand factor (exactly unchanged at 1).
            if self.demand_factor != 1.0 {
                t = self.now
                    + SimDuration::from_secs_f64(
                        t.since(self.now).as_secs_f64() / self.demand_factor.max(1e-9),
                    );
            }
            if t > self.end {
                return;
            }
            self.queue.push(t, Event::Arrival { stream });
        }
    }

    pub(super) fn on_arrival(&mut self, stream: u16, sink: &mut dyn RecordSink) {
        if self.inf.in_flight() >= self.inf.max_in_flight {
            // The guard (issue #22): stop before memory runs out.
            let message = self.inf.overload_message(self.exec.replicated);
            self.error = Some((super::SimErrorKind::Overload, message));
            return;
        }
        let timeout = self.inf.streams[stream as usize].cfg.timeout;
        let inf = &mut self.inf;
        let id = inf.next_id;
        inf.next_id += 1;
        inf.submitted += 1;
        let st = &inf.streams[stream as usize].cfg;
        let mut r = inf.draws.at(&[id]);
        let text = st.prompt_tokens.sample(&mut r);
        let output = st.output_tokens.sample(&mut r);
        let mode = st.modes.sample(&mut r);
        // Drawn after the rest, and only for a stream with images: the
        // draws of text-only streams are those they always were.
        let images = st.images.as_ref().map_or(0, |d| d.sample(&mut r));
        let st = &inf.streams[stream as usize];
        let version = st.version;
        let model = &st.models[version as usize].1;
        let prompt = text.saturating_add(model.image_tokens(images));
        if self.exec.replicated {
            // Every validator executes it: a transaction, no GPU node.
            let slot = inf.alloc(Request {
                images,
                version,
                ..Request::new(id, stream, u16::MAX, mode, prompt, output, true, self.now)
            });
            self.schedule_abandon(slot, id, timeout);
            let inf = &mut self.inf;
            let bytes =
                inf.verification.settlement_tx_bytes + PROMPT_BYTES_PER_TOKEN * prompt as u64;
            let tx = crate::mempool::Tx {
                compute: prompt + output,
                ..self.econ.tx(TxKind::Inference(slot, id), bytes, stream)
            };
            self.submit_tx(tx, sink);
            self.schedule_arrival(stream);
            return;
        }
        let Some(node) = inf.pick_node(stream as usize, mode) else {
            inf.lost_to_capacity += 1;
            self.schedule_arrival(stream);
            return;
        };
        let honest = rng::unit_f64(&mut r) >= inf.meta[node as usize].dishonest;
        let request = Request {
            images,
            version,
            ..Request::new(id, stream, node, mode, prompt, output, honest, self.now)
        };
        if inf.gpus[node as usize].queue_full() {
            // Refused at admission (`gpu_nodes.max_queue`): a row, no slot.
            inf.rejected += 1;
            let record = self.request_record(&request, "rejected");
            sink.request(record);
            self.schedule_arrival(stream);
            return;
        }
        let kv_bytes = (prompt + output) as f64 * inf.meta[node as usize].kv_bytes_per_token;
        let slot = inf.alloc(request);
        let seq = Seq::new(slot, prompt, output, kv_bytes).with_images(images);
        inf.gpus[node as usize].enqueue(self.now, seq);
        inf.note_load(node);
        self.schedule_abandon(slot, id, timeout);
        self.kick_gpu(node);
        self.schedule_arrival(stream);
    }

    /// The user of request `slot` gives up `timeout` after now, if the
    /// stream has one and that is within the run.
    fn schedule_abandon(&mut self, slot: u32, id: u64, timeout: Option<SimDuration>) {
        if let Some(t) = timeout
            && self.now + t <= self.end
        {
            self.queue.push(self.now + t, Event::Abandon { slot, id });
        }
    }

    /// The user of a request stops waiting. Still queued: it leaves the
    /// queue and its row is written (`"abandoned"`). Already in a batch (or
    /// a block, replicated): it is served and settled all the same, and
    /// counted as abandoned in service.
    pub(super) fn on_abandon(&mut self, slot: u32, id: u64, sink: &mut dyn RecordSink) {
        let now = self.now;
        let Some(r) = self.inf.req(slot, id) else {
            return; // finished and written
        };
        if r.delivered.is_some_and(|d| d <= now) {
            return;
        }
        r.abandoned = Some(now);
        let (node, queued) = (r.node, r.started.is_none());
        self.inf.abandoned += 1;
        if !(queued && node != u16::MAX && self.inf.gpus[node as usize].remove_queued(now, slot)) {
            self.inf.abandoned_in_service += 1;
            return;
        }
        self.inf.note_load(node);
        self.check_drained(node as usize);
        // A new head of the queue may fit where the old one did not: the
        // next step must admit it, as one event per step would.
        let gpu = &self.inf.gpus[node as usize];
        if gpu.busy && gpu.run.ends.len() > 1 && gpu.would_admit() {
            self.cut_run(node);
        }
        let r = self.inf.requests[slot as usize].as_ref().expect("live");
        let record = self.request_record(r, "abandoned");
        sink.request(record);
        self.inf.release(slot);
    }

    /// Starts work on an idle node; on a busy one, cuts its run of steps
    /// short if the next step would admit the request just queued.
    fn kick_gpu(&mut self, node: u16) {
        if self.inf.gpus[node as usize].busy {
            let gpu = &self.inf.gpus[node as usize];
            if gpu.run.ends.len() > 1 && gpu.queue.len() == 1 && gpu.would_admit() {
                self.cut_run(node);
            }
            return;
        }
        match self.inf.meta[node as usize].latency.kind {
            LatencyKind::Roofline | LatencyKind::Profile => self.start_gpu_step(node),
            LatencyKind::Exponential => self.start_gpu_service(node),
        }
    }

    fn mark_started(&mut self, slot: u32) {
        let now = self.now;
        let r = self.inf.requests[slot as usize]
            .as_mut()
            .expect("live request");
        r.started = Some(now);
        let wait = now.since(r.submitted).as_secs_f64();
        self.inf.gpu_waits_s.push(wait);
    }

    /// Admits what fits and starts the next batched step, or goes idle.
    fn start_gpu_step(&mut self, node: u16) {
        let admitted = self.inf.gpus[node as usize].admit();
        for slot in admitted {
            self.mark_started(slot);
        }
        let gpu = &mut self.inf.gpus[node as usize];
        if gpu.active.is_empty() {
            gpu.set_busy(self.now, false);
            return;
        }
        let steps = if self.inf.coalesce {
            gpu.run_length(MAX_RUN_STEPS)
        } else {
            1
        };
        gpu.set_busy(self.now, true);
        // When each step ends, one by one (each step's time rounded to the
        // nanosecond, as one event per step would), kept for `cut_run`.
        let latency = &self.inf.meta[node as usize].latency;
        let mut ends = std::mem::take(&mut gpu.run.ends);
        ends.clear();
        if steps == 1 {
            ends.push(self.now + latency.step(&gpu.step_work()));
        } else {
            let (seqs, context) = gpu.decode_sums();
            latency.decode_run(seqs, context, steps, self.now, &mut ends);
        }
        let end = *ends.last().expect("a run has a step");
        gpu.run.ends = ends;
        gpu.run.id = gpu.run.id.wrapping_add(1);
        self.queue.push(
            end,
            Event::GpuStepEnd {
                node,
                run: gpu.run.id,
            },
        );
    }

    /// Ends the node's run at the first step end after now, so that the
    /// request that just arrived is admitted where a step-by-step run
    /// would admit it (the old run's event becomes stale).
    fn cut_run(&mut self, node: u16) {
        let run = &mut self.inf.gpus[node as usize].run;
        let k = run.ends.partition_point(|&t| t <= self.now);
        if k + 1 < run.ends.len() {
            run.ends.truncate(k + 1);
            run.id = run.id.wrapping_add(1);
            self.queue
                .push(run.ends[k], Event::GpuStepEnd { node, run: run.id });
        }
    }

    pub(super) fn on_gpu_step_end(&mut self, node: u16, run: u32, sink: &mut dyn RecordSink) {
        let gpu = &mut self.inf.gpus[node as usize];
        if run != gpu.run.id {
            return; // replaced by a shorter run
        }
        gpu.skip_steps(gpu.run.ends.len() as u64 - 1);
        let end = gpu.end_step(self.now);
        if !end.finished.is_empty() {
            self.inf.note_load(node);
        }
        for slot in end.first_token {
            self.inf.requests[slot as usize]
                .as_mut()
                .expect("live request")
                .first_token = Some(self.now);
        }
        for slot in end.finished {
            self.deliver(slot, sink);
        }
        self.start_gpu_step(node);
        self.check_drained(node as usize);
    }

    /// Exponential service: every free server takes a queued request.
    fn start_gpu_service(&mut self, node: u16) {
        while let Some(seq) = self.inf.gpus[node as usize].start_next() {
            self.mark_started(seq.slot);
            let id = self.inf.requests[seq.slot as usize]
                .as_ref()
                .expect("live")
                .id;
            let mean = self.inf.meta[node as usize].latency.mean.as_secs_f64();
            let d =
                SimDuration::from_secs_f64(rng::exponential(&mut self.inf.service.at(&[id]), mean));
            self.queue.push(
                self.now + d,
                Event::GpuServiceDone {
                    node,
                    slot: seq.slot,
                    id,
                },
            );
        }
        let gpu = &mut self.inf.gpus[node as usize];
        let busy = !gpu.active.is_empty();
        gpu.set_busy(self.now, busy);
    }

    pub(super) fn on_gpu_service_done(
        &mut self,
        node: u16,
        slot: u32,
        id: u64,
        sink: &mut dyn RecordSink,
    ) {
        if self.inf.req(slot, id).is_none() {
            return;
        }
        self.inf.gpus[node as usize].finish(self.now, slot);
        self.inf.note_load(node);
        self.inf.requests[slot as usize]
            .as_mut()
            .expect("live")
            .first_token = Some(self.now);
        self.deliver(slot, sink);
        self.start_gpu_service(node);
        self.check_drained(node as usize);
    }

    /// The result reaches the user (optimistically); its settlement goes to
    /// the mempool and, for ZK, its proof job to the prover pool.
    fn deliver(&mut self, slot: u32, sink: &mut dyn RecordSink) {
        let now = self.now;
        let inf = &mut self.inf;
        inf.delivered += 1;
        let r = inf.requests[slot as usize].as_mut().expect("live request");
        r.delivered = Some(now);
        inf.latency_sum_s += now.since(r.submitted).as_secs_f64();
        let (id, mode, honest, node, stream) = (r.id, r.mode, r.honest, r.node, r.stream);
        self.econ.on_delivered(stream, node, r.prompt, r.output);
        if !honest {
            inf.wrong_results += 1;
            inf.exposed_value += inf.streams[r.stream as usize].cfg.value_at_risk_usd;
            inf.meta[node as usize].wrong_results += 1;
        }
        let v = &inf.verification;
        let bytes = v.settlement_tx_bytes
            + if mode == Mode::Tee {
                v.tee_attestation_bytes
            } else {
                0
            };
        if mode == Mode::Zk {
            inf.provers.enqueue(slot, id, now);
            self.start_proofs();
        }
        let tx = self.econ.tx(TxKind::Settlement(slot, id), bytes, stream);
        self.submit_tx(tx, sink);
    }

    fn start_proofs(&mut self) {
        while let Some((slot, id)) = self.inf.provers.start_next(self.now) {
            let now = self.now;
            let inf = &mut self.inf;
            let r = inf.requests[slot as usize].as_mut().expect("live request");
            r.proof_started = Some(now);
            let model = &inf.streams[r.stream as usize].models[r.version as usize].1;
            let flops = model.request_flops(r.prompt as f64, r.output as f64)
                + model.encoder_flops(r.images as f64);
            let d = inf.provers.proof_time(flops);
            self.queue.push(now + d, Event::ProofDone { slot, id });
        }
    }

    /// A proof is done: an honest result's proof goes on chain; a wrong
    /// result cannot be proven, which is how the fraud is caught.
    pub(super) fn on_proof_done(&mut self, slot: u32, id: u64, sink: &mut dyn RecordSink) {
        let now = self.now;
        let Some(r) = self.inf.req(slot, id) else {
            return;
        };
        r.proof_done = Some(now);
        let took = now.since(r.proof_started.expect("proof started"));
        let (honest, stream) = (r.honest, r.stream);
        self.inf.provers.finish(took);
        if honest {
            self.econ.on_proof(stream);
            let tx = self.econ.tx(
                TxKind::Proof(slot, id),
                self.inf.verification.zk_proof_bytes,
                stream,
            );
            self.submit_tx(tx, sink);
        } else {
            self.detect(slot);
            self.complete_if_done(slot, sink);
        }
        self.start_proofs();
    }

    /// Transactions of a block that the first honest validator committed;
    /// returns the attestations and proofs every validator now verifies.
    pub(super) fn on_included(&mut self, txs: &[Tx], sink: &mut dyn RecordSink) -> (u64, u64) {
        let (mut attestations, mut proofs) = (0, 0);
        for tx in txs {
            match tx.kind {
                TxKind::Background => {}
                TxKind::Settlement(slot, id) => {
                    attestations +=
                        self.inf.req(slot, id).is_some_and(|r| r.mode == Mode::Tee) as u64;
                    self.on_settlement_included(slot, id, sink);
                }
                TxKind::Proof(slot, id) => {
                    proofs += 1;
                    if self.inf.req(slot, id).is_some() {
                        self.finalise(slot);
                        self.complete_if_done(slot, sink);
                    }
                }
                // Executed by the validators: see `Simulation::on_block_executed`.
                TxKind::Inference(..) => {}
            }
        }
        (attestations, proofs)
    }

    /// A replicated request's block is committed: it is settled now, its
    /// result reaches the user when the first validator has executed it.
    pub(super) fn on_replicated_included(&mut self, slot: u32, id: u64, delivered: SimTime) {
        let now = self.now;
        let inf = &mut self.inf;
        let Some(r) = inf.req(slot, id) else { return };
        r.settled = Some(now);
        r.started = Some(now);
        r.delivered = Some(delivered);
        inf.delivered += 1;
    }

    /// The next block commits to the executed block's results (its app
    /// hash): a replicated request is final.
    pub(super) fn on_replicated_final(&mut self, slot: u32, id: u64, sink: &mut dyn RecordSink) {
        let now = self.now;
        let Some(r) = self.inf.req(slot, id) else {
            return;
        };
        if r.delivered.is_some_and(|d| d > now) {
            r.delivered = Some(now);
        }
        self.finalise(slot);
        self.complete_if_done(slot, sink);
    }

    /// A replicated request as block execution needs it.
    pub(super) fn block_request(
        &self,
        slot: u32,
        id: u64,
    ) -> Option<super::execution::BlockRequest> {
        let r = self
            .inf
            .requests
            .get(slot as usize)?
            .as_ref()
            .filter(|r| r.id == id)?;
        Some(super::execution::BlockRequest {
            slot,
            id,
            stream: r.stream,
            prompt: r.prompt,
            output: r.output,
            images: r.images,
            version: r.version,
        })
    }

    fn on_settlement_included(&mut self, slot: u32, id: u64, sink: &mut dyn RecordSink) {
        let now = self.now;
        let Some(r) = self.inf.req(slot, id) else {
            return;
        };
        r.settled = Some(now);
        let (mode, honest, node, prompt, output, images, stream) = (
            r.mode, r.honest, r.node, r.prompt, r.output, r.images, r.stream,
        );
        self.econ.on_settled(stream, node, prompt, output);
        match mode {
            // The attestation is checked on chain now: a wrong result fails it
            // unless the enclave was breached.
            Mode::Tee => {
                let breached = rng::unit_f64(&mut self.inf.draws.at(&[id, 1]))
                    < self.inf.verification.tee_breach_probability;
                if honest || breached {
                    self.finalise(slot);
                } else {
                    self.detect(slot);
                }
            }
            Mode::Zk => {}
            Mode::Vanilla => {
                let window = self.inf.verification.vanilla_challenge_window;
                self.queue
                    .push(now + window, Event::ChallengeEnd { slot, id });
                let sampled = rng::unit_f64(&mut self.inf.draws.at(&[id, 2]))
                    < self.inf.verification.vanilla_reexecution_rate;
                if sampled {
                    let d = self.inf.meta[node as usize]
                        .latency
                        .solo(prompt, output, images);
                    self.queue.push(now + d, Event::ReexecDone { slot, id });
                }
            }
        }
        self.complete_if_done(slot, sink);
    }

    pub(super) fn on_reexec_done(&mut self, slot: u32, id: u64, sink: &mut dyn RecordSink) {
        let Some(r) = self.inf.req(slot, id) else {
            return;
        };
        if !r.honest && r.finalised.is_none() && r.detected.is_none() {
            self.detect(slot);
            self.complete_if_done(slot, sink);
        }
    }

    pub(super) fn on_challenge_end(&mut self, slot: u32, id: u64, sink: &mut dyn RecordSink) {
        let Some(r) = self.inf.req(slot, id) else {
            return;
        };
        if r.detected.is_none() {
            self.finalise(slot);
            self.complete_if_done(slot, sink);
        }
    }

    fn finalise(&mut self, slot: u32) {
        let now = self.now;
        let r = self.inf.requests[slot as usize]
            .as_mut()
            .expect("live request");
        r.finalised = Some(now);
        let gap = now
            .since(r.delivered.expect("delivered before final"))
            .as_secs_f64();
        self.inf.gaps[mode_index(r.mode)].push(gap);
        self.upg.note_gap(now, gap);
        self.inf
            .finality_s
            .push(now.since(r.submitted).as_secs_f64());
        self.inf.finalised += 1;
    }

    /// A wrong result is caught: the node is slashed (the economics issue
    /// turns this into a token flow; here it is counted).
    fn detect(&mut self, slot: u32) {
        let now = self.now;
        let inf = &mut self.inf;
        let r = inf.requests[slot as usize].as_mut().expect("live request");
        r.detected = Some(now);
        inf.detected += 1;
        inf.detection_delays_s
            .push(now.since(r.delivered.expect("delivered")).as_secs_f64());
        inf.meta[r.node as usize].slashed += 1;
        self.econ.on_fraud(r.node);
    }

    /// Writes the request's row and frees its slot once nothing more can happen to it.
    fn complete_if_done(&mut self, slot: u32, sink: &mut dyn RecordSink) {
        let r = self.inf.requests[slot as usize]
            .as_ref()
            .expect("live request");
        if r.settled.is_some() && (r.finalised.is_some() || r.detected.is_some()) {
            let record = self.request_record(r, "completed");
            sink.request(record);
            self.inf.release(slot);
        }
    }

    fn request_record(&self, r: &Request, outcome: &'static str) -> RequestRecord {
        let s = |t: Option<SimTime>| t.map(SimTime::as_secs_f64);
        let st = &self.inf.streams[r.stream as usize];
        let cfg = &st.cfg;
        RequestRecord {
            id: r.id,
            stream: cfg.name.clone(),
            model: st.models[r.version as usize].0.clone(),
            mode: r.mode.name(),
            node: r.node,
            prompt_tokens: r.prompt,
            output_tokens: r.output,
            images: r.images,
            submitted_s: r.submitted.as_secs_f64(),
            started_s: s(r.started),
            first_token_s: s(r.first_token),
            delivered_s: s(r.delivered),
            settled_s: s(r.settled),
            proof_started_s: s(r.proof_started),
            proof_done_s: s(r.proof_done),
            finalised_s: s(r.finalised),
            honest: r.honest,
            detected_s: s(r.detected),
            value_at_risk_usd: cfg.value_at_risk_usd,
            fee_usd: cfg.fee_usd,
            trust_gap_s: r
                .finalised
                .zip(r.delivered)
                .map(|(f, d)| f.since(d).as_secs_f64()),
            outcome,
            abandoned_s: s(r.abandoned),
        }
    }

    /// End of run: rows for unfinished requests and every GPU node; the summary parts.
    pub(super) fn finish_requests(
        &mut self,
        sink: &mut dyn RecordSink,
    ) -> (
        RequestCounts,
        TrustGaps,
        FraudSummary,
        PoolSummary,
        PoolSummary,
    ) {
        let end = self.end;
        let mut unfinished = 0;
        for slot in 0..self.inf.requests.len() {
            if let Some(r) = &self.inf.requests[slot] {
                unfinished += 1;
                let record = self.request_record(r, "in_flight");
                sink.request(record);
            }
        }
        let duration = end.since(SimTime::ZERO);
        let mut utilisation = Vec::new();
        for (i, gpu) in self.inf.gpus.iter_mut().enumerate() {
            gpu.settle_stats(end);
            let m = &self.inf.meta[i];
            let u = gpu.busy_ns as f64 / duration.0.max(1) as f64;
            utilisation.push(u);
            sink.gpu_node(GpuNodeRecord {
                id: i as u16,
                name: m.name.clone(),
                group: m.group.clone(),
                hardware: m.hardware.clone(),
                model: m.model.clone(),
                tee: m.tee,
                dishonest_probability: m.dishonest,
                served: gpu.served,
                wrong_results: m.wrong_results,
                slashed: m.slashed,
                utilisation: u,
                mean_in_system: gpu.in_system_area as f64 / duration.0.max(1) as f64,
            });
        }
        let inf = &self.inf;
        let counts = RequestCounts {
            submitted: inf.submitted,
            delivered: inf.delivered,
            finalised: inf.finalised,
            unfinished_at_end: unfinished,
            rejected: inf.rejected,
            abandoned: inf.abandoned,
            abandoned_in_service: inf.abandoned_in_service,
            peak_in_flight: inf.peak_in_flight,
            delivered_per_s: inf.delivered as f64 / duration.as_secs_f64(),
            finalised_per_s: inf.finalised as f64 / duration.as_secs_f64(),
            time_to_finality_s: inf.finality_s.distribution(),
        };
        let gaps = TrustGaps {
            tee: ModeGaps::of(&inf.gaps[0]),
            zk: ModeGaps::of(&inf.gaps[1]),
            vanilla: ModeGaps::of(&inf.gaps[2]),
        };
        let fraud = FraudSummary {
            wrong_results: inf.wrong_results,
            detected: inf.detected,
            undetected: inf.wrong_results - inf.detected,
            mean_detection_delay_s: inf.detection_delays_s.mean(),
            exposed_value: inf.exposed_value,
        };
        let gpu = PoolSummary {
            utilisation_mean: (!utilisation.is_empty())
                .then(|| utilisation.iter().sum::<f64>() / utilisation.len() as f64),
            queue_wait_s_p99: inf.gpu_waits_s.percentile(99.0),
        };
        let uses_provers = inf.streams.iter().any(|s| s.cfg.modes.zk > 0.0);
        let prover = PoolSummary {
            utilisation_mean: uses_provers.then(|| inf.provers.utilisation(duration)),
            queue_wait_s_p99: inf.provers.waits_s.percentile(99.0),
        };
        (counts, gaps, fraud, gpu, prover)
    }
}
