//! The token market (issue #12, first part): the price paths and fee
//! denomination against facts derived by hand.

mod common;

use common::{parse, run};

fn scenario(market: &str) -> String {
    format!(
        r#"
name = "market"
duration = "30m"
[network]
regions = ["N_Virginia", "Frankfurt"]
[[validators]]
name = "v"
count = 4
region = "N_Virginia"
[[gpu_nodes]]
name = "g"
count = 2
hardware = "H100-SXM"
model = "llama-3.1-8b"
[[workload]]
name = "w"
model = "llama-3.1-8b"
arrival = {{ kind = "poisson", rate_per_s = 3.0 }}
prompt_tokens = {{ kind = "fixed", mean = 300 }}
output_tokens = {{ kind = "fixed", mean = 100 }}
modes = {{ vanilla = 1.0 }}
{market}
"#
    )
}

/// Constant price: every row at the initial price, one row per interval
/// (30 minutes / 1 minute), and the operators' cost is 2 × $2.99/h × 60 s.
#[test]
fn constant_price_rows_and_operator_cost() {
    let (summary, sink) = run(&parse(&scenario("[market]\ninitial_price_usd = 0.5")), 1);
    assert_eq!(sink.market.len(), 30);
    for (i, r) in sink.market.iter().enumerate() {
        assert_eq!(r.price_usd, 0.5);
        assert!((r.time_s - 60.0 * (i + 1) as f64).abs() < 1e-9);
        assert!((r.operator_cost_usd - 2.0 * 2.99 / 3600.0 * 60.0).abs() < 1e-12);
        assert_eq!(r.active_operators, 2);
    }
    let requests: u64 = sink.market.iter().map(|r| r.requests).sum();
    assert_eq!(requests, summary.requests.submitted, "every request falls in one interval");
    assert_eq!(summary.market.unwrap().price_final, 0.5);
}

/// The endogenous rule with zero elasticities reproduces the constant price
/// exactly, and the whole run with it.
#[test]
fn endogenous_with_zero_elasticities_equals_constant() {
    let (a, sa) = run(&parse(&scenario("[market]\nprice = \"endogenous\"\ninitial_price_usd = 0.5")), 3);
    let (b, sb) = run(&parse(&scenario("[market]\nprice = \"constant\"\ninitial_price_usd = 0.5")), 3);
    assert_eq!(a, b);
    assert_eq!((sa.market, sa.blocks, sa.requests, sa.ledger), (sb.market, sb.blocks, sb.requests, sb.ledger));
}

/// Without `[market]`: no rows and no `market` in the summary; the run is
/// the one without the section (the market adds no random draw elsewhere).
#[test]
fn no_market_section_no_market() {
    let (a, sa) = run(&parse(&scenario("")), 2);
    let (b, sb) = run(&parse(&scenario("[market]\ninitial_price_usd = 1.0")), 2);
    assert!(sa.market.is_empty() && a.market.is_none());
    assert_eq!((sa.blocks, sa.requests), (sb.blocks, sb.requests));
    assert_eq!(a.economics, b.economics);
}

/// A price that rises deterministically (GBM without volatility: P(t) =
/// P0·e^{drift·t}, drift 2000 a year ≈ 11 % over the 30 minutes): fees fixed
/// in tokens do not move; fees set in USD are paid in fewer tokens as the
/// price rises, by at most the final factor e^{−drift·T}, and every row's
/// price is P0·e^{drift·t} to rounding.
#[test]
fn usd_denominated_fees_follow_the_price_token_fees_do_not() {
    let market = |denom: &str| format!("[market]\nprice = \"gbm\"\ndrift = 2000.0\nvolatility = 0.0\nfee_denomination = \"{denom}\"");
    let (token, st) = run(&parse(&scenario(&market("token"))), 4);
    let (usd, _) = run(&parse(&scenario(&market("usd"))), 4);
    let year = 365.25 * 86_400.0;
    for r in &st.market {
        let expected = (2000.0 * r.time_s / year).exp();
        assert!((r.price_usd / expected - 1.0).abs() < 1e-9, "{} vs {expected}", r.price_usd);
    }
    let (ft, fu) = (token.economics.fees_to_gpu_nodes as f64, usd.economics.fees_to_gpu_nodes as f64);
    let last = (-2000.0 * 1800.0 / year).exp();
    assert!(fu < ft && fu > ft * last * 0.99, "usd {fu}, token {ft}, floor {}", ft * last);
    assert_eq!(usd.requests.submitted, token.requests.submitted, "demand does not respond yet");
}
