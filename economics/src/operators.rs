//! GPU operators as agents (issue #12): each GPU node is one operator whose
//! USD profit over a trailing window decides whether it stays, and whose
//! group's profit decides whether a new operator enters.
//!
//! Per market interval an operator's income is the tokens its account
//! received times the price, its cost its hardware's hourly list price
//! (times any cost shock) times the interval's hours (`interval_profit`).
//! Over the window (`window_intervals` intervals, summed by `totals`):
//! * it leaves once its income has stayed below its cost for `patience`;
//! * a new operator enters a group when the group's active operators earn
//!   more than (1 + `entry_margin`) × their cost (and their cost is not 0).

/// The trailing window in whole market intervals (at least one).
pub fn window_intervals(window_ns: u64, interval_ns: u64) -> usize {
    (window_ns / interval_ns.max(1)).max(1) as usize
}

/// An operator's `(income, cost)` in USD over one interval.
pub fn interval_profit(
    tokens_received: f64,
    price_usd: f64,
    usd_per_hour: f64,
    cost_factor: f64,
    hours: f64,
) -> (f64, f64) {
    (
        tokens_received * price_usd,
        usd_per_hour * cost_factor * hours,
    )
}

/// `(Σ income, Σ cost)` over intervals, added in the order given.
pub fn totals<'a>(profits: impl IntoIterator<Item = &'a (f64, f64)>) -> (f64, f64) {
    profits
        .into_iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1))
}

/// When operators leave and enter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OperatorRule {
    /// How long an operator stays unprofitable before it leaves, ns.
    pub patience_ns: u64,
    pub entry_margin: f64,
}

impl OperatorRule {
    /// Whether an active operator whose window totals `income` and `cost`
    /// leaves at `now_ns`. `unprofitable_since` is when its window turned
    /// unprofitable (kept up to date here: set when it turns, cleared when
    /// it recovers or leaves).
    pub fn leaves(
        &self,
        income: f64,
        cost: f64,
        unprofitable_since: &mut Option<u64>,
        now_ns: u64,
    ) -> bool {
        if income < cost {
            let since = *unprofitable_since.get_or_insert(now_ns);
            if now_ns.saturating_sub(since) >= self.patience_ns {
                *unprofitable_since = None;
                return true;
            }
        } else {
            *unprofitable_since = None;
        }
        false
    }

    /// Whether a group whose active operators' windows total `income` and
    /// `cost` draws a new operator.
    pub fn enters(&self, income: f64, cost: f64) -> bool {
        cost > 0.0 && income > (1.0 + self.entry_margin) * cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000_000_000;

    #[test]
    fn window_and_profit_by_hand() {
        // A 2 h window of 10 min intervals: 12; shorter than one: 1.
        assert_eq!(window_intervals(2 * H, H / 6), 12);
        assert_eq!(window_intervals(H / 2, H), 1);
        assert_eq!(window_intervals(H, 0), H as usize);
        // 3 tokens at $2; $2.5 an hour, costs doubled, for 10 min.
        let (inc, cost) = interval_profit(3.0, 2.0, 2.5, 2.0, 1.0 / 6.0);
        assert_eq!(inc, 6.0);
        assert!((cost - 5.0 / 6.0).abs() < 1e-15);
        assert_eq!(totals(&[(1.0, 2.0), (3.0, 0.5)]), (4.0, 2.5));
        assert_eq!(totals(&[]), (0.0, 0.0));
    }

    /// Patience 4 h: unprofitable from 1 h, still there at 4 h, gone at 5 h;
    /// a profitable interval in between starts the clock again.
    #[test]
    fn leaves_after_patience_by_hand() {
        let rule = OperatorRule {
            patience_ns: 4 * H,
            entry_margin: 0.3,
        };
        let mut since = None;
        assert!(!rule.leaves(1.0, 2.0, &mut since, H));
        assert_eq!(since, Some(H));
        assert!(!rule.leaves(1.0, 2.0, &mut since, 4 * H));
        assert!(rule.leaves(1.0, 2.0, &mut since, 5 * H));
        assert_eq!(since, None);
        let mut since = None;
        assert!(!rule.leaves(1.0, 2.0, &mut since, H));
        assert!(
            !rule.leaves(2.0, 2.0, &mut since, 3 * H),
            "break-even is not a loss"
        );
        assert_eq!(since, None);
        assert!(!rule.leaves(1.0, 2.0, &mut since, 5 * H));
        assert!(!rule.leaves(1.0, 2.0, &mut since, 8 * H));
        assert!(rule.leaves(1.0, 2.0, &mut since, 9 * H));
    }

    /// Margin 30 %: cost 10 needs income above 13.
    #[test]
    fn enters_by_hand() {
        let rule = OperatorRule {
            patience_ns: H,
            entry_margin: 0.3,
        };
        assert!(rule.enters(13.5, 10.0));
        assert!(!rule.enters(13.0, 10.0));
        assert!(!rule.enters(5.0, 0.0), "no cost, no signal");
        let eager = OperatorRule {
            entry_margin: 0.0,
            ..rule
        };
        assert!(eager.enters(10.5, 10.0) && !eager.enters(10.0, 10.0));
    }
}
