//! The market interval (issue #12, first part): at the end of each, the
//! token price moves (`crate::market`), USD-denominated fees are re-priced,
//! and a `market` row records the price, the demand, the net issuance and
//! the GPU operators' income and cost in USD.

use crate::market::{FeeDenomination, PricePath};
use crate::records::{MarketRecord, RecordSink};
use crate::rng::{Purpose, Streams};
use crate::scenario::Scenario;
use crate::summary::MarketSummary;
use crate::time::SimDuration;

pub(super) struct Market {
    path: PricePath,
    interval: SimDuration,
    usd_fees: bool,
    initial: f64,
    /// Cumulative (minted, burned, fees to GPU nodes, requests) at the last tick.
    last: (u128, u128, u128, u64),
    /// Requests in the previous interval (demand's reference).
    prev_requests: Option<u64>,
    operators: u32,
    cost_usd_per_s: f64,
    min: f64,
    max: f64,
}

impl Market {
    pub fn new(s: &Scenario, streams: &Streams) -> Option<Market> {
        let m = s.market.as_ref()?;
        let operators = s.gpu_nodes.iter().map(|g| g.count as u32).sum();
        let cost_usd_per_s = s.gpu_nodes.iter().map(|g| g.count as f64 * s.hardware[&g.hardware].usd_per_hour).sum::<f64>() / 3600.0;
        Some(Market {
            path: PricePath::new(m, streams.stream(Purpose::Market, 0)),
            interval: m.interval,
            usd_fees: m.fee_denomination == FeeDenomination::Usd,
            initial: m.initial_price_usd,
            last: (0, 0, 0, 0),
            prev_requests: None,
            operators,
            cost_usd_per_s,
            min: m.initial_price_usd,
            max: m.initial_price_usd,
        })
    }

    pub fn interval(&self) -> SimDuration {
        self.interval
    }

    pub fn summary(&self) -> MarketSummary {
        MarketSummary { price_final: self.path.price, price_min: self.min, price_max: self.max }
    }
}

impl super::Simulation {
    pub(super) fn on_market_tick(&mut self, sink: &mut dyn RecordSink) {
        let (minted, burned, supply, fees) = self.econ.totals();
        let requests = self.inf.submitted();
        let Some(m) = self.market.as_mut() else { return };
        let (m0, b0, f0, r0) = m.last;
        let in_interval = requests - r0;
        let net_issuance = (minted as f64 - m0 as f64 - (burned as f64 - b0 as f64)) / supply.max(1) as f64;
        let demand_change = match m.prev_requests {
            Some(p) if p > 0 => in_interval as f64 / p as f64 - 1.0,
            _ => 0.0,
        };
        let price = m.path.step(m.interval, net_issuance, demand_change);
        (m.min, m.max) = (m.min.min(price), m.max.max(price));
        let fee_tokens = (fees - f0) as f64 / economics::BASE_UNITS_PER_TOKEN as f64;
        sink.market(&MarketRecord {
            time_s: self.now.as_secs_f64(),
            price_usd: price,
            requests: in_interval,
            minted: (minted - m0) as u64,
            burned: (burned - b0) as u64,
            net_issuance_fraction: net_issuance,
            active_operators: m.operators,
            operator_income_usd: fee_tokens * price,
            operator_cost_usd: m.cost_usd_per_s * m.interval.as_secs_f64(),
        });
        m.last = (minted, burned, fees, requests);
        m.prev_requests = Some(in_interval);
        if m.usd_fees {
            self.econ.fee_scale = m.initial / price;
        }
        let next = self.now + m.interval;
        self.queue.push(next, crate::event::Event::MarketTick);
    }
}
