//! The token's market price (issue #12) and the demand that answers it: the
//! price models, one market interval at a time; shocks; and demand's
//! response to price and latency. A modelling assumption to explore designs
//! with, not a forecast.
//!
//! The endogenous rule, per market interval of length Δt: with i the net
//! issuance over the interval as a fraction of supply (minted − burned,
//! `net_issuance`) and d the relative change of demand (requests in this
//! interval over the previous one, minus 1, `demand_change`),
//!     P ← P · exp(−ε_issuance · i + ε_demand · d),
//! so more tokens chasing the same demand lower the price and more demand
//! raises it; zero elasticities keep it exactly constant.
//!
//! Geometric Brownian motion with drift μ and volatility σ a year, over Δt
//! years, with z a standard normal:
//!     P ← P · exp((μ − σ²/2) · Δt + σ · √Δt · z).

/// Seconds in a year of 365.25 days, for per-year rates.
pub const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// How the price moves.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PriceModel {
    #[default]
    Constant,
    /// Geometric Brownian motion, `drift` and `volatility` per year.
    Gbm { drift: f64, volatility: f64 },
    /// Responds to net issuance and demand (the module doc).
    Endogenous {
        issuance_elasticity: f64,
        demand_elasticity: f64,
    },
    /// `(time ns, price)` rows sorted by time: the last row at or before
    /// now, held until the next (the price is unchanged before the first).
    Trace(Vec<(u64, f64)>),
}

/// The price at `now_ns`, at the end of an interval of `dt_s` seconds that
/// started at `price`, given the interval's net issuance (a fraction of
/// supply) and relative change of demand. `normal` is called for one
/// standard normal draw by `Gbm` only, and by no other model.
pub fn next_price(
    model: &PriceModel,
    price: f64,
    now_ns: u64,
    dt_s: f64,
    net_issuance: f64,
    demand_change: f64,
    normal: impl FnOnce() -> f64,
) -> f64 {
    match model {
        PriceModel::Constant => price,
        PriceModel::Trace(rows) => match rows.iter().take_while(|r| r.0 <= now_ns).last() {
            Some(&(_, p)) => p,
            None => price,
        },
        PriceModel::Gbm { drift, volatility } => {
            let t = dt_s / SECONDS_PER_YEAR;
            let z = normal();
            price * ((drift - 0.5 * volatility * volatility) * t + volatility * t.sqrt() * z).exp()
        }
        PriceModel::Endogenous {
            issuance_elasticity,
            demand_elasticity,
        } => {
            let x = -issuance_elasticity * net_issuance + demand_elasticity * demand_change;
            if x != 0.0 { price * x.exp() } else { price }
        }
    }
}

/// A one-off move of the price by `factor` (a price shock).
pub fn shocked_price(price: f64, factor: f64) -> f64 {
    price * factor
}

/// Net issuance over an interval as a fraction of `supply` (at least 1):
/// (minted − burned in the interval) / supply, from the cumulative totals at
/// its start and end.
pub fn net_issuance(
    minted: u128,
    minted_before: u128,
    burned: u128,
    burned_before: u128,
    supply: u128,
) -> f64 {
    (minted as f64 - minted_before as f64 - (burned as f64 - burned_before as f64))
        / supply.max(1) as f64
}

/// Relative change of demand: `requests` this interval over `previous`
/// (the last interval's), minus 1; 0 without a previous interval or when it
/// had none.
pub fn demand_change(requests: u64, previous: Option<u64>) -> f64 {
    match previous {
        Some(p) if p > 0 => requests as f64 / p as f64 - 1.0,
        _ => 0.0,
    }
}

/// A standing shock (on demand or on GPU costs): × `factor` from `at_ns`
/// until `until_ns` (exclusive; `None`: to the end).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShockWindow {
    pub at_ns: u64,
    pub until_ns: Option<u64>,
    pub factor: f64,
}

/// The product of the factors of the shocks in force at `now_ns`, in the
/// order given (1 when none is).
pub fn factor_in_force(shocks: impl IntoIterator<Item = ShockWindow>, now_ns: u64) -> f64 {
    shocks
        .into_iter()
        .filter(|s| s.at_ns <= now_ns && s.until_ns.is_none_or(|u| now_ns < u))
        .map(|s| s.factor)
        .product()
}

/// How many of `active` operators an operator-exit shock of `fraction`
/// sends away (rounded to nearest).
pub fn operators_leaving(active: usize, fraction: f64) -> usize {
    (active as f64 * fraction).round() as usize
}

/// Demand's response (issue #12): `factor` (the demand shocks in force)
/// times (p / p₀)^(−price_elasticity), then times
/// (ℓ / ℓ₀)^(−latency_elasticity), with p the USD paid per delivered request
/// and ℓ the mean latency over the interval, p₀ and ℓ₀ those of the
/// reference interval. A term is left out when its elasticity is 0 or
/// either of its values is not positive.
pub fn demand_factor(
    factor: f64,
    (p, l): (f64, f64),
    (p0, l0): (f64, f64),
    price_elasticity: f64,
    latency_elasticity: f64,
) -> f64 {
    let mut factor = factor;
    if price_elasticity != 0.0 && p > 0.0 && p0 > 0.0 {
        factor *= (p / p0).powf(-price_elasticity);
    }
    if latency_elasticity != 0.0 && l > 0.0 && l0 > 0.0 {
        factor *= (l / l0).powf(-latency_elasticity);
    }
    factor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn constant_holds_and_draws_nothing() {
        let p = next_price(&PriceModel::Constant, 2.5, 0, 60.0, 0.3, 0.7, || {
            panic!("no draw")
        });
        assert_eq!(p, 2.5);
    }

    /// By hand: issuance 1 % with elasticity 10 and demand +20 % with
    /// elasticity 0.5 give exp(−0.1 + 0.1) = exp(0) (exactly 2.5 kept);
    /// demand alone exp(0.1); issuance alone exp(−0.1).
    #[test]
    fn endogenous_by_hand() {
        let m = PriceModel::Endogenous {
            issuance_elasticity: 10.0,
            demand_elasticity: 0.5,
        };
        let step = |i, d| next_price(&m, 2.5, 0, 60.0, i, d, || panic!("no draw"));
        assert!(close(step(0.01, 0.2), 2.5));
        assert!(close(step(0.0, 0.2), 2.5 * 0.1f64.exp()));
        assert!(close(step(0.01, 0.0), 2.5 * (-0.1f64).exp()));
        assert_eq!(step(0.0, 0.0), 2.5);
    }

    /// By hand, a year's step (Δt = 1): drift 0.1, volatility 0.2, z = 1.5:
    /// exp(0.1 − 0.02 + 0.3) = exp(0.38); volatility 0 and drift 0: exactly
    /// exp(0) = 1 whatever z. The draw is taken once.
    #[test]
    fn gbm_by_hand() {
        let m = PriceModel::Gbm {
            drift: 0.1,
            volatility: 0.2,
        };
        let mut draws = 0;
        let p = next_price(&m, 2.0, 0, SECONDS_PER_YEAR, 0.0, 0.0, || {
            draws += 1;
            1.5
        });
        assert_eq!(draws, 1);
        assert!(close(p, 2.0 * 0.38f64.exp()), "{p}");
        let flat = PriceModel::Gbm {
            drift: 0.0,
            volatility: 0.0,
        };
        assert_eq!(next_price(&flat, 2.0, 0, 3600.0, 0.0, 0.0, || 3.0), 2.0);
        // A quarter of a year, volatility 0.4, drift 0.08, z = −1:
        // (0.08 − 0.08) · 0.25 + 0.4 · 0.5 · (−1) = −0.2.
        let q = PriceModel::Gbm {
            drift: 0.08,
            volatility: 0.4,
        };
        let p = next_price(&q, 1.0, 0, SECONDS_PER_YEAR / 4.0, 0.0, 0.0, || -1.0);
        assert!(close(p, (-0.2f64).exp()), "{p}");
    }

    #[test]
    fn trace_holds_the_last_row_at_or_before_now() {
        let m = PriceModel::Trace(vec![(0, 1.5), (300, 2.0), (900, 0.5)]);
        let at = |now, before| next_price(&m, before, now, 60.0, 0.0, 0.0, || panic!());
        assert_eq!(
            [at(60, 9.0), at(300, 9.0), at(899, 9.0), at(5000, 9.0)],
            [1.5, 2.0, 2.0, 0.5]
        );
        let late = PriceModel::Trace(vec![(100, 3.0)]);
        assert_eq!(next_price(&late, 7.0, 99, 60.0, 0.0, 0.0, || panic!()), 7.0);
    }

    #[test]
    fn shocks_by_hand() {
        assert_eq!(shocked_price(2.5, 0.2), 0.5);
        let w = |at_ns, until_ns, factor| ShockWindow {
            at_ns,
            until_ns,
            factor,
        };
        let shocks = [w(10, Some(20), 0.5), w(15, None, 3.0)];
        assert_eq!(factor_in_force(shocks, 9), 1.0);
        assert_eq!(factor_in_force(shocks, 10), 0.5);
        assert_eq!(factor_in_force(shocks, 15), 1.5);
        assert_eq!(factor_in_force(shocks, 20), 3.0);
        // Half of 4 operators is 2; 0.3 of 5 is 1.5 → 2; 0.1 of 4 is 0.4 → 0.
        assert_eq!(operators_leaving(4, 0.5), 2);
        assert_eq!(operators_leaving(5, 0.3), 2);
        assert_eq!(operators_leaving(4, 0.1), 0);
        assert_eq!(operators_leaving(4, 1.0), 4);
    }

    /// By hand: minted 1,500 and burned 500 over an interval of a 100,000
    /// supply: +1 %; demand 120 after 100: +20 %, after none: 0.
    #[test]
    fn issuance_and_demand_change_by_hand() {
        assert_eq!(net_issuance(11_500, 10_000, 2_500, 2_000, 100_000), 0.01);
        assert_eq!(net_issuance(0, 0, 300, 0, 0), -300.0);
        assert!(close(demand_change(120, Some(100)), 0.2));
        assert_eq!(demand_change(50, Some(100)), -0.5);
        assert_eq!(demand_change(120, Some(0)), 0.0);
        assert_eq!(demand_change(120, None), 0.0);
    }

    /// By hand: price twice the reference with elasticity 1 halves demand;
    /// latency four times with elasticity 0.5 halves it again; the shock
    /// factor 0.8 multiplies: 0.8 · 0.5 · 0.5 = 0.2. Zero elasticities or a
    /// zero reference leave the factor as it is.
    #[test]
    fn demand_factor_by_hand() {
        assert_eq!(demand_factor(0.8, (2.0, 4.0), (1.0, 1.0), 1.0, 0.5), 0.2);
        assert_eq!(demand_factor(0.8, (2.0, 4.0), (1.0, 1.0), 0.0, 0.0), 0.8);
        assert_eq!(demand_factor(1.0, (2.0, 4.0), (0.0, 0.0), 1.0, 0.5), 1.0);
        assert_eq!(demand_factor(1.0, (0.5, 1.0), (1.0, 1.0), 2.0, 0.5), 4.0);
    }
}
