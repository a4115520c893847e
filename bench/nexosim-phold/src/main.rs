//! PHOLD on nexosim 1.0 in the idiom PHOLD.md describes: a model can only
//! schedule its own methods, so a remote event is a self-scheduled method at
//! t + d that sends, with zero delay, through one router model to the target
//! LP's input (N connections, not N²), on one thread.
//!
//!   nexosim-phold [N E remote lookahead T seed]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nexosim::model::{BuildContext, Context, Model, ProtoModel, schedulable};
use nexosim::ports::Output;
use nexosim::simulation::{Mailbox, SimInit};
use nexosim::time::MonotonicTime;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

static COUNT: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Serialize, Deserialize)]
struct Params {
    n: u32,
    e: u32,
    remote: f64,
    lookahead: f64,
}

fn unit(r: &mut ChaCha8Rng) -> f64 {
    (r.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn delay(r: &mut ChaCha8Rng, lookahead: f64) -> Duration {
    Duration::from_secs_f64(lookahead - (1.0 - unit(r)).ln())
}

#[derive(Serialize, Deserialize)]
pub struct Lp {
    id: u32,
    p: Params,
    pub out: Output<u32>,
}

pub struct LpEnv {
    rng: ChaCha8Rng,
}

#[Model(type Env=LpEnv)]
impl Lp {
    #[nexosim(init)]
    async fn init(&mut self, cx: &Context<Self>, env: &mut LpEnv) {
        for _ in 0..self.p.e {
            let d = delay(&mut env.rng, self.p.lookahead);
            cx.schedule_event(d, schedulable!(Self::handle), ()).unwrap();
        }
    }

    /// An event reaches this LP.
    #[nexosim(schedulable)]
    pub async fn handle(&mut self, _: (), cx: &Context<Self>, env: &mut LpEnv) {
        COUNT.fetch_add(1, Ordering::Relaxed);
        let d = delay(&mut env.rng, self.p.lookahead);
        let target = if unit(&mut env.rng) < self.p.remote { (env.rng.next_u64() % self.p.n as u64) as u32 } else { self.id };
        cx.schedule_event(d, schedulable!(Self::fire), target).unwrap();
    }

    /// At t + d: send to the target through the router.
    #[nexosim(schedulable)]
    async fn fire(&mut self, target: u32) {
        self.out.send(target).await;
    }
}

struct ProtoLp {
    id: u32,
    p: Params,
    seed: u64,
    out: Output<u32>,
}

impl ProtoModel for ProtoLp {
    type Model = Lp;
    fn build(self, _: &mut BuildContext<Self>) -> (Lp, LpEnv) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.id as u64);
        (Lp { id: self.id, p: self.p, out: self.out }, LpEnv { rng })
    }
}

#[derive(Serialize, Deserialize)]
pub struct Router {
    pub outs: Vec<Output<()>>,
}

#[Model]
impl Router {
    pub async fn route(&mut self, target: u32) {
        self.outs[target as usize].send(()).await;
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let p = Params { n: get(0, 1000.0) as u32, e: get(1, 10.0) as u32, remote: get(2, 0.9), lookahead: get(3, 0.1) };
    let (t_end, seed) = (get(4, 200.0), get(5, 1.0) as u64);

    let setup = Instant::now();
    let router_mbox = Mailbox::new();
    let mut router = Router { outs: Vec::new() };
    let mut init = SimInit::with_num_threads(1);
    for id in 0..p.n {
        let mbox = Mailbox::new();
        let mut out = Output::default();
        out.connect(Router::route, &router_mbox);
        let mut to_lp = Output::default();
        to_lp.connect(Lp::handle, &mbox);
        router.outs.push(to_lp);
        init = init.add_model(ProtoLp { id, p, seed, out }, mbox, &format!("lp{id}"));
    }
    init = init.add_model(router, router_mbox, "router");
    let t0 = MonotonicTime::EPOCH;
    let mut simu = init.init(t0).unwrap();
    let setup_s = setup.elapsed().as_secs_f64();
    let start = Instant::now();
    simu.step_until(t0 + Duration::from_secs_f64(t_end)).unwrap();
    let loop_s = start.elapsed().as_secs_f64();
    let events = COUNT.load(Ordering::Relaxed);
    let expected = p.n as f64 * p.e as f64 * t_end / (p.lookahead + 1.0);
    assert!((events as f64 - expected).abs() / expected < 0.01, "{events} events vs {expected:.0}");
    println!("nexosim events={events} setup_s={setup_s:.3} loop_s={loop_s:.3} events_per_s={:.0}", events as f64 / loop_s);
}
