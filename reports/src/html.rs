//! `report.html`: one self-contained page (plots inlined as SVG, no network)
//! with the headline numbers from `summary.json`, the plots, and the resolved
//! scenario.

use serde_json::Value;

use crate::plots::Plot;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `a.b.c` → value, for every leaf of the summary.
pub fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(x, &p, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), "—".into())),
        Value::Number(n) => out.push((prefix.to_string(), format_number(n))),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn format_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(x) if n.is_f64() && x.abs() >= 1e-3 && x.abs() < 1e7 => format!("{x:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
        _ => n.to_string(),
    }
}

/// The numbers a reader looks at first.
const HEADLINE: &[(&str, &str)] = &[
    ("consensus.heights_committed", "heights committed"),
    (
        "consensus.block_interval_s.mean",
        "block interval, mean (s)",
    ),
    ("consensus.block_interval_s.p99", "block interval, p99 (s)"),
    (
        "consensus.heights_with_round_gt0",
        "heights needing more than one round",
    ),
    ("consensus.safety_violations", "safety violations"),
    ("consensus.longest_stall_s", "longest stall (s)"),
    ("requests.submitted", "requests submitted"),
    ("requests.finalised", "requests finalised"),
    ("trust_gap_s.tee.p50", "trust gap TEE, p50 (s)"),
    ("trust_gap_s.zk.p50", "trust gap ZK, p50 (s)"),
    ("trust_gap_s.vanilla.p50", "trust gap vanilla, p50 (s)"),
    ("trust_gap_s.tee.p99", "trust gap TEE, p99 (s)"),
    ("trust_gap_s.zk.p99", "trust gap ZK, p99 (s)"),
    ("trust_gap_s.vanilla.p99", "trust gap vanilla, p99 (s)"),
    ("fraud.wrong_results", "wrong results"),
    ("fraud.detected", "wrong results caught"),
    (
        "economics.net_issuance_annualised_pct",
        "net issuance, annualised (%)",
    ),
    ("economics.burned", "burned (base units)"),
    ("economics.minted", "minted (base units)"),
    ("requests.delivered_per_s", "requests delivered per second"),
    ("requests.finalised_per_s", "requests finalised per second"),
    (
        "requests.time_to_finality_s.p50",
        "time to finality, p50 (s)",
    ),
    ("consensus.halt_height", "halted at height"),
    ("cost.usd_per_1k_requests", "USD per 1,000 requests"),
    (
        "validators_unable_to_execute",
        "validators unable to execute",
    ),
    (
        "validator_verify_cpu_fraction.max",
        "validator verification load (cores), max",
    ),
    ("market.price_final", "token price at the end (USD)"),
    (
        "market.min_active_operators",
        "fewest GPU operators serving",
    ),
    (
        "market.requests_lost_to_capacity",
        "requests lost for want of an operator",
    ),
];

pub fn report(summary: &Value, scenario_toml: &str, plots: &[Plot]) -> String {
    let mut all = Vec::new();
    flatten(summary, "", &mut all);
    let lookup = |k: &str| all.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
    let name = summary
        .get("scenario")
        .and_then(Value::as_str)
        .unwrap_or("run");
    let seed = summary
        .get("seed")
        .map(Value::to_string)
        .unwrap_or_default();
    let mut h = String::new();
    h.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(&format!("<title>hacasim: {}</title>\n", escape(name)));
    h.push_str("<style>\nbody{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}\ntable{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}\ntd.n{text-align:right;font-variant-numeric:tabular-nums}\nfigure{margin:2em 0}figcaption{font-weight:bold;margin-bottom:.5em}\npre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:.85em}\nsvg{max-width:100%;height:auto}\n</style>\n</head>\n<body>\n");
    h.push_str(&format!(
        "<h1>hacasim run: {} <small>(seed {})</small></h1>\n",
        escape(name),
        escape(&seed)
    ));
    h.push_str("<h2 id=\"headline\">Headline numbers</h2>\n<table>\n");
    for (key, label) in HEADLINE {
        if let Some(v) = lookup(key) {
            h.push_str(&format!(
                "<tr><th>{}</th><td class=\"n\">{}</td></tr>\n",
                escape(label),
                escape(&v)
            ));
        }
    }
    h.push_str("</table>\n<details><summary>every number in summary.json</summary>\n<table>\n");
    for (k, v) in &all {
        h.push_str(&format!(
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td></tr>\n",
            escape(k),
            escape(v)
        ));
    }
    h.push_str("</table>\n</details>\n<h2 id=\"plots\">Plots</h2>\n");
    for p in plots {
        let body = p.svg.trim_start_matches(|c| c != '<').to_string();
        let body = match body.find("<svg") {
            Some(i) => &body[i..],
            None => &body,
        };
        h.push_str(&format!(
            "<figure id=\"{n}\">\n<figcaption>{t}</figcaption>\n{body}\n<p><a href=\"{n}.png\">{n}.png</a> · <a href=\"{n}.svg\">{n}.svg</a></p>\n</figure>\n",
            n = p.name,
            t = escape(&p.title)
        ));
    }
    h.push_str("<h2 id=\"scenario\">Resolved scenario</h2>\n<pre>");
    h.push_str(&escape(scenario_toml));
    h.push_str("</pre>\n</body>\n</html>\n");
    h
}
