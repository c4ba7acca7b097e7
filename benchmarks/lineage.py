"""Benchmark lineage analysis on a synthetic run file of 1,000,000 individuals.

Builds a run (10,000 generations x 100 individuals by default; tournament-like parent choice,
a fraction of two-parent children) with tests/runfile_builder.py, then times the line of
descent, coalescence, founder lineages and diversity, and the ALife CSV export, and reports
peak memory (tracemalloc peak of the analysis, measured in an untimed second pass, and the
process's maximum resident size, which includes building the file).

    python benchmarks/lineage.py [--generations N] [--population N] [--genome-length G] [--json]
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from runfile_builder import build_run_file  # noqa: E402

from evosandbox import lineage  # noqa: E402
from evosandbox.runfile.run_read import RunReader  # noqa: E402


def synthetic_tree(generations, population, crossover_fraction, seed):
    """Return (parents (N, 2), generation (N,), fitness (N,)) of a selection-like family tree."""
    rng = np.random.default_rng(seed)
    count = generations * population
    generation = np.repeat(np.arange(generations, dtype=np.int32), population)
    parents = np.full((count, 2), -1, np.int64)
    fitness = np.empty(count, np.float32)
    fitness[:population] = rng.random(population)
    for g in range(1, generations):
        previous = np.arange((g - 1) * population, g * population)
        # Tournament of three: the fittest of three random members of the previous generation.
        contestants = rng.choice(previous, size=(population, 2, 3))
        winners = np.take_along_axis(contestants, np.argmax(fitness[contestants], axis=2)[..., None], axis=2)[..., 0]
        rows = slice(g * population, (g + 1) * population)
        parents[rows, 0] = winners[:, 0]
        two = rng.random(population) < crossover_fraction
        parents[rows, 1] = np.where(two & (winners[:, 1] != winners[:, 0]), winners[:, 1], -1)
        fitness[rows] = fitness[winners[:, 0]] + rng.normal(0, 0.01, population)
    return parents, generation, fitness


def main(argv=None):
    """Build the synthetic run, time the analysis, print the figures (or one JSON object)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=10_000)
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--genome-length", type=int, default=16)
    parser.add_argument("--crossover-fraction", type=float, default=0.2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = {
        "individuals": args.generations * args.population,
        "generations": args.generations,
        "population": args.population,
        "genome_length": args.genome_length,
        "crossover_fraction": args.crossover_fraction,
    }
    with tempfile.TemporaryDirectory(prefix="evosandbox-bench-") as folder:
        path = os.path.join(folder, "run.h5")
        started = time.perf_counter()
        parents, generation, fitness = synthetic_tree(args.generations, args.population, args.crossover_fraction, 1)
        build_run_file(
            path, parents, generation, fitness, genome_length=args.genome_length, population_size=args.population
        )
        del parents, generation, fitness
        figures["build_s"] = round(time.perf_counter() - started, 2)
        figures["file_mb"] = round(os.path.getsize(path) / 1e6, 1)

        for label, sample in (("lod_coalescence", 0), ("with_diversity", 64)):
            started = time.perf_counter()
            with RunReader(path) as reader:
                report = lineage.analyse_lineage(reader, diversity_sample=sample)
            figures[f"{label}_s"] = round(time.perf_counter() - started, 2)
            # Memory in a second pass: tracemalloc slows Python allocations, so it is not timed.
            tracemalloc.start()
            with RunReader(path) as reader:
                lineage.analyse_lineage(reader, diversity_sample=sample)
            figures[f"{label}_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
            tracemalloc.stop()

        started = time.perf_counter()
        with RunReader(path) as reader:
            lineage.write_phylogeny_csv(reader, report, os.path.join(folder, "phylogeny.csv"))
        figures["alife_csv_s"] = round(time.perf_counter() - started, 2)
        figures["alife_csv_mb"] = round(os.path.getsize(os.path.join(folder, "phylogeny.csv")) / 1e6, 1)
        figures["genomes_mb_if_loaded"] = round(figures["individuals"] * args.genome_length * 4 / 1e6, 1)
        figures["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        figures["lod_length"] = int(len(report.line_of_descent))
        figures["mrca_generation"] = report.mrca_generation
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
