"""Benchmark the sweep machinery against the runs it manages, and a sweep's runs per hour.

Two ways, both printed (``--json``: one JSON object):

* From a finished sweep's results.csv (default: the decorrelation sweep's committed one):
  times what the sweep adds to its runs by redoing it — planning (every cell resolved and
  validated), rewriting results.csv once per finished cell, the summary, results.h5 and plots —
  and divides by the runs' evolution time recorded in the rows; runs per hour on J cores from
  the rows' cell times (``cell_seconds``: evolution, probes and champion; evolution alone
  where a row has none).
* ``--measure``: runs a real sweep in a temporary folder, in this process, one cell after
  another (``--jobs 1``; set NUMBA_NUM_THREADS=1 to hold it to one core), with the sweep file's
  cells cut to ``--generations`` generations, and times every part: the cells (``run_cell``)
  and everything else the sweep does (planning, results.csv, summary, plots, folders). It
  reports the machinery's share of the wall time, the median cell's seconds per generation
  and seconds outside evolution (probes, champion, set-up; medians, because the first cell
  also compiles the kernels), and from them the runs per hour
  that ``--jobs 2`` on two cores gives at the sweep file's own generation count (two cells
  side by side, one core each: 2 x 3600 / (setup + generations x seconds per generation)).

    python benchmarks/sweep.py [SWEEP.toml] [--results results.csv] [--json]
    NUMBA_NUM_THREADS=1 python benchmarks/sweep.py --measure [SWEEP.toml] [--generations 30] [--seeds 1] [--json]
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import numpy as np

from evosandbox import sweep

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def from_results(args):
    """Redo a finished sweep's machinery from its results.csv; return the figures."""
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
    ok = [row for row in rows if row.get("status") == "ok"]
    run_seconds = sum(row["wall_time"] for row in ok)
    cell_seconds = [
        row["cell_seconds"] if np.isfinite(row.get("cell_seconds", np.nan)) else row["wall_time"] for row in ok
    ]
    machinery = planning + collecting + reporting
    return {
        "mode": "results",
        "results": os.path.abspath(args.results),
        "cells": len(cells),
        "rows": len(rows),
        "planning_s": planning,
        "collecting_s": collecting,
        "reporting_s": reporting,
        "machinery_s": machinery,
        "runs_s": run_seconds,
        "machinery_share": machinery / run_seconds if run_seconds else None,
        "mean_cell_s": float(np.mean(cell_seconds)) if cell_seconds else None,
        "cell_s_range": [float(np.min(cell_seconds)), float(np.max(cell_seconds))] if cell_seconds else None,
        "runs_per_hour": args.jobs * 3600.0 / float(np.mean(cell_seconds)) if cell_seconds else None,
        "jobs": args.jobs,
    }


class _Timer:
    """Wrap a function of the sweep module and add up the seconds spent in it."""

    def __init__(self, name):
        """Wrap ``sweep.<name>``."""
        self.name, self.original, self.seconds, self.calls = name, getattr(sweep, name), 0.0, 0
        setattr(sweep, name, self)

    def __call__(self, *args, **kwargs):
        """Call the wrapped function, timing it."""
        started = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def restore(self):
        """Put the original function back."""
        setattr(sweep, self.name, self.original)


def measure(args):
    """Run a real, shortened sweep in this process and time its parts; return the figures."""
    spec = sweep.load_sweep(args.sweep, seeds=args.seeds)
    full = _generations(spec)
    spec = dataclasses.replace(
        spec, fixed=spec.fixed + (("experiment.generations", args.generations, "benchmark --generations"),)
    )
    timers = [_Timer(name) for name in ("plan", "run_cell", "write_results", "write_report")]
    try:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = sweep.run_sweep(spec, os.path.join(folder, "out"), jobs=1, progress=False)
            wall = time.perf_counter() - started
    finally:
        for timer in timers:
            timer.restore()
    plan_timer, cell_timer, results_timer, report_timer = timers
    ok = [row for row in result.rows if row.get("status") == "ok"]
    if not ok:
        raise SystemExit("benchmarks/sweep.py: no cell finished; see the sweep's errors")
    per_generation = np.array([row["wall_time"] / row["generations"] for row in ok])
    outside = np.array([row["cell_seconds"] - row["wall_time"] for row in ok])
    machinery = wall - cell_timer.seconds
    # Medians: the first cell of the process also compiles the kernels (numba), once per worker.
    cell_at_full = float(np.median(outside)) + full * float(np.median(per_generation))
    return {
        "mode": "measure",
        "sweep": spec.name,
        "cells": len(result.cells),
        "failed": result.failed,
        "generations": args.generations,
        "wall_s": wall,
        "cells_s": cell_timer.seconds,
        "machinery_s": machinery,
        "planning_s": plan_timer.seconds,
        "collecting_s": results_timer.seconds,
        "reporting_s": report_timer.seconds,
        "machinery_share": machinery / wall,
        "seconds_per_generation": float(np.median(per_generation)),
        "seconds_per_generation_mean": float(per_generation.mean()),
        "seconds_per_generation_range": [float(per_generation.min()), float(per_generation.max())],
        "seconds_outside_evolution": float(np.median(outside)),
        "full_generations": full,
        "predicted_cell_s": float(cell_at_full),
        "predicted_runs_per_hour_2_cores": 2 * 3600.0 / float(cell_at_full),
        "predicted_runs_per_hour_2_cores_range": [
            2 * 3600.0 / float(outside.max() + full * per_generation.max()),
            2 * 3600.0 / float(outside.min() + full * per_generation.min()),
        ],
        "predicted_machinery_share_at_full": machinery / (machinery + len(ok) * cell_at_full),
    }


def _generations(spec):
    """Return the generations a sweep's cells run (its [set] or the base experiment's)."""
    for key, value, _ in spec.fixed:
        if key == "experiment.generations":
            return int(value)
    import tomllib

    with open(spec.experiment, "rb") as handle:
        return int(tomllib.load(handle).get("generations", 100))


def main():
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", nargs="?", default=os.path.join(ROOT, "sweeps", "decorrelation.toml"))
    parser.add_argument("--results", default=os.path.join(ROOT, "docs", "results", "decorrelation", "results.csv"))
    parser.add_argument("--jobs", type=int, default=2, help="with --results: the jobs the sweep ran with (runs/hour)")
    parser.add_argument("--measure", action="store_true", help="run a real, shortened sweep and time it")
    parser.add_argument("--generations", type=int, default=30, help="with --measure: generations per cell")
    parser.add_argument("--seeds", default="1", help="with --measure: seeds (default 1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args) if args.measure else from_results(args)
    if args.json:
        sys.stdout.write(json.dumps(figures) + "\n")
    elif args.measure:
        f = figures
        sys.stdout.write(
            f"{f['cells']} cells of {f['sweep']} at {f['generations']} generations, one after another: "
            f"wall {f['wall_s']:.1f} s, cells {f['cells_s']:.1f} s, machinery {f['machinery_s']:.2f} s "
            f"(planning {f['planning_s']:.2f}, results.csv {f['collecting_s']:.2f}, summary + plots "
            f"{f['reporting_s']:.2f}) = {100 * f['machinery_share']:.2f}% of the wall time\n"
            f"per cell (median): {1000 * f['seconds_per_generation']:.0f} ms per generation "
            f"({1000 * f['seconds_per_generation_range'][0]:.0f}-{1000 * f['seconds_per_generation_range'][1]:.0f}), "
            f"{f['seconds_outside_evolution']:.1f} s outside evolution (probes, champion, set-up)\n"
            f"at the sweep's {f['full_generations']} generations: {f['predicted_cell_s']:.0f} s a cell, "
            f"{f['predicted_runs_per_hour_2_cores']:.1f} runs per hour on 2 cores with --jobs 2 "
            f"(range {f['predicted_runs_per_hour_2_cores_range'][0]:.1f}-{f['predicted_runs_per_hour_2_cores_range'][1]:.1f}); "
            f"machinery {100 * f['predicted_machinery_share_at_full']:.3f}% of the wall time\n"
        )
    else:
        f = figures
        sys.stdout.write(
            f"{f['cells']} cells: planning {f['planning_s']:.2f} s, results.csv rewritten {f['rows']} times "
            f"{f['collecting_s']:.2f} s, summary + plots {f['reporting_s']:.2f} s; machinery {f['machinery_s']:.2f} s = "
            f"{100 * f['machinery_share']:.2f}% of the runs' {f['runs_s']:.0f} s of evolution; "
            f"{f['mean_cell_s']:.0f} s a cell ({f['cell_s_range'][0]:.0f}-{f['cell_s_range'][1]:.0f}): "
            f"{f['runs_per_hour']:.1f} runs per hour with --jobs {f['jobs']}\n"
        )


if __name__ == "__main__":
    main()
