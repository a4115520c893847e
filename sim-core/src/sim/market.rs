//! The market interval (issue #12): at the end of each, shocks due take
//! effect, the token price moves (`crate::market`), USD-denominated fees
//! are re-priced, GPU operators judge their USD profit and leave or enter,
//! demand responds to price and latency, and a `market` row records it all.
//! Everything happens at interval boundaries, so a shock's time and an
//! operator's patience are quantised to the interval. The rules (price
//! models, shocks, demand's response, operators' decisions) are the
//! `economics` crate's (`market`, `operators`); this is the glue that reads
//! the run's state, calls them and applies what they decide.

use std::collections::VecDeque;

use economics::market::{self as rules, ShockWindow};
use economics::operators::{self, OperatorRule};

use crate::market::{FeeDenomination, MarketConfig, PricePath, ShockKind};
use crate::records::{MarketRecord, RecordSink};
use crate::rng::{Purpose, Streams};
use crate::scenario::Scenario;
use crate::summary::MarketSummary;
use crate::time::{SimDuration, SimTime};

pub(super) struct Market {
    cfg: MarketConfig,
    path: PricePath,
    /// Cumulative (minted, burned, requests, delivered, latency sum, user fees) at the last tick.
    last: (u128, u128, u64, u64, f64, u128),
    /// Each GPU node's account balance at the last tick (its income's reference).
    balances: Vec<u128>,
    /// Requests lost to capacity as of the last tick.
    lost: u64,
    /// Requests in the previous interval (the endogenous price's demand reference).
    prev_requests: Option<u64>,
    /// USD per delivered request and latency of the first interval that delivered.
    reference: Option<(f64, f64)>,
    /// Hourly list price of each GPU node's hardware.
    usd_per_hour: Vec<f64>,
    /// Profit (USD) of each node over the last intervals of the window.
    profits: Vec<VecDeque<(f64, f64)>>,
    /// When each active node's trailing profit turned negative (ns).
    unprofitable_since: Vec<Option<u64>>,
    /// Per GPU group: an entrant being provisioned, serving from the time.
    pending: Vec<Option<(usize, SimTime)>>,
    shocks_applied: Vec<bool>,
    // Summary.
    min: f64,
    max: f64,
    min_active: u32,
    exits: u64,
    entries: u64,
    short_s: f64,
}

impl Market {
    pub fn new(
        s: &Scenario,
        streams: &Streams,
        usd_per_hour: Vec<f64>,
        groups: usize,
    ) -> Option<Market> {
        let m = s.market.as_ref()?;
        let n = usd_per_hour.len();
        Some(Market {
            cfg: m.clone(),
            path: PricePath::new(m, streams.stream(Purpose::Market, 0)),
            last: (0, 0, 0, 0, 0.0, 0),
            balances: vec![0; n],
            lost: 0,
            prev_requests: None,
            reference: None,
            usd_per_hour,
            profits: vec![VecDeque::new(); n],
            unprofitable_since: vec![None; n],
            pending: vec![None; groups],
            shocks_applied: vec![false; m.shocks.len()],
            min: m.initial_price_usd,
            max: m.initial_price_usd,
            min_active: u32::MAX,
            exits: 0,
            entries: 0,
            short_s: 0.0,
        })
    }

    pub fn interval(&self) -> SimDuration {
        self.cfg.interval
    }

    pub fn summary(&self, lost: u64, active_now: u32) -> MarketSummary {
        MarketSummary {
            price_final: self.path.price,
            price_min: self.min,
            price_max: self.max,
            min_active_operators: self.min_active.min(active_now),
            time_capacity_short_s: self.short_s,
            operator_exits: self.exits,
            operator_entries: self.entries,
            requests_lost_to_capacity: lost,
        }
    }

    /// Product of the factors of `kind` shocks in force at `now`.
    fn in_force(&self, kind: ShockKind, now: SimTime) -> f64 {
        let windows = self
            .cfg
            .shocks
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| ShockWindow {
                at_ns: s.at.0,
                until_ns: s.until.map(|u| u.0),
                factor: s.factor,
            });
        rules::factor_in_force(windows, now.0)
    }
}

impl super::Simulation {
    pub(super) fn on_market_tick(&mut self, sink: &mut dyn RecordSink) {
        let now = self.now;
        let (minted, burned, supply, _) = self.econ.totals();
        let requests = self.inf.submitted();
        let (delivered, latency_sum) = self.inf.delivered();
        let balances: Vec<u128> = (0..self.inf.active.len())
            .map(|g| self.econ.gpu_balance(g))
            .collect();
        let queued = self.inf.queued();
        let user_fees = self.econ.user_fees_paid;
        let lost = self.inf.lost_to_capacity;
        let Some(m) = self.market.as_mut() else {
            return;
        };
        let dt = m.cfg.interval;
        // Shocks due: one-off moves now, standing ones through `in_force`.
        for (i, sh) in m.cfg.shocks.clone().iter().enumerate() {
            if m.shocks_applied[i] || SimTime::ZERO + sh.at > now {
                continue;
            }
            m.shocks_applied[i] = true;
            match sh.kind {
                ShockKind::Price => {
                    m.path.shock(sh.factor);
                }
                ShockKind::OperatorExit => {
                    let active: Vec<usize> = (0..self.inf.active.len())
                        .filter(|&g| self.inf.active[g])
                        .collect();
                    let leave = rules::operators_leaving(active.len(), sh.factor);
                    for &g in active.iter().take(leave) {
                        self.inf.set_active(g, false);
                        m.exits += 1;
                    }
                }
                ShockKind::Demand | ShockKind::GpuCost => {}
            }
        }
        // The price.
        let (m0, b0, r0, d0, l0, u0) = m.last;
        let in_interval = requests - r0;
        let net_issuance = rules::net_issuance(minted, m0, burned, b0, supply);
        let demand_change = rules::demand_change(in_interval, m.prev_requests);
        let price = m.path.step(now, dt, net_issuance, demand_change);
        (m.min, m.max) = (m.min.min(price), m.max.max(price));
        // Operators: USD income (tokens received × price) against cost.
        let hours = dt.as_secs_f64() / 3600.0;
        let cost_factor = m.in_force(ShockKind::GpuCost, now);
        let window = operators::window_intervals(m.cfg.operators.window.0, dt.0);
        let (mut income_usd, mut cost_usd) = (0.0, 0.0);
        #[allow(
            clippy::needless_range_loop,
            reason = "the index walks several tables in step"
        )]
        for g in 0..balances.len() {
            let received = balances[g].saturating_sub(m.balances[g]) as f64
                / economics::BASE_UNITS_PER_TOKEN as f64;
            if !self.inf.active[g] {
                m.profits[g].clear();
                m.unprofitable_since[g] = None;
                continue;
            }
            let (inc, cost) =
                operators::interval_profit(received, price, m.usd_per_hour[g], cost_factor, hours);
            income_usd += inc;
            cost_usd += cost;
            m.profits[g].push_back((inc, cost));
            while m.profits[g].len() > window {
                m.profits[g].pop_front();
            }
        }
        m.balances = balances;
        let ops = m.cfg.operators.clone();
        if ops.enabled {
            let rule = OperatorRule {
                patience_ns: ops.patience.0,
                entry_margin: ops.entry_margin,
            };
            for g in 0..self.inf.active.len() {
                if !self.inf.active[g] {
                    continue;
                }
                let (inc, cost) = operators::totals(&m.profits[g]);
                if rule.leaves(inc, cost, &mut m.unprofitable_since[g], now.0) {
                    self.inf.set_active(g, false);
                    m.exits += 1;
                }
            }
            // Entry: one at a time per group, after the provisioning delay.
            for gi in 0..m.pending.len() {
                if let Some((node, at)) = m.pending[gi]
                    && now >= at
                {
                    self.inf.set_active(node, true);
                    m.entries += 1;
                    m.pending[gi] = None;
                }
                if m.pending[gi].is_some() {
                    continue;
                }
                let members: Vec<usize> = (0..self.inf.active.len())
                    .filter(|&g| self.inf.group_of[g] == gi)
                    .collect();
                let (inc, cost) = operators::totals(
                    members
                        .iter()
                        .filter(|&&g| self.inf.active[g])
                        .flat_map(|&g| m.profits[g].iter()),
                );
                if rule.enters(inc, cost)
                    && let Some(&idle) = members.iter().find(|&&g| !self.inf.active[g])
                {
                    m.pending[gi] = Some((idle, now + ops.provisioning));
                }
            }
        }
        let active = self.inf.active.iter().filter(|&&a| a).count() as u32;
        m.min_active = m.min_active.min(active);
        // Short of capacity: requests lost, or more waiting than one per operator.
        if queued > active as usize || lost > m.lost {
            m.short_s += dt.as_secs_f64();
        }
        // Demand: price per delivered request and latency against the first interval's.
        let served = delivered - d0;
        let mut factor = m.in_force(ShockKind::Demand, now);
        if served > 0 {
            let paid = (user_fees - u0) as f64 / economics::BASE_UNITS_PER_TOKEN as f64 * price;
            let (p, l) = (paid / served as f64, (latency_sum - l0) / served as f64);
            let reference = *m.reference.get_or_insert((p, l));
            let d = &m.cfg.demand;
            factor = rules::demand_factor(
                factor,
                (p, l),
                reference,
                d.price_elasticity,
                d.latency_elasticity,
            );
        }
        self.demand_factor = factor;
        sink.market(MarketRecord {
            time_s: now.as_secs_f64(),
            price_usd: price,
            requests: in_interval,
            minted: (minted - m0) as u64,
            burned: (burned - b0) as u64,
            net_issuance_fraction: net_issuance,
            active_operators: active,
            operator_income_usd: income_usd,
            operator_cost_usd: cost_usd,
        });
        m.last = (minted, burned, requests, delivered, latency_sum, user_fees);
        m.prev_requests = Some(in_interval);
        if m.cfg.fee_denomination == FeeDenomination::Usd {
            self.econ.fee_scale = m.cfg.initial_price_usd / price;
        }
        m.lost = lost;
        self.queue.push(now + dt, crate::event::Event::MarketTick);
    }
}
