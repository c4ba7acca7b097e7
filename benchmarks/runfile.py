"""Benchmark run files with genomes = "seeds" against "full": bytes per individual, rebuild times.

For es with direct-small (the red-door experiment's algorithm and genome, configs/demo.toml)
and the GA with direct (configs/red-doors-ga.toml), the same run is written both ways; then
one thread rebuilds single random genomes (median and worst, an open reader, the first call
left out as warm-up; then cold, a reader opened for each) and a batch of 1,000 random ones,
and checks them against the full file.
``--run RUN_DIR`` times the rebuilds (and ``--lineage``, ``lineage --reevaluate`` over the
champion's line of descent) on an existing run, e.g. the one ``make demo`` writes.

    python benchmarks/runfile.py [--generations 40] [--singles 20] [--batch 1000] [--json]
    python benchmarks/runfile.py --run demo-out/run --lineage [--json]
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {"es": os.path.join(ROOT, "configs", "demo.toml"), "ga": os.path.join(ROOT, "configs", "red-doors-ga.toml")}


def parse_arguments(argv=None):
    """Parse the benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=40, help="generations of each run (default 40)")
    parser.add_argument("--singles", type=int, default=20, help="single random genomes timed (default 20)")
    parser.add_argument("--batch", type=int, default=1000, help="genomes in the timed batch (default 1000)")
    parser.add_argument("--algorithms", default="es,ga", help="comma-separated cases: es, ga (default both)")
    parser.add_argument("--run", metavar="RUN_DIR", help="time rebuilds on this run instead of writing new ones")
    parser.add_argument("--lineage", action="store_true", help="with --run: time lineage --reevaluate too")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def rebuild_times(run_path, singles, batch, reference=None, seed=0):
    """Return rebuild timings (1 thread) of ``run_path``; check them against ``reference`` (a full run)."""
    import numba

    from evosandbox.runfile.run_read import RunReader

    numba.set_num_threads(1)
    rng = np.random.default_rng(seed)
    with RunReader(run_path) as reader:
        count = reader.individual_count
        reader.genome(int(rng.integers(count)))  # warm-up: kernels loaded, specs parsed
        ids = rng.integers(0, count, singles)
        seconds = []
        for individual in ids.tolist():
            started = time.perf_counter()
            genome = reader.genome(individual)
            seconds.append(time.perf_counter() - started)
            if reference is not None:
                assert np.array_equal(genome, reference.genome(individual)), individual
        chosen = rng.integers(0, count, batch)
        cold_ids = rng.integers(0, count, singles)
        started = time.perf_counter()
        genomes = reader.genomes(chosen)
        batch_seconds = time.perf_counter() - started
        if reference is not None:
            assert np.array_equal(genomes, reference.genomes(chosen))
    # Cold: each genome by a reader of its own, opened for it (one ``probe RUN_DIR``), so no
    # keyframe or state an earlier rebuild kept is reused.
    cold = []
    for individual in cold_ids.tolist():
        started = time.perf_counter()
        with RunReader(run_path) as reader:
            genome = reader.genome(individual)
        cold.append(time.perf_counter() - started)
        if reference is not None:
            assert np.array_equal(genome, reference.genome(individual)), individual
    return {
        "single_median_ms": 1e3 * float(np.median(seconds)),
        "single_worst_ms": 1e3 * float(max(seconds)),
        "cold_median_ms": 1e3 * float(np.median(cold)),
        "cold_worst_ms": 1e3 * float(max(cold)),
        "batch_size": int(batch),
        "batch_s": batch_seconds,
    }


def measure_case(name, generations, singles, batch):
    """Write one case both ways and return its figures."""
    from evosandbox import evolve as evolution
    from evosandbox.runfile.run_read import RunReader

    base = evolution.load_experiment(CASES[name], generations=generations)
    figures = {
        "config": os.path.relpath(CASES[name], ROOT),
        "generations": generations,
        "population": base.algorithm.population_size,
        "keyframe_every": base.keyframe_every,
    }
    with tempfile.TemporaryDirectory(prefix="evosandbox-runfile-") as folder:
        for storage in ("full", "seeds"):
            config = dataclasses.replace(base, genomes=storage, genome_compression="none")
            run_dir = os.path.join(folder, storage)
            started = time.perf_counter()
            evolution.evolve(config, run_dir, progress=False)
            figures[f"{storage}_wall_s"] = time.perf_counter() - started
            size = os.path.getsize(os.path.join(run_dir, evolution.RUN_FILE))
            with RunReader(run_dir) as reader:
                count = reader.individual_count
                figures["genome_bytes"] = 4 * reader.genome_length
            figures[f"{storage}_bytes"] = size
            figures[f"{storage}_bytes_per_individual"] = size / count
        figures["individuals"] = count
        figures["ratio"] = figures["seeds_bytes"] / figures["full_bytes"]
        with RunReader(os.path.join(folder, "full")) as reference:
            figures.update(rebuild_times(os.path.join(folder, "seeds"), singles, batch, reference))
    return figures


def measure_run(run_dir, singles, batch, lineage):
    """Return rebuild (and lineage --reevaluate) timings of an existing run."""
    from evosandbox.runfile.run_read import RunReader

    with RunReader(run_dir) as reader:
        figures = {
            "run": run_dir,
            "genome_storage": reader.genome_storage,
            "individuals": reader.individual_count,
            "bytes": os.path.getsize(reader.path),
        }
        figures["bytes_per_individual"] = figures["bytes"] / reader.individual_count
    figures.update(rebuild_times(run_dir, singles, batch))
    if lineage:
        import numba

        from evosandbox.lineage import analyse_lineage

        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        started = time.perf_counter()
        report = analyse_lineage(
            run_dir, reevaluate_world=os.path.join(ROOT, "worlds", "red-doors-test.toml"), episodes=200
        )
        figures["lineage_reevaluate_s"] = time.perf_counter() - started
        figures["line_of_descent"] = int(len(report.line_of_descent))
    return figures


def main(argv=None):
    """Run the benchmark and print its figures."""
    arguments = parse_arguments(argv)
    if arguments.run:
        figures = {"run": measure_run(arguments.run, arguments.singles, arguments.batch, arguments.lineage)}
    else:
        figures = {
            name: measure_case(name, arguments.generations, arguments.singles, arguments.batch)
            for name in arguments.algorithms.split(",")
        }
    if arguments.json:
        print(json.dumps(figures))
        return 0
    for name, case in figures.items():
        if name == "run":
            print(
                f"{case['run']} ({case['genome_storage']}): {case['individuals']} individuals, {case['bytes']:,} bytes, "
                f"{case['bytes_per_individual']:.1f} per individual"
            )
        else:
            print(
                f"{name} ({case['config']}, {case['generations']} generations of {case['population']}, "
                f"keyframe every {case['keyframe_every']}, genome {case['genome_bytes']:,} bytes)"
            )
            print(
                f"  bytes per individual   full {case['full_bytes_per_individual']:10,.1f}   seeds {case['seeds_bytes_per_individual']:8,.1f}"
                f"   ({100 * case['ratio']:.2f}% of full)"
            )
            print(f"  run wall time          full {case['full_wall_s']:8.1f} s   seeds {case['seeds_wall_s']:8.1f} s")
        print(
            f"  one random genome      median {case['single_median_ms']:.1f} ms, worst {case['single_worst_ms']:.1f} ms (1 thread)"
        )
        print(
            f"  the same, cold         median {case['cold_median_ms']:.1f} ms, worst {case['cold_worst_ms']:.1f} ms "
            "(a reader opened for each)"
        )
        print(f"  {case['batch_size']:,} random genomes   {case['batch_s']:.2f} s (1 thread)")
        if "lineage_reevaluate_s" in case:
            print(
                f"  lineage --reevaluate   {case['lineage_reevaluate_s']:.1f} s over {case['line_of_descent']} ancestors"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
