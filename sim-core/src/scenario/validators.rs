//! `[[validators]]`: groups of validators, their behaviour and hardware,
//! and their expansion into one [`ValidatorSpec`] per validator.

use serde::{Deserialize, Serialize};

use super::inference::Catalogue;
use super::locate::Seg::{self, Idx, Key};
use super::locate::{did_you_mean, err};
use super::{MAX_VALIDATORS, Scenario, defaults};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Behaviour {
    Honest,
    /// Silent for the whole run.
    Crashed,
    /// Double-signs: conflicting proposals and votes to different peers.
    Equivocating,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ValidatorGroup {
    /// Group name; its validators are named `<name>-0`, `<name>-1`, …
    /// (a group of one is named `<name>`).
    pub name: String,
    #[serde(default = "defaults::one")]
    pub count: usize,
    pub region: String,
    /// Voting power of each validator in the group.
    #[serde(default = "defaults::power")]
    pub power: u64,
    #[serde(default = "defaults::behaviour")]
    pub behaviour: Behaviour,
    /// Hardware class of each validator (`scenarios/hardware.toml`): what it
    /// costs, whether it can execute a model, how fast (replicated), and
    /// whose CPU verifies attestations and proofs (decoupled).
    #[serde(default = "defaults::validator_hardware")]
    pub hardware: String,
}

/// A validator after expanding groups: index = address order.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatorSpec {
    pub name: String,
    pub group: String,
    pub region: usize,
    pub power: u64,
    pub behaviour: Behaviour,
    pub hardware: String,
}

impl Scenario {
    /// The validators, expanded from their groups in declaration order.
    pub fn validator_specs(&self) -> Vec<ValidatorSpec> {
        expand(&self.validators, &self.network.regions)
    }

    /// Resolves a validator-or-group name to validator indices.
    pub fn resolve_validators(&self, name: &str) -> Option<Vec<usize>> {
        find(&self.validator_specs(), name)
    }
}

/// [`Scenario::validator_specs`] over the groups and regions alone, for the
/// checks that run before the scenario is whole.
pub(super) fn expand(groups: &[ValidatorGroup], regions: &[String]) -> Vec<ValidatorSpec> {
    let mut out = Vec::new();
    for g in groups {
        let region = regions.iter().position(|r| *r == g.region).unwrap_or(0);
        for i in 0..g.count {
            let name = if g.count == 1 {
                g.name.clone()
            } else {
                format!("{}-{}", g.name, i)
            };
            out.push(ValidatorSpec {
                name,
                group: g.name.clone(),
                region,
                power: g.power,
                behaviour: g.behaviour,
                hardware: g.hardware.clone(),
            });
        }
    }
    out
}

/// [`Scenario::resolve_validators`] over expanded validators.
pub(super) fn find(specs: &[ValidatorSpec], name: &str) -> Option<Vec<usize>> {
    let by_group: Vec<usize> = specs
        .iter()
        .enumerate()
        .filter(|(_, s)| s.group == name)
        .map(|(i, _)| i)
        .collect();
    if !by_group.is_empty() {
        return Some(by_group);
    }
    specs.iter().position(|s| s.name == name).map(|i| vec![i])
}

/// Checks `[[validators]]`: names, counts, power and regions (after
/// `[network]`, which names the regions).
pub(super) fn check_validators(
    groups: &[ValidatorGroup],
    regions: &[String],
) -> Result<(), (Vec<Seg>, String)> {
    if groups.is_empty() {
        return err(
            vec![Key("validators")],
            "needs at least one [[validators]] group".into(),
        );
    }
    for (i, g) in groups.iter().enumerate() {
        let at = |k: &'static str| vec![Key("validators"), Idx(i), Key(k)];
        if g.name.trim().is_empty() {
            return err(at("name"), "must not be empty".into());
        }
        if groups[..i].iter().any(|o| o.name == g.name) {
            return err(at("name"), format!("group name {:?} is used twice", g.name));
        }
        if g.count == 0 || g.count > MAX_VALIDATORS {
            return err(
                at("count"),
                format!("must be between 1 and {MAX_VALIDATORS}, got {}", g.count),
            );
        }
        if g.power == 0 {
            return err(at("power"), "voting power must be > 0".into());
        }
        if g.power > (i64::MAX as u64) / 8 / 10_000 {
            return err(at("power"), "voting power is too large".into());
        }
        if !regions.contains(&g.region) {
            return err(
                at("region"),
                format!(
                    "unknown region {:?}{}",
                    g.region,
                    did_you_mean(&g.region, regions)
                ),
            );
        }
    }
    let total: usize = groups.iter().map(|g| g.count).sum();
    if total > MAX_VALIDATORS {
        return err(
            vec![Key("validators")],
            format!("{total} validators in all; at most {MAX_VALIDATORS}"),
        );
    }
    let specs = expand(groups, regions);
    for (i, s) in specs.iter().enumerate() {
        if specs[..i].iter().any(|o| o.name == s.name) {
            return err(
                vec![Key("validators")],
                format!("validator name {:?} is used twice", s.name),
            );
        }
    }
    let total_power: u64 = specs.iter().map(|s| s.power).sum();
    if total_power > (i64::MAX as u64) / 8 {
        return err(
            vec![Key("validators")],
            "total voting power is too large".into(),
        );
    }
    Ok(())
}

/// Checks that every validator's hardware is in the catalogue (with the
/// inference checks, after `[models]` and `[hardware]`).
pub(super) fn check_validator_hardware(
    groups: &[ValidatorGroup],
    cat: &Catalogue,
) -> Result<(), (Vec<Seg>, String)> {
    for (i, g) in groups.iter().enumerate() {
        if cat.hardware(&g.hardware).is_none() {
            return err(
                vec![Key("validators"), Idx(i), Key("hardware")],
                format!(
                    "unknown hardware {:?}{}",
                    g.hardware,
                    did_you_mean(&g.hardware, &cat.hw_names)
                ),
            );
        }
    }
    Ok(())
}
