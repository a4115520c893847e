//! Draws a log panel with a halted point and a categorical panel with
//! intervals into `target/panel-preview/` (SVG and PNG), to look at.
//! `cargo run -p reports --example panel_preview`.

use reports::plots::{PanelSeries, Plot, panel, panel_with_labels};

fn main() {
    let a = |name: &str, c, solid, pts: Vec<(f64, f64)>, notes: Vec<Option<String>>| PanelSeries {
        notes,
        ..PanelSeries::new(name.into(), c, solid, pts)
    };
    let charts: Vec<(String, bool, Vec<PanelSeries>)> = (0..6)
        .map(|k| {
            (
                format!("chart {k}"),
                k % 2 == 0,
                vec![
                    a(
                        "decoupled",
                        0,
                        true,
                        vec![(4.0, 0.9), (16.0, 3.0), (64.0, 31.6)],
                        vec![],
                    ),
                    a(
                        "replicated",
                        1,
                        false,
                        vec![(4.0, 1.9), (16.0, 0.8), (64.0, 0.0)],
                        vec![None, None, Some("halted".into())],
                    ),
                ],
            )
        })
        .collect();
    let log = panel("Log and linear panels", "validators", &charts).unwrap();
    let labels: Vec<String> = [
        "none",
        "price ×0.2",
        "demand ×0.3",
        "GPU cost ×3",
        "exit ×0.5",
    ]
    .map(String::from)
    .to_vec();
    let cat: Vec<(String, bool, Vec<PanelSeries>)> = (0..6)
        .map(|k| {
            let s = |name: &str, c, off: f64| PanelSeries {
                ci: (0..5).map(|i| Some(0.1 + 0.05 * i as f64)).collect(),
                ..PanelSeries::new(
                    name.into(),
                    c,
                    true,
                    (0..5)
                        .map(|i| (i as f64, 1.0 + off + 0.3 * i as f64))
                        .collect(),
                )
            };
            (
                format!("measure {k}"),
                false,
                vec![
                    s("dual", 0, 0.0),
                    s("single", 1, 0.2),
                    s("fees-to-validators", 2, -0.2),
                ],
            )
        })
        .collect();
    let bars = panel_with_labels("Categories", "shock", &labels, &cat).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/panel-preview");
    std::fs::create_dir_all(&dir).unwrap();
    let plots = [
        Plot {
            name: "log".into(),
            title: "log".into(),
            svg: log,
        },
        Plot {
            name: "categories".into(),
            title: "categories".into(),
            svg: bars,
        },
    ];
    reports::write_plots(&dir, &plots).unwrap();
    println!("{}", dir.display());
}
