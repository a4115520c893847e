//! Workload streams: when requests arrive (Poisson, diurnal, bursty MMPP or
//! a trace), and what each one asks for (model, tokens, verification mode,
//! value at risk, fee).

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::rng::{self, CounterRng};
use crate::time::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    /// Constant rate `rate_per_s`.
    Poisson,
    /// Rate `rate_per_s · (1 + amplitude · cos(2π (t − peak_at) / period))`.
    Diurnal,
    /// Markov-modulated Poisson: state i has rate `rates[i]` and lasts an
    /// exponential time with mean `dwell[i]`, then the next state follows.
    Mmpp,
    /// Timestamps (seconds, first column) from the CSV file `file`.
    Trace,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArrivalConfig {
    pub kind: ArrivalKind,
    #[serde(default)]
    pub rate_per_s: f64,
    #[serde(default = "defaults::amplitude")]
    pub amplitude: f64,
    #[serde(default = "defaults::period")]
    pub period: SimDuration,
    #[serde(default = "defaults::peak_at")]
    pub peak_at: SimDuration,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dwell: Vec<SimDuration>,
    /// Trace file, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Fixed,
    Uniform,
    Exponential,
    Lognormal,
}

/// A token-count distribution, clamped to [min, max].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenDist {
    pub kind: TokenKind,
    /// Mean (fixed: the value).
    #[serde(default)]
    pub mean: f64,
    /// σ of the log for `lognormal`.
    #[serde(default = "defaults::sigma")]
    pub sigma: f64,
    #[serde(default = "defaults::min_tokens")]
    pub min: u32,
    #[serde(default = "defaults::max_tokens")]
    pub max: u32,
}

impl TokenDist {
    /// The mean it asks for (the midpoint for `uniform`), within [min, max]
    /// (clamping's effect on the mean is not counted): for estimates only.
    pub fn mean_tokens(&self) -> f64 {
        let (lo, hi) = (self.min.max(1) as f64, self.max.max(1) as f64);
        match self.kind {
            TokenKind::Uniform => (lo + hi) / 2.0,
            _ => self.mean.clamp(lo, hi.max(lo)),
        }
    }

    pub fn sample(&self, r: &mut CounterRng) -> u32 {
        let x = match self.kind {
            TokenKind::Fixed => self.mean,
            TokenKind::Uniform => {
                self.min as f64 + rng::unit_f64(r) * (self.max - self.min + 1) as f64
            }
            TokenKind::Exponential => rng::exponential(r, self.mean),
            TokenKind::Lognormal => {
                let mu = self.mean.ln() - 0.5 * self.sigma * self.sigma;
                (mu + self.sigma * rng::standard_normal(r)).exp()
            }
        };
        (x.round().max(0.0) as u32).clamp(self.min.max(1), self.max.max(1))
    }
}

/// Weights of the verification modes (normalised at use).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModeMix {
    #[serde(default)]
    pub tee: f64,
    #[serde(default)]
    pub zk: f64,
    #[serde(default)]
    pub vanilla: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Tee,
    Zk,
    Vanilla,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Tee, Mode::Zk, Mode::Vanilla];
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tee => "tee",
            Mode::Zk => "zk",
            Mode::Vanilla => "vanilla",
        }
    }
}

impl ModeMix {
    pub fn total(&self) -> f64 {
        self.tee + self.zk + self.vanilla
    }
    pub fn sample(&self, r: &mut CounterRng) -> Mode {
        let u = rng::unit_f64(r) * self.total();
        if u < self.tee {
            Mode::Tee
        } else if u < self.tee + self.zk {
            Mode::Zk
        } else {
            Mode::Vanilla
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    pub name: String,
    pub model: String,
    pub arrival: ArrivalConfig,
    pub prompt_tokens: TokenDist,
    pub output_tokens: TokenDist,
    /// Images per request, for a stream of a vision-language model (at
    /// least one each: a stream with some text-only requests is two
    /// streams). Each adds the model's `image_tokens` to the prompt and its
    /// encoder's work to the prefill step. Absent: text only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<TokenDist>,
    pub modes: ModeMix,
    /// What the user loses if a wrong result is acted on, USD per request.
    #[serde(default)]
    pub value_at_risk_usd: f64,
    /// Fee the user offers, USD per request.
    #[serde(default)]
    pub fee_usd: f64,
    /// The user abandons a request whose result has not reached them this
    /// long after submitting it: a request still waiting in a GPU node's
    /// queue is taken out of it (its row's `outcome` is `"abandoned"`); one
    /// already in a batch runs to the end and is delivered and settled as
    /// usual (the node has spent the work and claims its fee; the user's
    /// payment was committed with the request), counted as
    /// `abandoned_in_service`. Absent (the default): users wait for ever,
    /// as before the key existed (see `scenarios/SOURCES.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
}

impl ArrivalConfig {
    /// The long-run mean arrival rate (requests/s): `rate_per_s` for
    /// Poisson and diurnal (the cosine averages out), the dwell-weighted
    /// mean of the rates for MMPP, and for a trace its arrivals over the
    /// time to its last one (`trace`: its times).
    pub fn mean_rate_per_s(&self, trace: &[SimTime]) -> f64 {
        match self.kind {
            ArrivalKind::Poisson | ArrivalKind::Diurnal => self.rate_per_s,
            ArrivalKind::Mmpp => {
                let dwell: f64 = self.dwell.iter().map(|d| d.as_secs_f64()).sum();
                let weighted: f64 = self
                    .rates
                    .iter()
                    .zip(&self.dwell)
                    .map(|(r, d)| r * d.as_secs_f64())
                    .sum();
                if dwell > 0.0 { weighted / dwell } else { 0.0 }
            }
            ArrivalKind::Trace => match trace.last() {
                Some(last) if last.as_secs_f64() > 0.0 => trace.len() as f64 / last.as_secs_f64(),
                _ => 0.0,
            },
        }
    }
}

pub mod defaults {
    use crate::time::SimDuration;
    pub fn amplitude() -> f64 {
        0.5
    }
    pub fn period() -> SimDuration {
        SimDuration::from_secs(86_400)
    }
    pub fn peak_at() -> SimDuration {
        SimDuration::from_secs(14 * 3600)
    }
    pub fn sigma() -> f64 {
        1.0
    }
    pub fn min_tokens() -> u32 {
        1
    }
    pub fn max_tokens() -> u32 {
        131_072
    }
}

/// The arrival process of one stream: yields arrival times in order.
#[derive(Clone, Debug)]
pub struct Arrivals {
    cfg: ArrivalConfig,
    rng: ChaCha8Rng,
    state: usize,
    switch_at: SimTime,
    trace: Vec<SimTime>,
    pos: usize,
}

impl Arrivals {
    pub fn new(cfg: &ArrivalConfig, mut rng: ChaCha8Rng, trace: Vec<SimTime>) -> Arrivals {
        let switch_at = match cfg.kind {
            ArrivalKind::Mmpp => {
                SimTime::ZERO
                    + SimDuration::from_secs_f64(rng::exponential(
                        &mut rng,
                        cfg.dwell[0].as_secs_f64(),
                    ))
            }
            _ => SimTime::ZERO,
        };
        Arrivals {
            cfg: cfg.clone(),
            rng,
            state: 0,
            switch_at,
            trace,
            pos: 0,
        }
    }

    fn rate_at(&self, t: SimTime) -> f64 {
        let c = &self.cfg;
        let phase = (t.as_secs_f64() - c.peak_at.as_secs_f64()) / c.period.as_secs_f64();
        c.rate_per_s * (1.0 + c.amplitude * (std::f64::consts::TAU * phase).cos())
    }

    /// The first arrival after `now`, or `None` when the stream is exhausted.
    pub fn next(&mut self, now: SimTime) -> Option<SimTime> {
        let after =
            |t: SimTime, secs: f64| t + SimDuration::from_secs_f64(secs).max(SimDuration(1));
        match self.cfg.kind {
            ArrivalKind::Poisson => {
                if self.cfg.rate_per_s <= 0.0 {
                    return None;
                }
                let gap = rng::exponential(&mut self.rng, 1.0 / self.cfg.rate_per_s);
                Some(after(now, gap))
            }
            ArrivalKind::Diurnal => {
                // Thinning (Lewis & Shedler): candidates at the peak rate, kept
                // with probability rate(t) / peak.
                let peak = self.cfg.rate_per_s * (1.0 + self.cfg.amplitude);
                if peak <= 0.0 {
                    return None;
                }
                let mut t = now;
                loop {
                    t = after(t, rng::exponential(&mut self.rng, 1.0 / peak));
                    if rng::unit_f64(&mut self.rng) * peak < self.rate_at(t) {
                        return Some(t);
                    }
                }
            }
            ArrivalKind::Mmpp => {
                // Memorylessness makes redrawing at each switch exact.
                let mut t = now;
                loop {
                    let rate = self.cfg.rates[self.state];
                    if rate > 0.0 {
                        let cand = after(t, rng::exponential(&mut self.rng, 1.0 / rate));
                        if cand < self.switch_at {
                            return Some(cand);
                        }
                    }
                    t = self.switch_at;
                    self.state = (self.state + 1) % self.cfg.rates.len();
                    let dwell =
                        rng::exponential(&mut self.rng, self.cfg.dwell[self.state].as_secs_f64());
                    self.switch_at = after(t, dwell);
                }
            }
            ArrivalKind::Trace => {
                while self.pos < self.trace.len() && self.trace[self.pos] < now {
                    self.pos += 1;
                }
                let t = self.trace.get(self.pos).copied();
                self.pos += 1;
                t
            }
        }
    }
}

/// Parses a trace: one arrival time in seconds per line (first column of a
/// CSV; a header line and blank lines are skipped). Times are sorted.
pub fn parse_trace(text: &str) -> Result<Vec<SimTime>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let field = line.split(',').next().unwrap_or("").trim();
        if field.is_empty() || (i == 0 && field.parse::<f64>().is_err()) {
            continue;
        }
        let secs: f64 = field
            .parse()
            .map_err(|_| (i + 1, format!("{field:?} is not a time in seconds")))?;
        if !secs.is_finite() || secs < 0.0 {
            return Err((i + 1, format!("time {secs} must be ≥ 0")));
        }
        out.push(SimTime::ZERO + SimDuration::from_secs_f64(secs));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Streams};

    fn arrivals(cfg: ArrivalConfig) -> Arrivals {
        Arrivals::new(
            &cfg,
            Streams::new(3).stream(Purpose::Workload, 0),
            Vec::new(),
        )
    }

    fn cfg(kind: ArrivalKind, rate: f64) -> ArrivalConfig {
        ArrivalConfig {
            kind,
            rate_per_s: rate,
            amplitude: 0.5,
            period: SimDuration::from_secs(100),
            peak_at: SimDuration::from_secs(25),
            rates: vec![],
            dwell: vec![],
            file: None,
        }
    }

    fn count(a: &mut Arrivals, until: f64) -> Vec<f64> {
        let mut t = SimTime::ZERO;
        let mut out = Vec::new();
        while let Some(n) = a.next(t) {
            if n.as_secs_f64() > until {
                break;
            }
            out.push(n.as_secs_f64());
            t = n;
        }
        out
    }

    #[test]
    fn poisson_count_matches_rate() {
        // 10/s over 10,000 s: 100,000 expected, sd 316.
        let n = count(&mut arrivals(cfg(ArrivalKind::Poisson, 10.0)), 10_000.0).len() as f64;
        assert!((n - 100_000.0).abs() < 1_500.0, "{n}");
    }

    #[test]
    fn diurnal_follows_its_rate_curve() {
        // Over whole periods the mean rate is rate_per_s; the quarter around
        // the peak (t in [12.5, 37.5) mod 100) gets rate·(1 + A·(2√2/π)) on average.
        let times = count(&mut arrivals(cfg(ArrivalKind::Diurnal, 10.0)), 20_000.0);
        let n = times.len() as f64;
        assert!((n - 200_000.0).abs() < 2_500.0, "{n}");
        let near_peak = times
            .iter()
            .filter(|&&t| (12.5..37.5).contains(&(t % 100.0)))
            .count() as f64;
        let expected = 10.0 * 25.0 * 200.0 * (1.0 + 0.5 * 2.0 * 2f64.sqrt() / std::f64::consts::PI);
        assert!(
            (near_peak - expected).abs() < 0.03 * expected,
            "{near_peak} vs {expected}"
        );
    }

    #[test]
    fn mmpp_mean_rate_is_the_dwell_weighted_mean() {
        let mut c = cfg(ArrivalKind::Mmpp, 0.0);
        c.rates = vec![2.0, 20.0];
        c.dwell = vec![SimDuration::from_secs(30), SimDuration::from_secs(10)];
        // Long-run rate = (2·30 + 20·10) / 40 = 6.5/s.
        let n = count(&mut arrivals(c.clone()), 40_000.0).len() as f64;
        assert!((n / 40_000.0 - 6.5).abs() < 0.25, "{}", n / 40_000.0);
        assert_eq!(c.mean_rate_per_s(&[]), 6.5);
    }

    #[test]
    fn trace_parses_and_replays() {
        let t = parse_trace("time_s,comment\n0.5,a\n\n0.25,b\n2,c\n").unwrap();
        assert_eq!(
            t,
            [
                SimTime(250_000_000),
                SimTime(500_000_000),
                SimTime(2_000_000_000)
            ]
        );
        assert_eq!(parse_trace("1\nabc\n").unwrap_err().0, 2);
        let mut a = Arrivals::new(
            &cfg(ArrivalKind::Trace, 0.0),
            Streams::new(1).stream(Purpose::Workload, 0),
            t,
        );
        assert_eq!(count(&mut a, 100.0), [0.25, 0.5, 2.0]);
    }
}
