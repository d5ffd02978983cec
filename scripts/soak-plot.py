#!/usr/bin/env python3
"""The soak's figures: `soak-plot.py SAMPLES.csv PLOT.png TITLE`.

Reads the engine's samples (seconds, rss_kib, open_files, threads, delivered), prints the first
and the last and the range of each, and plots the engine's RSS, open files and threads, and the
orders delivered per second, over the run.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(samples_path, plot_path, title):
    with open(samples_path) as f:
        rows = [{k: int(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if len(rows) < 2:
        sys.exit(f"soak-plot: {samples_path} has {len(rows)} sample(s); at least 2 are needed")
    first, last = rows[0], rows[-1]
    minutes = [r["seconds"] / 60 for r in rows]
    rate = [0.0] + [
        (b["delivered"] - a["delivered"]) / max(1, b["seconds"] - a["seconds"]) for a, b in zip(rows, rows[1:])
    ]
    print(f"soak: {len(rows)} samples over {last['seconds']} s; the engine's", file=sys.stderr)
    for key, unit, scale in (("rss_kib", "MiB", 1024), ("open_files", "", 1), ("threads", "", 1)):
        values = [r[key] / scale for r in rows]
        print(
            f"  {key:>10}: first {first[key] / scale:.1f} {unit}, last {last[key] / scale:.1f} {unit}, "
            f"min {min(values):.1f}, max {max(values):.1f}",
            file=sys.stderr,
        )
    print(f"  delivered: {last['delivered']} orders, {sum(rate[1:]) / max(1, len(rate) - 1):.0f}/s on average", file=sys.stderr)

    figure, axes = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
    series = (
        ([r["rss_kib"] / 1024 for r in rows], "RSS (MiB)"),
        ([r["open_files"] for r in rows], "open files"),
        ([r["threads"] for r in rows], "threads"),
        (rate, "orders delivered/s"),
    )
    for axis, (values, label) in zip(axes, series):
        axis.plot(minutes, values, linewidth=1.2)
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0, top=max(values) * 1.2 + 1)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    figure.suptitle(f"migrate's engine in the soak: {title}")
    figure.tight_layout()
    figure.savefig(plot_path, dpi=80)
    print(f"soak: plot in {plot_path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: soak-plot.py SAMPLES.csv PLOT.png TITLE")
    main(*sys.argv[1:])
