//! `[market]`: the token's price, GPU operators entering and leaving, and
//! demand shocks; the price trace it may load.

use super::locate::Seg::{self, Idx, Key};
use super::locate::{err, error_at};
use super::{Scenario, ScenarioError};
use crate::market::MarketConfig;

/// Checks `[market]`, when the scenario has one.
pub(super) fn check_market(m: &MarketConfig) -> Result<(), (Vec<Seg>, String)> {
    let at = |k: &'static str| vec![Key("market"), Key(k)];
    if m.interval.0 == 0 {
        return err(at("interval"), "must be longer than zero".into());
    }
    if m.price == crate::market::PriceKind::Trace
        && m.file.as_deref().is_none_or(|f| f.trim().is_empty())
    {
        return err(
            at("file"),
            "price = \"trace\" needs file = \"<time_s,price_usd CSV>\"".into(),
        );
    }
    if !(m.initial_price_usd.is_finite() && m.initial_price_usd > 0.0) {
        return err(
            at("initial_price_usd"),
            format!("must be > 0, got {}", m.initial_price_usd),
        );
    }
    if !(m.volatility.is_finite() && m.volatility >= 0.0) {
        return err(
            at("volatility"),
            format!("must be ≥ 0, got {}", m.volatility),
        );
    }
    let o = &m.operators;
    if o.window.0 == 0 || o.patience.0 == 0 {
        return err(
            vec![
                Key("market"),
                Key("operators"),
                Key(if o.window.0 == 0 {
                    "window"
                } else {
                    "patience"
                }),
            ],
            "must be longer than zero".into(),
        );
    }
    if !(o.entry_margin.is_finite() && o.entry_margin >= 0.0) {
        return err(
            vec![Key("market"), Key("operators"), Key("entry_margin")],
            format!("must be ≥ 0, got {}", o.entry_margin),
        );
    }
    for (i, sh) in m.shocks.iter().enumerate() {
        let at = |k: &'static str| vec![Key("market"), Key("shocks"), Idx(i), Key(k)];
        let ok = match sh.kind {
            crate::market::ShockKind::OperatorExit => (0.0..=1.0).contains(&sh.factor),
            _ => sh.factor.is_finite() && sh.factor > 0.0,
        };
        if !ok {
            return err(
                at("factor"),
                format!(
                    "must be > 0 (a fraction in [0, 1] for operator_exit), got {}",
                    sh.factor
                ),
            );
        }
        if sh.until.is_some_and(|u| u <= sh.at) {
            return err(at("until"), "must be later than `at`".into());
        }
    }
    for (key, x) in [
        ("price_elasticity", m.demand.price_elasticity),
        ("latency_elasticity", m.demand.latency_elasticity),
    ] {
        if !x.is_finite() || x.abs() > 100.0 {
            return err(
                vec![Key("market"), Key("demand"), Key(key)],
                format!("must be a finite elasticity, got {x}"),
            );
        }
    }
    for (key, x) in [
        ("drift", m.drift),
        ("issuance_elasticity", m.issuance_elasticity),
        ("demand_elasticity", m.demand_elasticity),
    ] {
        if !x.is_finite() || x.abs() > 1e6 {
            return err(
                at(key),
                format!("must be a finite number of reasonable size, got {x}"),
            );
        }
    }
    Ok(())
}

impl Scenario {
    /// Potential GPU operators per group beyond `count` (issue #12's entrants).
    pub fn gpu_entrants(&self) -> usize {
        self.market.as_ref().map_or(0, |m| {
            if m.operators.enabled {
                m.operators.max_entrants as usize
            } else {
                0
            }
        })
    }

    /// Loads `[market] file` when `price = "trace"`.
    pub fn attach_price_trace(
        &mut self,
        text: &str,
        file: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(), ScenarioError> {
        let Some(m) = self.market.as_mut() else {
            return Ok(());
        };
        if m.price != crate::market::PriceKind::Trace {
            return Ok(());
        }
        let name = m.file.clone().unwrap_or_default();
        let fail = |message: String| {
            error_at(text, file, &[Seg::Key("market"), Seg::Key("file")], message)
        };
        let body =
            read(&name).map_err(|e| fail(format!("cannot read price trace {name:?}: {e}")))?;
        m.trace = crate::market::parse_price_trace(&body)
            .map_err(|(line, msg)| fail(format!("price trace {name:?} line {line}: {msg}")))?;
        Ok(())
    }

    /// Loads `verification.cpu_profile`, if given.
    pub fn attach_cpu_profile(
        &mut self,
        text: &str,
        file: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(), ScenarioError> {
        let Some(name) = self.verification.cpu_profile.clone() else {
            return Ok(());
        };
        let fail = |message: String| {
            error_at(
                text,
                file,
                &[Seg::Key("verification"), Seg::Key("cpu_profile")],
                message,
            )
        };
        let body =
            read(&name).map_err(|e| fail(format!("cannot read ops profile {name:?}: {e}")))?;
        let p = crate::verification::cpu::OpsProfile::parse(&body, &name).map_err(fail)?;
        for op in [
            "ed25519_verify",
            "ed25519_batch_verify_175",
            "sha256_1kib",
            "groth16_bn254_verify",
            "p384_cert_chain_3",
        ] {
            if p.get(op).is_none() {
                return Err(fail(format!("ops profile {name:?} has no {op:?} timing")));
            }
        }
        self.verification.cpu_ops = Some(std::sync::Arc::new(p));
        Ok(())
    }
}
