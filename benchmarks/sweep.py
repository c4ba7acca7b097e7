"""Benchmark the sweep machinery against the runs it manages.

Times what a sweep adds to its runs: planning (every cell resolved and validated), rewriting
results.csv once per finished cell, and the summary, results.h5 and plots at the end; and
divides by the runs' own evolution time as recorded in a results.csv (the probes of each cell
are counted apart: they are measurements, not machinery).

    python benchmarks/sweep.py [SWEEP.toml] [--results results.csv] [--json]
"""

import argparse
import json
import os
import sys
import tempfile
import time

from evosandbox import sweep

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    """Print the machinery's seconds and their share of the runs' time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", nargs="?", default=os.path.join(ROOT, "sweeps", "decorrelation.toml"))
    parser.add_argument("--results", default=os.path.join(ROOT, "docs", "results", "decorrelation", "results.csv"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = sweep.read_results(args.results)
    seeds = sorted({row["seed"] for row in rows})
    spec = sweep.load_sweep(args.sweep, seeds=",".join(str(s) for s in seeds))
    started = time.perf_counter()
    cells = sweep.plan(spec)
    planning = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        for count in range(1, len(rows) + 1):  # the sweep rewrites results.csv after every cell
            sweep.write_results(os.path.join(folder, "results.csv"), rows[:count], spec)
        collecting = time.perf_counter() - started
        started = time.perf_counter()
        summary = sweep.summarize(spec, cells, rows)
        sweep.write_report(spec, cells, rows, folder, summary)
        reporting = time.perf_counter() - started
    run_seconds = sum(row["wall_time"] for row in rows if row.get("status") == "ok")
    machinery = planning + collecting + reporting
    figures = {
        "cells": len(cells),
        "rows": len(rows),
        "planning_s": planning,
        "collecting_s": collecting,
        "reporting_s": reporting,
        "machinery_s": machinery,
        "runs_s": run_seconds,
        "machinery_share": machinery / run_seconds if run_seconds else None,
    }
    if args.json:
        sys.stdout.write(json.dumps(figures) + "\n")
    else:
        sys.stdout.write(
            f"{len(cells)} cells: planning {planning:.2f} s, results.csv rewritten {len(rows)} times {collecting:.2f} s, "
            f"summary + plots {reporting:.2f} s; machinery {machinery:.2f} s = {100 * figures['machinery_share']:.2f}% "
            f"of the runs' {run_seconds:.0f} s of evolution\n"
        )


if __name__ == "__main__":
    main()
