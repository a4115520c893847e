//! `[[workload]]`: request streams, their arrivals, token counts and
//! verification modes, and the arrival traces they load.

use super::inference::{Architecture, Catalogue};
use super::locate::Seg::{self, Idx, Key};
use super::locate::{err, error_at};
use super::{MAX_IMAGES_PER_REQUEST, MAX_RATE_PER_S, MAX_SEQUENCE_TOKENS, Scenario, ScenarioError};
use crate::inference::GpuGroup;
use crate::verification::VerificationConfig;
use crate::workload::{ArrivalKind, StreamConfig, TokenDist, TokenKind};

/// Checks `[[workload]]` streams; after `[[gpu_nodes]]`, since each stream
/// needs a group that serves its model (unless validators run inference).
pub(super) fn check_workload(
    workload: &[StreamConfig],
    gpu_nodes: &[GpuGroup],
    architecture: Architecture,
    verification: &VerificationConfig,
    cat: &Catalogue,
) -> Result<(), (Vec<Seg>, String)> {
    let replicated = architecture == Architecture::Replicated;
    let mut stream_names: Vec<&str> = Vec::new();
    for (i, st) in workload.iter().enumerate() {
        let at = |k: &'static str| vec![Key("workload"), Idx(i), Key(k)];
        if st.name.trim().is_empty() || stream_names.contains(&st.name.as_str()) {
            return err(
                at("name"),
                format!("stream name {:?} is empty or used twice", st.name),
            );
        }
        stream_names.push(&st.name);
        if cat.model(&st.model).is_none() {
            return err(at("model"), cat.unknown_model(&st.model));
        }
        if st.images.is_some() && cat.model(&st.model).is_some_and(|m| m.vision.is_none()) {
            return err(
                at("images"),
                format!(
                    "model {:?} takes no images (it has no `vision` encoder)",
                    st.model
                ),
            );
        }
        let serving: Vec<&GpuGroup> = gpu_nodes.iter().filter(|g| g.model == st.model).collect();
        if serving.is_empty() && !replicated {
            return err(
                at("model"),
                format!("no [[gpu_nodes]] group serves model {:?}", st.model),
            );
        }
        let a = &st.arrival;
        let arr = |k: &'static str| vec![Key("workload"), Idx(i), Key("arrival"), Key(k)];
        match a.kind {
            ArrivalKind::Poisson | ArrivalKind::Diurnal
                if !(a.rate_per_s > 0.0 && a.rate_per_s <= MAX_RATE_PER_S) =>
            {
                return err(
                    arr("rate_per_s"),
                    format!("must be in (0, {MAX_RATE_PER_S:e}], got {}", a.rate_per_s),
                );
            }
            ArrivalKind::Diurnal if !(0.0..=1.0).contains(&a.amplitude) => {
                return err(
                    arr("amplitude"),
                    format!("must be in [0, 1], got {}", a.amplitude),
                );
            }
            ArrivalKind::Diurnal if a.period.0 == 0 => {
                return err(arr("period"), "must be longer than zero".into());
            }
            ArrivalKind::Mmpp => {
                if a.rates.is_empty()
                    || a.rates.iter().any(|r| !(*r >= 0.0 && *r <= MAX_RATE_PER_S))
                    || a.rates.iter().all(|r| *r == 0.0)
                {
                    return err(
                        arr("rates"),
                        format!("needs one or more rates in [0, {MAX_RATE_PER_S:e}], not all zero"),
                    );
                }
                if a.dwell.len() != a.rates.len() || a.dwell.iter().any(|d| d.0 == 0) {
                    return err(
                        arr("dwell"),
                        format!("needs {} mean dwell times > 0, one per rate", a.rates.len()),
                    );
                }
            }
            ArrivalKind::Trace if a.file.as_deref().is_none_or(str::is_empty) => {
                return err(arr("file"), "kind = \"trace\" needs `file`".into());
            }
            _ => {}
        }
        for (key, d) in [
            ("prompt_tokens", Some(&st.prompt_tokens)),
            ("output_tokens", Some(&st.output_tokens)),
            ("images", st.images.as_ref()),
        ] {
            let Some(d) = d else { continue };
            let most = if key == "images" {
                MAX_IMAGES_PER_REQUEST
            } else {
                MAX_SEQUENCE_TOKENS
            };
            check_count(d, most, |k| vec![Key("workload"), Idx(i), Key(key), Key(k)])?;
        }
        let m = &st.modes;
        for (key, x) in [("tee", m.tee), ("zk", m.zk), ("vanilla", m.vanilla)] {
            if !(x.is_finite() && x >= 0.0) {
                return err(
                    vec![Key("workload"), Idx(i), Key("modes"), Key(key)],
                    format!("must be ≥ 0, got {x}"),
                );
            }
        }
        if m.total() <= 0.0 {
            return err(
                at("modes"),
                "needs a weight > 0 for at least one of tee, zk, vanilla".into(),
            );
        }
        if m.tee > 0.0 && !replicated && !serving.iter().any(|g| g.tee) {
            return err(
                vec![Key("workload"), Idx(i), Key("modes"), Key("tee")],
                format!(
                    "no [[gpu_nodes]] group with tee = true serves {:?}",
                    st.model
                ),
            );
        }
        if m.zk > 0.0 && verification.zk_provers == 0 {
            return err(
                vec![Key("verification"), Key("zk_provers")],
                "ZK requests need at least one prover".into(),
            );
        }
        for (key, x) in [
            ("value_at_risk_usd", st.value_at_risk_usd),
            ("fee_usd", st.fee_usd),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return err(at(key), format!("must be ≥ 0, got {x}"));
            }
        }
        if st.timeout.is_some_and(|t| t.0 == 0) {
            return err(
                at("timeout"),
                "must be longer than zero (leave the key out for no timeout)".into(),
            );
        }
    }
    Ok(())
}

impl Scenario {
    /// Loads the arrival times of every `kind = "trace"` stream through
    /// `read` (given the file name as written in the scenario). `text` and
    /// `file` are the scenario's own, for error locations.
    pub fn attach_traces(
        &mut self,
        text: &str,
        file: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(), ScenarioError> {
        for (i, st) in self.workload.iter().enumerate() {
            if st.arrival.kind != ArrivalKind::Trace {
                continue;
            }
            let name = st.arrival.file.clone().unwrap_or_default();
            let path = vec![
                Seg::Key("workload"),
                Seg::Idx(i),
                Seg::Key("arrival"),
                Seg::Key("file"),
            ];
            let fail = |message: String| error_at(text, file, &path, message);
            let body = read(&name).map_err(|e| fail(format!("cannot read trace {name:?}: {e}")))?;
            let times = crate::workload::parse_trace(&body)
                .map_err(|(line, m)| fail(format!("trace {name:?} line {line}: {m}")))?;
            self.traces.insert(i, times);
        }
        Ok(())
    }
}

/// Checks a distribution of counts (tokens, images) of at most `most`;
/// `path` names its keys.
pub(super) fn check_count(
    d: &TokenDist,
    most: u32,
    path: impl Fn(&'static str) -> Vec<Seg>,
) -> Result<(), (Vec<Seg>, String)> {
    if d.kind != TokenKind::Uniform && !(d.mean.is_finite() && d.mean >= 1.0) {
        return err(path("mean"), format!("must be ≥ 1, got {}", d.mean));
    }
    if d.min > d.max {
        return err(path("min"), format!("min {} is above max {}", d.min, d.max));
    }
    if d.max > most {
        return err(path("max"), format!("at most {most}, got {}", d.max));
    }
    if !(d.sigma.is_finite() && d.sigma >= 0.0) {
        return err(path("sigma"), format!("must be ≥ 0, got {}", d.sigma));
    }
    Ok(())
}
