"""Time a full mesa report (learning, thinking, generalisation; 1,000 lifetimes or levels each).

Runs ``evosandbox mesa`` in-process for each agent given (default: a random 8-unit recurrent
controller of the world, the worst case for time since it rarely ends an episode early, and
the wsls policy), once to compile the kernels and once timed, and prints the seconds of the
timed report beside the verdicts.

    python benchmarks/mesa.py [--world which-door] [--episodes 1000] [--source RUN_DIR ...] [--json]
"""

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time

import numpy as np

from evosandbox.cli import main
from evosandbox.genomes import load_genome_preset, make_encoding
from evosandbox.runfile.genome import write_genome
from evosandbox.worlds import resolve_world

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_genome_file(world, folder):
    """Write a genome file of a random direct-small controller for ``world``; return its path."""
    preset = load_genome_preset(os.path.join(ROOT, "genomes", "direct-small.toml"))
    encoding = make_encoding(preset, world)
    genome = encoding.initial_genomes(1, np.random.default_rng(0))[0]
    path = os.path.join(folder, "random.h5")
    write_genome(path, genome, preset, train_world=world)
    return path


def timed_report(arguments):
    """Run ``evosandbox mesa ARGUMENTS --json``; return (seconds, report)."""
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["mesa", *arguments, "--json"])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"mesa {' '.join(arguments)} exited {code}")
    return seconds, json.loads(out.getvalue())


def run(world_name, episodes, sources):
    """Time one report per source; return rows (source, seconds, verdicts)."""
    world = resolve_world(world_name)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        agents = [[source] for source in sources] or [[random_genome_file(world, folder)], ["--policy", "wsls"]]
        for agent in agents:
            arguments = [*agent, "--world", world.path, "--episodes", str(episodes)]
            timed_report([*agent, "--world", world.path, "--episodes", "20"])  # compile
            seconds, report = timed_report(arguments)
            verdicts = {key: value for key, value in report.items() if key.endswith("_verdict")}
            label = "random recurrent controller" if agent[0].endswith("random.h5") else " ".join(agent)
            rows.append({"agent": label, "seconds": round(seconds, 2), **verdicts})
    return rows


def parse_arguments(argv=None):
    """Parse the benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="which-door")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--source", action="append", default=[], metavar="RUN_DIR|GENOME.h5")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_arguments()
    rows = run(args.world, args.episodes, args.source)
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            extras = "  ".join(
                f"{key.replace('_verdict', '')}: {value}" for key, value in row.items() if key.endswith("_verdict")
            )
            print(f"{row['agent']:<32} {row['seconds']:7.2f} s   {extras}")
    sys.exit(0)
