//! Malformed scenarios: random mutations of every valid scenario file never
//! panic; each is either still valid (and runs) or rejected with a file,
//! line and key.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim_core::{NullSink, Scenario, SimDuration, SimErrorKind, sim};

fn valid_files() -> Vec<(String, String)> {
    let root = format!("{}/../scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [root.clone(), format!("{root}/tests")] {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.extension().is_some_and(|e| e == "toml") && !is_catalogue(&p) {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    assert!(out.len() >= 7, "scenario files found: {}", out.len());
    out
}

mod common;

#[path = "common/mutate.rs"]
mod mutate;
use mutate::mutate;

#[test]
fn random_mutations_never_panic_and_errors_name_line_and_key() {
    let files = valid_files();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let (mut rejected, mut accepted) = (0, 0);
    for case in 0..3000 {
        let (path, text) = &files[case % files.len()];
        let mut bad = mutate(text, &mut rng);
        if rng.next_u32() % 3 == 0 {
            bad = mutate(&bad, &mut rng);
        }
        match Scenario::from_toml_str(&bad, path) {
            Err(e) => {
                rejected += 1;
                assert_eq!(e.file, *path);
                let line = e.line.expect("every error has a line");
                assert!(
                    line >= 1 && line <= bad.lines().count().max(1),
                    "{e}\n---\n{bad}"
                );
                assert!(!e.key.is_empty(), "{e}");
                assert!(
                    e.to_string().starts_with(&format!("{path}:{line}: key `")),
                    "{e}"
                );
            }
            Ok(mut s) => {
                accepted += 1;
                // Still valid: it must also run (briefly) without panicking.
                s.duration = s.duration.min(SimDuration::from_secs(3));
                // (Or stops at the in-flight guard: a mutated rate can
                // ask for far more than the GPU nodes serve.)
                if let Err(e) = sim::run(&s, 1, &mut NullSink, &mut |_| {}) {
                    assert_eq!(e.kind, SimErrorKind::Overload, "a valid scenario runs: {e}");
                }
            }
        }
    }
    assert!(
        rejected > 1000 && accepted > 100,
        "rejected {rejected}, accepted {accepted}"
    );
}

/// Hand-picked impossible values, each with the key the error must name.
#[test]
fn table_of_malformed_scenarios() {
    let base = std::fs::read_to_string(format!(
        "{}/../scenarios/tests/four-one-region.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        // (what, replace, with, key the error names)
        (
            "unknown key",
            "count = 4",
            "cuont = 4",
            "validators[0].cuont",
        ),
        (
            "wrong type",
            "power = 10",
            "power = \"ten\"",
            "validators[0].power",
        ),
        (
            "zero power",
            "power = 10",
            "power = 0",
            "validators[0].power",
        ),
        (
            "negative power",
            "power = 10",
            "power = -3",
            "validators[0].power",
        ),
        (
            "non-square matrix",
            "latency_ms = [[1.0]]",
            "latency_ms = [[1.0, 2.0]]",
            "network.latency_ms[0]",
        ),
        (
            "too many rows",
            "latency_ms = [[1.0]]",
            "latency_ms = [[1.0], [1.0]]",
            "network.latency_ms",
        ),
        (
            "negative latency",
            "latency_ms = [[1.0]]",
            "latency_ms = [[-1.0]]",
            "network.latency_ms[0][0]",
        ),
        (
            "zero duration",
            "duration = \"2m\"",
            "duration = \"0s\"",
            "duration",
        ),
        (
            "duration without unit",
            "duration = \"2m\"",
            "duration = \"120\"",
            "duration",
        ),
        (
            "bad duration unit",
            "duration = \"2m\"",
            "duration = \"2 minutes\"",
            "duration",
        ),
        (
            "negative duration",
            "duration = \"2m\"",
            "duration = \"-2m\"",
            "duration",
        ),
        (
            "unknown region",
            "region = \"lab\"",
            "region = \"mars\"",
            "validators[0].region",
        ),
        (
            "unknown behaviour",
            "power = 10",
            "power = 10\nbehaviour = \"evil\"",
            "validators[0].behaviour",
        ),
        (
            "zero timeout",
            "[network]",
            "[consensus]\ntimeout_propose = \"0ms\"\n\n[network]",
            "consensus.timeout_propose",
        ),
        (
            "fault on unknown validator",
            "power = 10",
            "power = 10\n\n[[faults]]\nat = \"1s\"\nkind = \"crash\"\nvalidators = [\"w-9\"]",
            "faults[0].validators[0]",
        ),
        (
            "partition on unknown region",
            "power = 10",
            "power = 10\n\n[[faults]]\nat = \"1s\"\nkind = \"partition\"\ngroups = [[\"lab\"], [\"moon\"]]",
            "faults[0].groups[1][0]",
        ),
        (
            "loss without rate",
            "power = 10",
            "power = 10\n\n[[faults]]\nat = \"1s\"\nkind = \"loss\"",
            "faults[0].rate",
        ),
        (
            "until before at",
            "power = 10",
            "power = 10\n\n[[faults]]\nat = \"5s\"\nkind = \"heal\"\nuntil = \"1s\"",
            "faults[0].until",
        ),
        (
            "loss rate above 1",
            "jitter = { kind = \"none\" }",
            "jitter = { kind = \"none\" }\nloss_rate = 1.5",
            "network.loss_rate",
        ),
        ("unknown table", "[network]", "[netwrok]", "netwrok"),
        (
            "full nodes without the p2p model",
            "[[validators]]",
            "[[full_nodes]]\nname = \"f\"\nregion = \"lab\"\n\n[[validators]]",
            "full_nodes",
        ),
        (
            "loss under the p2p model",
            "jitter = { kind = \"none\" }",
            "jitter = { kind = \"none\" }\nmodel = \"p2p\"\nloss_rate = 0.1",
            "network.loss_rate",
        ),
        (
            "zero send rate",
            "jitter = { kind = \"none\" }",
            "jitter = { kind = \"none\" }\nmodel = \"p2p\"\np2p = { send_rate = 0 }",
            "network.p2p.send_rate",
        ),
        (
            "random topology under the p2p model",
            "jitter = { kind = \"none\" }",
            "jitter = { kind = \"none\" }\nmodel = \"p2p\"\ntopology = { kind = \"random\" }",
            "network.topology.kind",
        ),
        (
            "full node in an unknown region",
            "jitter = { kind = \"none\" }",
            "jitter = { kind = \"none\" }\nmodel = \"p2p\"\n\n[[full_nodes]]\nname = \"f\"\nregion = \"nowhere\"",
            "full_nodes[0].region",
        ),
    ];
    for (what, from, to, key) in cases {
        assert!(base.contains(from), "{what}: base lacks {from:?}");
        let text = base.replacen(from, to, 1);
        let e = Scenario::from_toml_str(&text, "case.toml").expect_err(what);
        assert_eq!(e.key, *key, "{what}: {e}");
        let line = e.line.unwrap();
        // The named line holds the key's last plain segment, its value, or
        // (for a missing key) the header of the table that lacks it.
        let last = key.rsplit('.').next().unwrap().split('[').next().unwrap();
        let text_line = text.lines().nth(line - 1).unwrap();
        assert!(
            text_line.contains(last)
                || text_line.contains(to.lines().last().unwrap())
                || text_line.starts_with('['),
            "{what}: line {line} is {text_line:?}: {e}"
        );
    }
}

/// `models.toml` and `hardware.toml` are catalogues, not scenarios.
/// The catalogues, and sweep files (a top-level `base = "…"`), are not scenarios.
fn is_catalogue(p: &std::path::Path) -> bool {
    p.file_name()
        .is_some_and(|n| n == "models.toml" || n == "hardware.toml")
        || std::fs::read_to_string(p).is_ok_and(|t| common::is_sweep_file(&t))
}
