"""Recompute a finished sweep's time_to_90 and seconds_to_90 from its run files, without evolving.

For each row of --results whose cell folder under SWEEP_DIR still holds its run, re-reads the
run's validation and wall-time curves and recomputes both columns as the sweep does now
(``sweep.time_to_competence``); rows without a run file keep their values. Writes results.csv,
summary.md, summary.json, results.h5 and plots/ into --out and prints every changed row.

    python benchmarks/sweep_retime.py SWEEP.toml --results results.csv --runs SWEEP_DIR --out FOLDER [--json]
"""

import argparse
import json
import math
import os
import sys

from evosandbox import sweep
from evosandbox.errors import InputError


def _same(old, new):
    """Return whether two cells are equal, NaN equal to NaN."""
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return True
    return old == new


def retime(rows, runs):
    """Recompute the rows' time columns in place from the runs under ``runs``; return the changes."""
    changes, reread = [], 0
    for row in rows:
        run_dir = os.path.join(runs, sweep.cell_folder(row["condition"], row["seed"]), sweep.RUN_FOLDER)
        if row.get("status") != "ok" or not os.path.exists(os.path.join(run_dir, "run.h5")):
            continue
        reread += 1
        for name, value in sweep.read_time_to_competence(run_dir).items():
            if name in row and not _same(row[name], value):
                changes.append(
                    {
                        "condition": row["condition"],
                        "seed": row["seed"],
                        "column": name,
                        "before": row[name],
                        "after": value,
                    }
                )
                row[name] = value
    return changes, reread


def main():
    """Recompute the time columns and rewrite the sweep's results and report into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", metavar="SWEEP.toml")
    parser.add_argument("--results", required=True, help="the sweep's results.csv")
    parser.add_argument("--runs", required=True, metavar="SWEEP_DIR", help="the folder holding the sweep's cells/")
    parser.add_argument("--out", required=True, help="folder for the rewritten results.csv, summary and plots")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        rows = sweep.read_results(args.results)
        seeds = sorted({row["seed"] for row in rows})
        spec = sweep.load_sweep(args.sweep, seeds=",".join(str(seed) for seed in seeds))
        cells = sweep.plan(spec)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    changes, reread = retime(rows, args.runs)
    os.makedirs(args.out, exist_ok=True)
    sweep.write_results(os.path.join(args.out, sweep.RESULTS_CSV), rows, spec)
    sweep.write_report(spec, cells, rows, args.out, sweep.summarize(spec, cells, rows))
    if args.json:
        print(json.dumps({"rows": len(rows), "reread": reread, "changes": changes}, default=str))
        return 0
    print(f"{len(rows)} rows, {reread} re-read from run files, {len(changes)} cells changed")
    for change in changes:
        print(
            f"  {change['condition']} seed {change['seed']}: {change['column']} {change['before']} -> {change['after']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
