//! `[[faults]]`: crashes, slowdowns, partitions and message loss on a
//! timetable.

use serde::{Deserialize, Serialize};

use super::locate::Seg::{self, Idx, Key};
use super::locate::{did_you_mean, err};
use super::validators::{ValidatorGroup, ValidatorSpec, find};
use crate::time::SimDuration;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// The validators stop (no messages in or out, no timers) until `recover`.
    Crash,
    Recover,
    /// Every message to or from the validators takes `factor` times longer.
    Slow,
    /// Messages between different `groups` are dropped; validators in no group
    /// still reach everyone.
    Partition,
    /// Ends every partition.
    Heal,
    /// Sets the message-loss rate to `rate`.
    Loss,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub at: SimDuration,
    pub kind: FaultKind,
    /// Validator or group names (crash, recover, slow).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<String>,
    /// Partition sides, each a list of region, group or validator names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Undo the fault at this time (recover, un-slow, heal, loss back to the base rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<SimDuration>,
}

/// Checks `[[faults]]` against the validators, groups and regions they
/// name.
pub(super) fn check_faults(
    faults: &[FaultSpec],
    groups: &[ValidatorGroup],
    specs: &[ValidatorSpec],
    regions: &[String],
) -> Result<(), (Vec<Seg>, String)> {
    let mut known: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    known.extend(groups.iter().map(|g| g.name.clone()));
    for (i, f) in faults.iter().enumerate() {
        let at = |k: &'static str| vec![Key("faults"), Idx(i), Key(k)];
        if let Some(u) = f.until
            && u <= f.at
        {
            return err(at("until"), format!("must be later than `at` ({})", f.at));
        }
        match f.kind {
            FaultKind::Crash | FaultKind::Recover | FaultKind::Slow => {
                if f.validators.is_empty() {
                    return err(at("validators"), "names no validator".into());
                }
                for (k, n) in f.validators.iter().enumerate() {
                    if find(specs, n).is_none() {
                        return err(
                            vec![Key("faults"), Idx(i), Key("validators"), Idx(k)],
                            format!(
                                "unknown validator or group {n:?}{}",
                                did_you_mean(n, &known)
                            ),
                        );
                    }
                }
                if f.kind == FaultKind::Slow {
                    match f.factor {
                        Some(x) if x.is_finite() && x >= 1.0 => {}
                        Some(x) => return err(at("factor"), format!("must be ≥ 1, got {x}")),
                        None => {
                            return err(
                                at("factor"),
                                "kind = \"slow\" needs `factor` (≥ 1)".into(),
                            );
                        }
                    }
                }
            }
            FaultKind::Partition => {
                if f.groups.len() < 2 {
                    return err(at("groups"), "a partition needs at least two groups".into());
                }
                let mut all = known.clone();
                all.extend(regions.iter().cloned());
                for (g, group) in f.groups.iter().enumerate() {
                    if group.is_empty() {
                        return err(
                            vec![Key("faults"), Idx(i), Key("groups"), Idx(g)],
                            "is empty".into(),
                        );
                    }
                    for (k, n) in group.iter().enumerate() {
                        if !regions.contains(n) && find(specs, n).is_none() {
                            return err(
                                vec![Key("faults"), Idx(i), Key("groups"), Idx(g), Idx(k)],
                                format!(
                                    "unknown region, group or validator {n:?}{}",
                                    did_you_mean(n, &all)
                                ),
                            );
                        }
                    }
                }
            }
            FaultKind::Loss => match f.rate {
                Some(r) if (0.0..=1.0).contains(&r) => {}
                Some(r) => {
                    return err(
                        at("rate"),
                        format!("must be a probability in [0, 1], got {r}"),
                    );
                }
                None => return err(at("rate"), "kind = \"loss\" needs `rate`".into()),
            },
            FaultKind::Heal => {}
        }
    }
    Ok(())
}
