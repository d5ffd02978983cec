#!/usr/bin/env python3
"""The benchmark's cutover phase: reads the audit logs of demo runs (scripts/demo.sh) and merges
each move's steps and downtime into the benchmark's results file, with p50/p99 over all moves.

Usage: cutover.py RESULTS AUDIT.jsonl...

A move's downtime is migrate's own figure (`downtime_ms` of its `move` entry: from its app's stop
to the app verified working on the other side). A step's time is the gap between its entry and
the previous one (the steps run one after the other); the gate's wait comes before the app stops
and is not downtime. Only completed moves (`moved`) are counted; others are listed.
"""
import json
import math
import os
import sys
import time

STEPS = ["stop", "fence", "drain", "switch", "configure", "start", "verify"]


def percentile(values, fraction):
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def moves(path):
    """Each move of one audit log: app, command, result, downtime and its steps' times (ms)."""
    found, previous, steps = [], None, {}
    with open(path) as log:
        for line in log:
            entry = json.loads(line)
            if entry["step"] == "gate":
                previous, steps = entry["time_ms"], {}
            elif entry["step"] == "move":
                found.append({"app": entry["app"], "command": entry["command"], "result": entry["result"],
                              "downtime_ms": entry.get("downtime_ms"), "steps_ms": steps})
                previous, steps = None, {}
            elif previous is not None and entry["result"] == "done":
                steps[entry["step"]] = entry["time_ms"] - previous
                previous = entry["time_ms"]
    return found


def main():
    results, audits = sys.argv[1], sys.argv[2:]
    all_moves = [move for path in audits for move in moves(path)]
    # Only completed moves: a reverted one ran its steps twice (there and back), and its
    # downtime is the revert's.
    timed = [m for m in all_moves if m["result"] == "moved" and m["downtime_ms"] is not None]
    others = [f"{m['command']} {m['app']}: {m['result']}" for m in all_moves if m not in timed]
    if others:
        print("moves not counted: " + "; ".join(others))
    if not timed:
        sys.exit("cutover.py: no completed move in " + ", ".join(audits))
    downtimes = [m["downtime_ms"] for m in timed]
    print(f"-- cutover: {len(timed)} moves over {len(audits)} demo run(s) --")
    print(f"{'move':<32}" + "".join(f"{s:>10}" for s in STEPS) + f"{'downtime':>11}")
    for m in timed:
        print(f"{m['command'] + ' ' + m['app']:<32}" + "".join(f"{m['steps_ms'].get(s, 0) / 1000:>9.2f}s" for s in STEPS)
              + f"{m['downtime_ms'] / 1000:>10.2f}s")
    # A step a move did not record (none is skipped today) is left out of that step's figures.
    steps = {}
    for step in STEPS:
        values = [m["steps_ms"][step] for m in timed if step in m["steps_ms"]]
        if values:
            steps[step] = {"p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99), "moves": len(values)}
    by_app = {}
    for m in timed:
        by_app.setdefault(m["app"], []).append(m["downtime_ms"])
    figures = {
        "moves": len(timed),
        "demo_runs": len(audits),
        "downtime_p50_ms": percentile(downtimes, 0.5),
        "downtime_p99_ms": percentile(downtimes, 0.99),
        "downtime_max_ms": max(downtimes),
        "by_app_p99_ms": {app: percentile(values, 0.99) for app, values in sorted(by_app.items())},
        "steps": steps,
        "each_move": timed,
        "not_counted": others,
        "settings": {"fence_window": "3 s (migrate's default)", "build": "debug (scripts/demo.sh builds and runs target/debug)",
                     "group.initial.rebalance.delay.ms": "3000 (Kafka's default, as on MSK)",
                     "orders_per_second": int(os.environ.get("MIGRATE_DEMO_RATE", "20"))},
        "recorded_at_unix": int(time.time()),
        "load_average": open("/proc/loadavg").read().strip(),
    }
    print("p50/p99 per step: " + ", ".join(f"{s} {v['p50_ms'] / 1000:.2f}/{v['p99_ms'] / 1000:.2f} s"
                                           for s, v in steps.items()))
    print(f"downtime over {len(timed)} moves: p50 {figures['downtime_p50_ms'] / 1000:.2f} s, "
          f"p99 {figures['downtime_p99_ms'] / 1000:.2f} s, max {figures['downtime_max_ms'] / 1000:.2f} s")
    try:
        with open(results) as existing:
            text = existing.read()
    except FileNotFoundError:
        text = ""
    # An empty file (CI hands a fresh `mktemp`) holds no figures yet.
    document = json.loads(text) if text.strip() else {}
    document.setdefault("phases", {})["cutover"] = figures
    temporary = results + ".tmp"
    with open(temporary, "w") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
    os.replace(temporary, results)
    print(f"cutover: figures merged into {results}")


if __name__ == "__main__":
    main()
