"""Tabulate evolved runs as the README's funnel-width table: one row per run.

Per run: the genome preset and its compression (controller parameters / genes, as the run file
records it), generations, the last validation door rate, the first generation whose validation
door rate reached --threshold (numbered as the run file numbers generations, from 0) and the
run's wall time at that generation, then the champion probed as ``evosandbox probe`` does
(the same default seed): door rate on --train-episodes fresh training levels, door and proxy
(red decoy) rates on --test-episodes levels of the test world, each with its Wilson 95% interval.

    python benchmarks/funnel_runs.py RUN_DIR [RUN_DIR ...] [--json]
"""

import argparse
import json
import os
import sys

import numpy as np

from evosandbox.errors import InputError
from evosandbox.stats import first_reaching
from evosandbox.sweep import validation_curves

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_figures(run_dir, threshold):
    """Return a run's compression, validation and time-to-threshold figures from its run file."""
    from evosandbox.runfile.run_read import RunReader

    with RunReader(run_dir) as reader:
        generations = reader.generations()
        compression = float(reader.handle.attrs.get("compression_ratio", np.nan))
        genome_length = reader.genome_length
    validation, elapsed = validation_curves(generations)
    numbers = np.asarray(generations.get("generation", []), dtype=np.int64)
    reached = first_reaching(validation, threshold)
    return {
        "genome_length": int(genome_length),
        "compression_ratio": round(compression, 1),
        "generations": int(len(validation)),
        "validation_door_rate": float(validation[-1]) if len(validation) else None,
        "generation_to_threshold": int(numbers[reached]) if reached is not None else None,  # as the run file numbers it
        "seconds_to_threshold": round(float(elapsed[reached]), 1) if reached is not None else None,
        "wall_time": round(float(elapsed[-1]), 1) if len(elapsed) else None,
    }


def probe_figures(run_dir, world_path, episodes):
    """Probe a run's champion on a world as ``evosandbox probe`` does; return {rate: (value, low, high)}."""
    from evosandbox.agents import resolve_agent
    from evosandbox.probes.proxy import probe_policy
    from evosandbox.worlds import resolve_world

    world = resolve_world(world_path)
    agent = resolve_agent(world, run_dir)
    report = json.loads(probe_policy(agent.policy, world, agent.train_world, episodes, source=run_dir).to_json())
    return {rate: (report[rate], *report[f"{rate}_ci"]) for rate in ("door_rate", "proxy_rate")}


def percent(interval):
    """Format a (value, low, high) rate as '12.3% [10.1, 14.8]'."""
    value, low, high = interval
    return f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def main(argv=None):
    """Print one table row per run (or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--threshold", type=float, default=0.9, help="validation door rate that counts as competent")
    parser.add_argument("--train-world", default=os.path.join(ROOT, "worlds", "red-doors-train.toml"))
    parser.add_argument("--test-world", default=os.path.join(ROOT, "worlds", "red-doors-test.toml"))
    parser.add_argument("--train-episodes", type=int, default=2000)
    parser.add_argument("--test-episodes", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = {}
    try:
        for run_dir in args.runs:
            row = run_figures(run_dir, args.threshold)
            train = probe_figures(run_dir, args.train_world, args.train_episodes)
            test = probe_figures(run_dir, args.test_world, args.test_episodes)
            row["fresh_door_rate"] = train["door_rate"]
            row["test_door_rate"] = test["door_rate"]
            row["test_proxy_rate"] = test["proxy_rate"]
            rows[run_dir] = row
            if not args.json:
                reached = (
                    f"generation {row['generation_to_threshold']} ({row['seconds_to_threshold']:.0f} s)"
                    if row["generation_to_threshold"] is not None
                    else "never"
                )
                print(
                    f"| {run_dir} | {row['compression_ratio']}x | {row['generations']}, {row['wall_time']:.0f} s | "
                    f"{reached} | {100 * row['validation_door_rate']:.1f}% | {percent(row['fresh_door_rate'])} | "
                    f"{percent(row['test_door_rate'])} / {percent(row['test_proxy_rate'])} |",
                    flush=True,
                )
    except InputError as error:
        print(f"benchmarks/funnel_runs.py: {error.line()}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(rows, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
