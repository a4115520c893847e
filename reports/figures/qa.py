"""The fidelity figure: blocks per minute of CometBFT's 200-node QA testnet
(published), of hacasim's p2p model and of its direct model, in one data
centre and with latency emulation. Reads the runs that make.sh made:
    python reports/figures/qa.py RUNS_DIR OUT.png
Each run's blocks/min is counted per whole simulated minute; the marker is
the median minute, the bar the range over the 15 minutes."""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

runs, out = sys.argv[1], sys.argv[2]


def per_minute(run):
    t = pl.read_parquet(f"{runs}/{run}/blocks.parquet")["committed_at_s"]
    counts = [0] * 15
    for x in t:
        if x < 900:
            counts[int(x // 60)] += 1
    counts.sort()
    return counts[7], counts[0], counts[-1]


# CometBFT-QA-v1.md: "between 20 and 40 blocks per minute" in one data
# centre; "around 10 blocks per minute" with latency emulation (the
# issue's band, 7-13).
published = {"one data centre": (20, 40), "latency emulation": (7, 13)}
models = [("hacasim p2p", "p2p", "C0", "o"), ("hacasim direct", "direct", "C3", "s")]
fig, ax = plt.subplots(figsize=(7, 4))
for i, (setting, (lo, hi)) in enumerate(published.items()):
    ax.add_patch(
        plt.Rectangle((i - 0.4, lo), 0.8, hi - lo, color="0.85", zorder=0,
                      label="CometBFT QA (published)" if i == 0 else None)
    )
    for k, (name, tag, colour, marker) in enumerate(models):
        run = f"{tag}-{'dc' if i == 0 else 'le'}"
        med, a, b = per_minute(run)
        x = i - 0.15 + 0.3 * k
        ax.errorbar([x], [med], yerr=[[med - a], [b - med]], fmt=marker, color=colour,
                    capsize=4, label=name if i == 0 else None)
        ax.annotate(f"{med}", (x, med), textcoords="offset points", xytext=(8, -3))
ax.set_xticks([0, 1], list(published))
ax.set_xlim(-0.6, 1.6)
ax.set_ylim(0, 70)
ax.set_ylabel("blocks per minute (median minute, range)")
ax.set_title("200 nodes (175 validators), 400 tx/s of 1 KiB, 15 simulated minutes")
ax.legend(loc="upper right", frameon=False)
ax.grid(axis="y", color="0.9")
fig.tight_layout()
fig.savefig(out, dpi=120)
print(out)
