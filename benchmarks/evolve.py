"""Benchmark the base optimizer: generations per minute, agent-steps per second, overhead.

Population 1,024 x 8 episodes on the red-door training world (direct encoding by default).
Reports the share of wall time spent outside the rollout kernel (DEAP bookkeeping, develop,
lineage writing, checkpoint), that time per generation by stage, and the run-file bytes per
individual next to the genome bytes.

    python benchmarks/evolve.py [--generations 5] [--population 1024] [--levels 8]
                                [--genome genomes/direct.toml] [--algorithm ga|es] [--genomes seeds|full]
                                [--threads N] [--json]
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_arguments(argv=None):
    """Parse the benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=5, help="timed generations (default 5)")
    parser.add_argument("--population", type=int, default=1024, help="individuals per generation (default 1024)")
    parser.add_argument("--levels", type=int, default=8, help="training episodes per individual (default 8)")
    parser.add_argument("--genome", default=os.path.join(ROOT, "genomes", "direct.toml"), help="genome preset")
    parser.add_argument(
        "--algorithm",
        choices=("ga", "es"),
        default="ga",
        help="ga (tournament GA, the default) or es (the evolution strategy of configs/red-doors.toml)",
    )
    parser.add_argument(
        "--genomes",
        choices=("seeds", "full"),
        default="seeds",
        help="run-file genome storage: seeds (the default) or full (every row)",
    )
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def build_config(arguments):
    """Return the benchmark's experiment: the smoke config scaled up to the asked population."""
    from evosandbox import evolve as evolution
    from evosandbox.genomes import load_genome_preset

    config = evolution.load_experiment(
        os.path.join(ROOT, "configs", "smoke.toml"), generations=arguments.generations, threads=arguments.threads
    )
    genome_preset = load_genome_preset(arguments.genome)
    values = dict(population_size=arguments.population, hall_of_fame=8)
    if arguments.algorithm == "ga":  # each algorithm takes only its own parameters
        values.update(
            parents=max(4, arguments.population // 8),
            mutation_sigma=genome_preset.mutation_sigma,
            mutation_rate=genome_preset.mutation_rate,
        )
    config = evolution.with_algorithm(config, arguments.algorithm, **values)
    return dataclasses.replace(
        config,
        genome_preset=genome_preset,
        levels=arguments.levels,
        genomes=arguments.genomes,
        objectives=("return",),
        validation_levels=200,
        test_every=10**9,
        test_worlds=(),
    )


def warm_up(config):
    """Compile (or load from cache) every kernel the run will call, outside the timing."""
    from evosandbox import evolve as evolution

    # Two generations of a tiny population reach every kernel: develop, rollout and variation.
    small = dict(parents=4) if hasattr(config.algorithm, "parents") else {}
    tiny = dataclasses.replace(
        evolution.with_algorithm(config, population_size=8, **small), generations=2, validation_levels=2
    )
    with tempfile.TemporaryDirectory(prefix="evosandbox-warm-") as folder:
        evolution.evolve(tiny, os.path.join(folder, "run"), progress=False)


def measure(arguments):
    """Run the benchmark and return its figures."""
    from evosandbox import evolve as evolution

    config = build_config(arguments)
    warm_up(config)
    with tempfile.TemporaryDirectory(prefix="evosandbox-bench-") as folder:
        run_dir = os.path.join(folder, "run")
        started = time.perf_counter()
        summary = evolution.evolve(config, run_dir, progress=False)
        wall = time.perf_counter() - started
        size = os.path.getsize(os.path.join(run_dir, evolution.RUN_FILE))
        checkpoint_size = os.path.getsize(os.path.join(run_dir, evolution.CHECKPOINT_FILE))
    individuals = arguments.population * arguments.generations
    rollout = summary.timings.get("rollout", 0.0)
    figures = {
        "population": arguments.population,
        "episodes_per_individual": arguments.levels,
        "generations": arguments.generations,
        "genome": os.path.basename(arguments.genome),
        "algorithm": arguments.algorithm,
        "genome_bytes": 4 * int(config.genome_preset and _genome_length(config)),
        "wall_s": wall,
        "generations_per_minute": 60.0 * arguments.generations / wall,
        "agent_steps_per_s": summary.agent_steps / wall,
        "outside_kernel_share": 1.0 - rollout / wall,
        "runfile_bytes_per_individual": size / individuals,
        "checkpoint_bytes": checkpoint_size,
        "seconds": {name: round(value, 4) for name, value in summary.timings.items()},
        "outside_kernel_ms_per_generation": outside_kernel_breakdown(summary, wall, arguments.generations),
    }
    return figures


STAGES = ("ask", "score", "select", "validate", "test", "checkpoint", "write", "other")


def outside_kernel_breakdown(summary, wall, generations):
    """Return the wall milliseconds per generation outside the rollout kernel, by stage.

    A stage's share is its time minus the rollout kernel's within it; develop (inside score and
    validate) is its own entry; ``setup and close`` is the call's time outside the generations
    (creating the run file, the first checkpoint, the last write and closing), spread over them. The entries
    add up to ``total``, which is the wall time outside the kernel.
    """
    timings, inside = summary.timings, summary.evaluator_timings
    breakdown = {"develop": 0.0}
    for stage in STAGES:
        parts = inside.get(stage, {})
        breakdown["develop"] += parts.get("develop", 0.0)
        breakdown[stage] = timings.get(stage, 0.0) - parts.get("rollout", 0.0) - parts.get("develop", 0.0)
    breakdown["setup and close"] = wall - timings.get("generations", 0.0)
    breakdown["total"] = wall - timings.get("rollout", 0.0)
    return {name: round(1000.0 * value / max(1, generations), 3) for name, value in breakdown.items()}


def _genome_length(config):
    """Return the genome length of the config's encoding."""
    from evosandbox.genomes import make_encoding

    return make_encoding(config.genome_preset, config.train_world).genome_length


def main(argv=None):
    """Run the benchmark and print its figures."""
    arguments = parse_arguments(argv)
    figures = measure(arguments)
    if arguments.json:
        print(json.dumps(figures))
        return 0
    print(
        f"{figures['algorithm']}, population {figures['population']} x {figures['episodes_per_individual']} episodes, "
        f"{figures['generations']} generations, genome {figures['genome']} ({figures['genome_bytes']} bytes)"
    )
    print(f"generations per minute      {figures['generations_per_minute']:10.2f}")
    print(f"agent steps per second      {figures['agent_steps_per_s']:10.0f}")
    print(f"outside-kernel share        {100 * figures['outside_kernel_share']:9.1f}%")
    print(
        f"run-file bytes / individual {figures['runfile_bytes_per_individual']:10.1f}  "
        f"(genome {figures['genome_bytes']} + {figures['runfile_bytes_per_individual'] - figures['genome_bytes']:.1f})"
    )
    print("seconds by stage            " + ", ".join(f"{k} {v:.2f}" for k, v in figures["seconds"].items()))
    breakdown = figures["outside_kernel_ms_per_generation"]
    print(
        "outside the kernel, ms per generation: "
        + ", ".join(f"{k} {v:.2f}" for k, v in breakdown.items() if k != "total")
        + f" = {breakdown['total']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
