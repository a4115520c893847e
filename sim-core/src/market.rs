//! The market settings of a scenario (`[market]`, issue #12) and the token's
//! price path: an exogenous path (constant, a trace, or geometric Brownian
//! motion from a seeded stream) or an endogenous rule in which the price
//! responds to net issuance and to demand with configured elasticities. A
//! modelling assumption to explore designs with, not a forecast.
//!
//! The models themselves (and the rules for shocks, demand and GPU
//! operators) are the `economics` crate's (`economics::market`,
//! `economics::operators`); `PricePath` holds the price and the seeded
//! stream GBM draws from, and `crate::sim::market` applies it all at each
//! market interval.

use economics::market::{self, PriceModel};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::rng;
use crate::time::{SimDuration, SimTime};

/// Parses a price trace: `time_s,price_usd` rows (a header line is
/// skipped), times ≥ 0, prices > 0; sorted by time. Errors name the line.
pub fn parse_price_trace(text: &str) -> Result<Vec<(SimTime, f64)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split(',').map(str::trim);
        let (t, p) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        if t.is_empty() || (i == 0 && t.parse::<f64>().is_err()) {
            continue;
        }
        let secs: f64 = t
            .parse()
            .map_err(|_| (i + 1, format!("{t:?} is not a time in seconds")))?;
        let price: f64 = p.parse().map_err(|_| {
            (
                i + 1,
                format!("{p:?} is not a price in USD (expected time_s,price_usd)"),
            )
        })?;
        if !secs.is_finite() || secs < 0.0 {
            return Err((i + 1, format!("time {secs} must be ≥ 0")));
        }
        if !price.is_finite() || price <= 0.0 {
            return Err((i + 1, format!("price {price} must be > 0")));
        }
        out.push((SimTime::ZERO + SimDuration::from_secs_f64(secs), price));
    }
    out.sort_by_key(|a| a.0);
    Ok(out)
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PriceKind {
    #[default]
    Constant,
    /// Geometric Brownian motion with `drift` and `volatility` per year.
    Gbm,
    /// Responds to net issuance and demand (see the module doc).
    Endogenous,
    /// Read from `file`: a CSV of `time_s,price_usd`, held until the next row.
    Trace,
}

/// Who carries the price risk of inference fees.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FeeDenomination {
    /// Fees are fixed in tokens: GPU operators carry the price risk.
    #[default]
    Token,
    /// Fees are set in USD (at the genesis price) and paid in tokens at the
    /// current price: users' USD cost is stable, the token amount moves.
    Usd,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// How often the price moves and a `market` row is written.
    #[serde(default = "defaults::interval")]
    pub interval: SimDuration,
    #[serde(default)]
    pub price: PriceKind,
    /// Token price at genesis, USD (a modelling input).
    #[serde(default = "defaults::initial_price_usd")]
    pub initial_price_usd: f64,
    /// GBM: drift and volatility per year (log-returns over Δt years have
    /// mean (drift − volatility²/2)·Δt and variance volatility²·Δt).
    #[serde(default)]
    pub drift: f64,
    #[serde(default)]
    pub volatility: f64,
    /// Endogenous: elasticities of the price to net issuance and to demand.
    #[serde(default)]
    pub issuance_elasticity: f64,
    #[serde(default)]
    pub demand_elasticity: f64,
    #[serde(default)]
    pub fee_denomination: FeeDenomination,
    /// `price = "trace"`: the CSV file, relative to the scenario's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The trace's rows, loaded by the caller (`Scenario::attach_files`).
    #[serde(skip)]
    pub trace: Vec<(SimTime, f64)>,
    #[serde(default)]
    pub operators: OperatorConfig,
    #[serde(default)]
    pub demand: DemandConfig,
    /// Shocks on a timetable (`[[market.shocks]]`), applied at the first
    /// market interval boundary at or after `at`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shocks: Vec<Shock>,
}

/// GPU operators as agents: each GPU node is one operator whose USD profit
/// (income: the tokens its account received in the interval — fees and any
/// emission — at the interval's price; cost: its hardware's list price per
/// hour) decides whether it stays.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Off: the fleet never changes (the market only prices).
    #[serde(default)]
    pub enabled: bool,
    /// Profit is judged over this trailing window (whole intervals, at least one).
    #[serde(default = "defaults::window")]
    pub window: SimDuration,
    /// An operator leaves after being unprofitable over the window for this long.
    #[serde(default = "defaults::patience")]
    pub patience: SimDuration,
    /// A new operator decides to enter a group when the group's operators
    /// earn more than (1 + margin) × their cost over the window …
    #[serde(default = "defaults::entry_margin")]
    pub entry_margin: f64,
    /// … and serves this long after deciding (hardware to buy and rack).
    #[serde(default = "defaults::provisioning")]
    pub provisioning: SimDuration,
    /// Potential operators per GPU group beyond its `count` (idle until they enter).
    #[serde(default)]
    pub max_entrants: u32,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            enabled: false,
            window: defaults::window(),
            patience: defaults::patience(),
            entry_margin: defaults::entry_margin(),
            provisioning: defaults::provisioning(),
            max_entrants: 0,
        }
    }
}

/// Demand that responds: each stream's arrival rate is multiplied by
/// (p / p₀)^(−price_elasticity) · (ℓ / ℓ₀)^(−latency_elasticity), with p the
/// USD paid per delivered request and ℓ the mean submit-to-delivery latency
/// over the last interval, p₀ and ℓ₀ those of the first interval that
/// delivered anything. Zero elasticities leave the arrivals untouched.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DemandConfig {
    #[serde(default)]
    pub price_elasticity: f64,
    #[serde(default)]
    pub latency_elasticity: f64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShockKind {
    /// Demand × factor (a drop below 1, a surge above) while in force.
    Demand,
    /// The price × factor, once (a crash below 1).
    Price,
    /// GPU operators' costs × factor while in force.
    GpuCost,
    /// A fraction `factor` of the active operators leaves at once.
    OperatorExit,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Shock {
    pub at: SimDuration,
    pub kind: ShockKind,
    pub factor: f64,
    /// End of a demand or GPU-cost shock (absent: to the end of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<SimDuration>,
}

pub mod defaults {
    use crate::time::SimDuration;
    pub fn interval() -> SimDuration {
        SimDuration::from_secs(60)
    }
    pub fn initial_price_usd() -> f64 {
        1.0
    }
    pub fn window() -> SimDuration {
        SimDuration::from_secs(3600)
    }
    pub fn patience() -> SimDuration {
        SimDuration::from_secs(6 * 3600)
    }
    pub fn entry_margin() -> f64 {
        0.2
    }
    pub fn provisioning() -> SimDuration {
        SimDuration::from_secs(24 * 3600)
    }
}

/// Seconds in a year of 365.25 days, for per-year rates (in the
/// `economics` crate; re-exported for this path).
pub use economics::market::SECONDS_PER_YEAR;

impl MarketConfig {
    /// The price model these settings describe.
    pub fn price_model(&self) -> PriceModel {
        match self.price {
            PriceKind::Constant => PriceModel::Constant,
            PriceKind::Gbm => PriceModel::Gbm {
                drift: self.drift,
                volatility: self.volatility,
            },
            PriceKind::Endogenous => PriceModel::Endogenous {
                issuance_elasticity: self.issuance_elasticity,
                demand_elasticity: self.demand_elasticity,
            },
            PriceKind::Trace => {
                PriceModel::Trace(self.trace.iter().map(|&(t, p)| (t.0, p)).collect())
            }
        }
    }
}

/// The price as it moves, one interval at a time.
#[derive(Clone, Debug)]
pub struct PricePath {
    model: PriceModel,
    pub price: f64,
    rng: ChaCha8Rng,
}

impl PricePath {
    pub fn new(cfg: &MarketConfig, rng: ChaCha8Rng) -> PricePath {
        PricePath {
            model: cfg.price_model(),
            price: cfg.initial_price_usd,
            rng,
        }
    }

    /// Moves the price over `dt` to `now`, given the interval's net
    /// issuance as a fraction of supply and the relative change of demand
    /// (`economics::market::next_price`; GBM draws one standard normal from
    /// the path's stream, the other models none).
    pub fn step(
        &mut self,
        now: SimTime,
        dt: SimDuration,
        net_issuance: f64,
        demand_change: f64,
    ) -> f64 {
        let stream = &mut self.rng;
        self.price = market::next_price(
            &self.model,
            self.price,
            now.0,
            dt.as_secs_f64(),
            net_issuance,
            demand_change,
            || rng::standard_normal(stream),
        );
        self.price
    }

    /// A one-off move of the price (a shock).
    pub fn shock(&mut self, factor: f64) -> f64 {
        self.price = market::shocked_price(self.price, factor);
        self.price
    }

    /// Draws nothing: the next uniform of the stream (for tests of independence).
    #[cfg(test)]
    fn peek(&mut self) -> f64 {
        rng::unit_f64(&mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Streams};

    fn cfg(kind: PriceKind) -> MarketConfig {
        MarketConfig {
            interval: defaults::interval(),
            price: kind,
            initial_price_usd: 2.5,
            drift: 0.0,
            volatility: 0.0,
            issuance_elasticity: 0.0,
            demand_elasticity: 0.0,
            fee_denomination: FeeDenomination::Token,
            file: None,
            trace: Vec::new(),
            operators: OperatorConfig::default(),
            demand: DemandConfig::default(),
            shocks: Vec::new(),
        }
    }

    /// GBM over 100,000 steps of one hour, drift 0.3 and volatility 0.8 a
    /// year: the sample mean and variance of the log-returns against
    /// (μ − σ²/2)Δt and σ²Δt. Standard errors: σ√Δt/√n for the mean and
    /// σ²Δt·√(2/n) for the variance; the bounds are 5 of them.
    #[test]
    fn gbm_log_returns_have_the_drift_and_volatility() {
        let mut c = cfg(PriceKind::Gbm);
        (c.drift, c.volatility) = (0.3, 0.8);
        let mut p = PricePath::new(&c, Streams::new(7).stream(Purpose::Market, 0));
        let (n, dt) = (100_000, SimDuration::from_secs(3600));
        let t = 3600.0 / SECONDS_PER_YEAR;
        let mut rets = Vec::with_capacity(n);
        let mut prev = p.price;
        for _ in 0..n {
            let now = p.step(SimTime::ZERO, dt, 0.0, 0.0);
            rets.push((now / prev).ln());
            prev = now;
        }
        let mean = rets.iter().sum::<f64>() / n as f64;
        let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let (mu, s2) = ((0.3 - 0.5 * 0.64) * t, 0.64 * t);
        assert!(
            (mean - mu).abs() < 5.0 * (s2 / n as f64).sqrt(),
            "mean {mean} vs {mu}"
        );
        assert!(
            (var - s2).abs() < 5.0 * s2 * (2.0 / n as f64).sqrt(),
            "var {var} vs {s2}"
        );
    }

    /// Zero elasticities: exactly the constant price, whatever happens, and
    /// no random draw consumed.
    #[test]
    fn endogenous_with_zero_elasticities_is_constant() {
        let mut e = PricePath::new(
            &cfg(PriceKind::Endogenous),
            Streams::new(1).stream(Purpose::Market, 0),
        );
        let mut k = PricePath::new(
            &cfg(PriceKind::Constant),
            Streams::new(1).stream(Purpose::Market, 0),
        );
        for i in 0..1000 {
            let (issuance, demand) = ((i as f64).sin() * 0.01, (i as f64).cos());
            assert_eq!(
                e.step(SimTime::ZERO, SimDuration::from_secs(60), issuance, demand),
                k.step(SimTime::ZERO, SimDuration::from_secs(60), issuance, demand)
            );
        }
        assert_eq!(e.price, 2.5);
        assert_eq!(e.peek(), k.peek());
    }

    #[test]
    fn price_traces_parse_and_hold_between_rows() {
        let t = parse_price_trace("time_s,price_usd\n300,2.0\n0,1.5\n900, 0.5\n").unwrap();
        assert_eq!(t.iter().map(|r| r.1).collect::<Vec<_>>(), [1.5, 2.0, 0.5]);
        assert_eq!(parse_price_trace("0,1\n10,-2").unwrap_err().0, 2);
        assert_eq!(parse_price_trace("0,abc").unwrap_err().0, 1);
        let mut c = cfg(PriceKind::Trace);
        c.trace = t;
        let mut p = PricePath::new(&c, Streams::new(1).stream(Purpose::Market, 0));
        let at = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
        let dt = SimDuration::from_secs(60);
        assert_eq!(
            [
                p.step(at(60), dt, 0.0, 0.0),
                p.step(at(300), dt, 0.0, 0.0),
                p.step(at(899), dt, 0.0, 0.0),
                p.step(at(5000), dt, 0.0, 0.0)
            ],
            [1.5, 2.0, 2.0, 0.5]
        );
    }

    /// The rule by hand: issuance 1 % with elasticity 10 and demand +20 %
    /// with elasticity 0.5 give exp(−0.1 + 0.1) = 1; demand alone exp(0.1).
    #[test]
    fn endogenous_rule_by_hand() {
        let mut c = cfg(PriceKind::Endogenous);
        (c.issuance_elasticity, c.demand_elasticity) = (10.0, 0.5);
        let mut p = PricePath::new(&c, Streams::new(1).stream(Purpose::Market, 0));
        assert!((p.step(SimTime::ZERO, SimDuration::from_secs(60), 0.01, 0.2) - 2.5).abs() < 1e-12);
        assert!(
            (p.step(SimTime::ZERO, SimDuration::from_secs(60), 0.0, 0.2) - 2.5 * 0.1f64.exp())
                .abs()
                < 1e-12
        );
    }
}
