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
    assert_eq!(
        requests, summary.requests.submitted,
        "every request falls in one interval"
    );
    assert_eq!(summary.market.unwrap().price_final, 0.5);
}

/// The endogenous rule with zero elasticities reproduces the constant price
/// exactly, and the whole run with it.
#[test]
fn endogenous_with_zero_elasticities_equals_constant() {
    let (a, sa) = run(
        &parse(&scenario(
            "[market]\nprice = \"endogenous\"\ninitial_price_usd = 0.5",
        )),
        3,
    );
    let (b, sb) = run(
        &parse(&scenario(
            "[market]\nprice = \"constant\"\ninitial_price_usd = 0.5",
        )),
        3,
    );
    assert_eq!(a, b);
    assert_eq!(
        (sa.market, sa.blocks, sa.requests, sa.ledger),
        (sb.market, sb.blocks, sb.requests, sb.ledger)
    );
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
    let market = |denom: &str| {
        format!(
            "[market]\nprice = \"gbm\"\ndrift = 2000.0\nvolatility = 0.0\nfee_denomination = \"{denom}\""
        )
    };
    let (token, st) = run(&parse(&scenario(&market("token"))), 4);
    let (usd, _) = run(&parse(&scenario(&market("usd"))), 4);
    let year = 365.25 * 86_400.0;
    for r in &st.market {
        let expected = (2000.0 * r.time_s / year).exp();
        assert!(
            (r.price_usd / expected - 1.0).abs() < 1e-9,
            "{} vs {expected}",
            r.price_usd
        );
    }
    let (ft, fu) = (
        token.economics.fees_to_gpu_nodes as f64,
        usd.economics.fees_to_gpu_nodes as f64,
    );
    let last = (-2000.0 * 1800.0 / year).exp();
    assert!(
        fu < ft && fu > ft * last * 0.99,
        "usd {fu}, token {ft}, floor {}",
        ft * last
    );
    assert_eq!(
        usd.requests.submitted, token.requests.submitted,
        "demand does not respond yet"
    );
}

fn operators(extra: &str) -> String {
    scenario(&format!(
        "[market]\ninitial_price_usd = 50.0\n[market.operators]\nenabled = true\nwindow = \"1m\"\npatience = \"10m\"\nprovisioning = \"10m\"\n{extra}"
    ))
}

/// At $50 a token the two H100 operators earn far more than their $2.99 an
/// hour: with nobody waiting to enter, the fleet never changes.
#[test]
fn profitable_operators_stay() {
    let (summary, sink) = run(&parse(&operators("max_entrants = 0")), 1);
    assert!(sink.market.iter().all(|r| r.active_operators == 2));
    assert!(
        sink.market
            .iter()
            .skip(1)
            .all(|r| r.operator_income_usd > r.operator_cost_usd)
    );
    let m = summary.market.unwrap();
    assert_eq!(
        (m.operator_exits, m.operator_entries, m.min_active_operators),
        (0, 0, 2)
    );
}

/// The price crashes at 5 minutes (× 10⁻⁹): from that interval on the
/// operators' income is nil, their one-interval window unprofitable, and
/// with a patience of 10 minutes both leave at exactly 15 minutes; from
/// then on requests find no operator.
#[test]
fn after_a_crash_operators_leave_exactly_after_their_patience() {
    let (summary, sink) = run(
        &parse(&operators(
            "max_entrants = 0\n[[market.shocks]]\nat = \"5m\"\nkind = \"price\"\nfactor = 1e-9",
        )),
        1,
    );
    for r in &sink.market {
        let expected = if r.time_s < 15.0 * 60.0 - 1e-9 { 2 } else { 0 };
        assert_eq!(r.active_operators, expected, "at {} s", r.time_s);
    }
    let m = summary.market.unwrap();
    assert_eq!((m.operator_exits, m.min_active_operators), (2, 0));
    assert!(
        m.requests_lost_to_capacity > 1000,
        "{} lost",
        m.requests_lost_to_capacity
    );
    assert!(m.time_capacity_short_s >= 15.0 * 60.0 - 1e-9);
}

/// Profitable beyond the 20 % margin from the first interval: one entrant
/// decides at 1 minute and serves from 11 minutes (10 minutes of
/// provisioning), not before; the second entrant decides then and serves
/// from 21 minutes.
#[test]
fn entrants_serve_after_the_provisioning_delay() {
    let (summary, sink) = run(&parse(&operators("max_entrants = 2")), 1);
    for r in &sink.market {
        let t = r.time_s / 60.0;
        let expected = if t < 11.0 - 1e-9 {
            2
        } else if t < 21.0 - 1e-9 {
            3
        } else {
            4
        };
        assert_eq!(r.active_operators, expected, "at {t} min");
    }
    assert_eq!(summary.market.unwrap().operator_entries, 2);
}

/// Zero elasticities and no shock: the arrivals are those of the run with
/// no market at all, request for request.
#[test]
fn zero_demand_elasticity_leaves_arrivals_unchanged() {
    let (_, without) = run(&parse(&scenario("")), 6);
    let (_, with) = run(
        &parse(&scenario(
            "[market]\nprice = \"gbm\"\nvolatility = 0.5\n[market.demand]\nprice_elasticity = 0.0\nlatency_elasticity = 0.0",
        )),
        6,
    );
    let key = |s: &sim_core::VecSink| {
        s.requests
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.submitted_s.to_bits(),
                    r.prompt_tokens,
                    r.output_tokens,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&without), key(&with));
}

/// A demand surge of × 3 from 10 to 20 minutes triples the arrival rate
/// then: the requests of those intervals are about three times the others
/// (Poisson, 180 a minute: ± 4 standard deviations).
#[test]
fn a_demand_surge_multiplies_arrivals_while_it_lasts() {
    let (_, sink) = run(
        &parse(&scenario(
            "[market]\n[[market.shocks]]\nat = \"10m\"\nkind = \"demand\"\nfactor = 3.0\nuntil = \"20m\"",
        )),
        2,
    );
    let during: Vec<u64> = sink
        .market
        .iter()
        .filter(|r| r.time_s > 11.0 * 60.0 && r.time_s <= 20.0 * 60.0)
        .map(|r| r.requests)
        .collect();
    let before: Vec<u64> = sink
        .market
        .iter()
        .filter(|r| r.time_s <= 10.0 * 60.0)
        .map(|r| r.requests)
        .collect();
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64;
    assert!(
        (mean(&before) - 180.0).abs() < 4.0 * (180.0f64 / before.len() as f64).sqrt(),
        "before {}",
        mean(&before)
    );
    assert!(
        (mean(&during) - 540.0).abs() < 4.0 * (540.0f64 / during.len() as f64).sqrt(),
        "during {}",
        mean(&during)
    );
}

/// Every kind of shock at once, operators entering and leaving, under every
/// design and both denominations: the supply identity holds and the
/// invariant was checked at every block.
#[test]
fn supply_invariant_holds_through_shocks() {
    let shocks = "max_entrants = 1\n[[market.shocks]]\nat = \"3m\"\nkind = \"demand\"\nfactor = 0.3\nuntil = \"8m\"\n[[market.shocks]]\nat = \"9m\"\nkind = \"gpu_cost\"\nfactor = 5.0\n[[market.shocks]]\nat = \"12m\"\nkind = \"operator_exit\"\nfactor = 0.5\n[[market.shocks]]\nat = \"20m\"\nkind = \"price\"\nfactor = 0.01";
    for design in ["dual", "single", "fees-to-validators"] {
        for denom in ["token", "usd"] {
            let text = operators(shocks).replace("[market]\n", &format!("[economics]\ndesign = \"{design}\"\ngpu_emission_share = 0.3\n[market]\nfee_denomination = \"{denom}\"\n"));
            let (summary, _) = run(&parse(&text), 1);
            let e = &summary.economics;
            assert_eq!(
                e.final_supply as i128 - e.genesis_supply as i128,
                e.minted as i128 - e.burned as i128,
                "{design} {denom}"
            );
            assert_eq!(
                e.invariant_checks, summary.consensus.heights_committed,
                "{design} {denom}"
            );
        }
    }
}

/// Where the fees go, by design: dual pays GPU nodes; single burns them;
/// fees-to-validators passes 80 % (the default share) to the GPU node and
/// keeps the rest with the validators (up to a base unit per fee).
#[test]
fn designs_route_inference_fees() {
    let run_design = |design: &str| {
        run(
            &parse(&scenario(&format!(
                "[economics]\ndesign = \"{design}\"\n[market]"
            ))),
            5,
        )
        .0
        .economics
    };
    let dual = run_design("dual");
    assert!(
        dual.fees_to_gpu_nodes > 0
            && dual.fees_to_validators == 0
            && dual.inference_fees_burned == 0
    );
    let single = run_design("single");
    assert_eq!(
        (single.fees_to_gpu_nodes, single.fees_to_validators),
        (0, 0)
    );
    assert_eq!(
        single.inference_fees_burned, dual.fees_to_gpu_nodes,
        "the same requests, the same fees, burned instead"
    );
    assert!(single.burned >= single.inference_fees_burned);
    let fv = run_design("fees-to-validators");
    let total = (fv.fees_to_gpu_nodes + fv.fees_to_validators) as f64;
    assert!(
        (fv.fees_to_gpu_nodes as f64 / total - 0.8).abs() < 1e-3,
        "{} of {total}",
        fv.fees_to_gpu_nodes
    );
    assert!(
        (total - dual.fees_to_gpu_nodes as f64).abs() <= 5e-3 * total,
        "the same fees in all"
    );
}

/// A price trace: the price at each interval's end is the trace's last row
/// at or before it (1.5 until 5 minutes, 2.0 until 15, then 0.5).
#[test]
fn price_trace_is_followed_row_by_row() {
    let text = scenario("[market]\nprice = \"trace\"\nfile = \"prices.csv\"");
    let mut s = sim_core::Scenario::from_toml_str(&text, "inline.toml").unwrap();
    s.attach_files(&text, "inline.toml", &mut |name| {
        assert_eq!(name, "prices.csv");
        Ok("time_s,price_usd\n0,1.5\n300,2.0\n900,0.5\n".to_string())
    })
    .unwrap();
    let (summary, sink) = run(&s, 1);
    for r in &sink.market {
        let expected = if r.time_s < 300.0 {
            1.5
        } else if r.time_s < 900.0 {
            2.0
        } else {
            0.5
        };
        assert_eq!(r.price_usd, expected, "at {} s", r.time_s);
    }
    let m = summary.market.unwrap();
    assert_eq!((m.price_min, m.price_max, m.price_final), (0.5, 2.0, 0.5));
    // A bad row is an error naming the file's line and the key.
    let mut s = sim_core::Scenario::from_toml_str(&text, "inline.toml").unwrap();
    let e = s
        .attach_files(
            &text,
            "inline.toml",
            &mut |_| Ok("0,1\n60,-3\n".to_string()),
        )
        .unwrap_err();
    assert_eq!(e.key, "market.file");
    assert!(e.message.contains("line 2"), "{}", e.message);
}

/// The same scenario and seed give the same run, market included (GBM
/// draws, operators, demand response, shocks).
#[test]
fn market_runs_are_deterministic() {
    let text = operators("max_entrants = 2\n[[market.shocks]]\nat = \"12m\"\nkind = \"operator_exit\"\nfactor = 0.5").replace("initial_price_usd = 50.0", "initial_price_usd = 50.0\nprice = \"gbm\"\nvolatility = 2.0\n[market.demand]\nprice_elasticity = 0.4\nlatency_elasticity = 0.2");
    let s = parse(&text);
    let (a, sa) = run(&s, 8);
    let (b, sb) = run(&s, 8);
    assert_eq!(a, b);
    assert_eq!(
        (sa.market, sa.requests, sa.blocks, sa.ledger),
        (sb.market, sb.requests, sb.blocks, sb.ledger)
    );
}
