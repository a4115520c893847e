"""Issue #26's figure: a model upgrade under a running chain, decoupled
against replicated, Mixtral 8x7B (MoE) against LLaVA-1.5 7B (multimodal).
Reads the runs that `hacasim sweep scenarios/model-upgrade.toml --keep-runs`
kept (make.sh upgrade):
    python reports/figures/upgrade.py SWEEP_DIR OUT.png
Per simulated minute: the mean block interval of the blocks committed in
it, requests delivered per second, the p99 trust gap of the TEE and ZK
requests delivered in each 5 minutes, per mode (vanilla requests wait out
their fixed challenge window), and validators unable to execute (from nodes.unable_at_s). A
minute without a block is a gap in the line; a halted chain is marked. The
trust gap stops 30 minutes before the end: requests delivered later may
not be final within the run, and leaving them out would bias the tail."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import polars as pl  # noqa: E402

sweep, out = sys.argv[1], sys.argv[2]
points = pl.read_parquet(f"{sweep}/points.parquet").sort("point")
colours = {"mixtral-8x7b": "C3", "llava-1.5-7b": "C0"}
labels = {"mixtral-8x7b": "to Mixtral 8x7B (MoE)", "llava-1.5-7b": "to LLaVA-1.5 7B (images)"}
panels = [
    ("block interval (s)", "interval"),
    ("requests delivered / s", "served"),
    ("trust gap p99 (s), per 5 min:\nZK solid, TEE dashed", "gap"),
    ("validators unable to execute", "unable"),
]
fig, axes = plt.subplots(len(panels), 2, figsize=(12, 10), sharex=True)
for row in points.iter_rows(named=True):
    arch, target, p = row["architecture"], row["upgrades[0].to_model"], row["point"]
    col = 0 if arch == "decoupled" else 1
    run = f"{sweep}/runs/point={p:05}/seed=1"
    summary = json.load(open(f"{run}/summary.json"))
    end_min = summary["sim_duration_s"] / 60
    minutes = pl.DataFrame({"minute": list(range(int(end_min)))}, schema={"minute": pl.Int64})
    blocks = pl.read_parquet(f"{run}/blocks.parquet").with_columns(
        (pl.col("committed_at_s") // 60).cast(pl.Int64).alias("minute"))
    interval = minutes.join(blocks.group_by("minute").agg(pl.col("interval_s").mean().alias("v")),
                            on="minute", how="left").sort("minute")
    req = pl.read_parquet(f"{run}/requests.parquet").filter(pl.col("delivered_s").is_not_null()) \
        .with_columns((pl.col("delivered_s") // 60).cast(pl.Int64).alias("minute"))
    served = minutes.join(req.group_by("minute").agg((pl.len() / 60.0).alias("v")),
                          on="minute", how="left").fill_null(0.0).sort("minute")
    # Trust gap per 5 minutes (ZK requests are few a minute), per mode.
    gaps = {}
    for mode in ("zk", "tee"):
        g = req.filter(pl.col("trust_gap_s").is_not_null() & (pl.col("mode") == mode)) \
            .with_columns((pl.col("delivered_s") // 300).cast(pl.Int64).alias("bin")) \
            .filter(pl.col("bin") * 5 < end_min - 30) \
            .group_by("bin").agg(pl.col("trust_gap_s").quantile(0.99, "nearest").alias("v")).sort("bin")
        gaps[mode] = g
    nodes = pl.read_parquet(f"{run}/nodes.parquet")
    unable_at = sorted(t / 60 for t in nodes["unable_at_s"].drop_nulls())
    style = dict(color=colours[target], lw=1.4, label=labels[target])
    x = [m + 0.5 for m in interval["minute"]]
    axes[0][col].plot(x, interval["v"], **style)
    axes[1][col].plot(x, served["v"], **style)
    for mode, dash in (("zk", "-"), ("tee", "--")):
        g = gaps[mode]
        st = dict(style, label=None) if mode == "tee" else style
        axes[2][col].plot([b * 5 + 2.5 for b in g["bin"]], g["v"], dash, **st)
    axes[3][col].step([0] + unable_at + [end_min], [0] + list(range(1, len(unable_at) + 1)) + [len(unable_at)],
                      where="post", **style)
    if summary["consensus"]["halts"]:
        h = summary["consensus"].get("halt_height")
        last = blocks["committed_at_s"].max() / 60 if blocks.height else 0
        for ax in axes[:, col]:
            ax.axvline(last, color=colours[target], ls=":", lw=1)
        axes[0][col].annotate(f"halted (height {h})", (last, 0.92), xycoords=("data", "axes fraction"),
                              color=colours[target], ha="left", fontsize=9)
    for u in summary.get("upgrades", []):
        if u.get("completed_s") and arch == "decoupled":
            axes[1][col].axvline(u["completed_s"] / 60, color=colours[target], ls="--", lw=0.8)
for col, title in enumerate(["decoupled (validators verify)", "replicated (validators execute)"]):
    axes[0][col].set_title(title)
    for r, (name, _) in enumerate(panels):
        ax = axes[r][col]
        ax.axvline(30, color="0.4", lw=1)
        ax.grid(color="0.92")
        if col == 0:
            ax.set_ylabel(name)
    axes[-1][col].set_xlabel("simulated minutes (grey line: the upgrade starts)")
for ax in axes[2]:
    # Plain numbers on the log axis (1, 10, 100), not 10^0.
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
for r in (0, 1):
    top = max(axes[r][0].get_ylim()[1], axes[r][1].get_ylim()[1])
    for ax in axes[r]:
        ax.set_ylim(0, top)
for ax in axes[3]:
    ax.set_ylim(-0.2, 8.5)
axes[0][0].legend(loc="upper left", frameon=False, fontsize=9)
fig.suptitle("A model upgrade at 30 min: 2 requests/s of chat on Llama 3.1 8B, 8 validators on the p2p network model, two hours, one seed")
fig.tight_layout()
fig.savefig(out, dpi=110)
print(out)
