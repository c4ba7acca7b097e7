"""Measure the information funnel of every shipped genome preset.

Per preset: genome length, controller parameters, compression ratio (parameters / genes),
develop time per genome (a batch of --population genomes, all numba threads), and mutation
spread (the mean fraction of controller parameters that one single-gene mutation of size
mutation_sigma changes by more than 1% of the controller's RMS parameter).

With --evolve N it also runs a small truncation-selection GA for N generations per preset on
the world (population --ga-population, --levels fresh levels per generation, fitness = door
rate) and reports the best and mean door rate of the final elite on 64 unseen levels: a quick
check that each encoding can get off the ground.

    python benchmarks/funnel.py [--json] [--world worlds/red-doors-train.toml] [--evolve 30]
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

from evosandbox.config import load_world
from evosandbox.genomes import load_genome_preset, make_encoding, mutate_gaussian, mutation_spread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(encoding, population, repeats, seed):
    """Return the funnel figures of one encoding."""
    rng = np.random.default_rng(seed)
    genomes = encoding.initial_genomes(population, rng)
    encoding.develop(genomes[:2])  # compile (or load the cache) outside the timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoding.develop(genomes)
        best = min(best, time.perf_counter() - start)
    spread = mutation_spread(encoding, genomes[:64], rng)
    return {
        "compression_ratio": round(encoding.compression_ratio, 2),
        "genome_length": encoding.genome_length,
        "controller_parameters": encoding.controller_shape.parameter_count,
        "develop_us_per_genome": round(best / population * 1e6, 1),
        "mutation_spread": float(f"{spread.mean():.3g}"),
    }


def evolve(encoding, world, generations, population, levels, seed):
    """Run a truncation-selection GA on door rate; return the final elite's door rates on unseen levels."""
    from evosandbox.simulate import level_seeds_for, rollout

    rng = np.random.default_rng(seed)
    genomes = encoding.initial_genomes(population, rng)
    elite_count = population // 4
    for generation in range(generations):
        result = rollout(world, encoding.develop(genomes), level_seeds_for(seed + generation, levels), generation)
        door_rate = (result.entered_tile == 2).reshape(population, -1).mean(axis=1)
        order = np.argsort(-door_rate + 1e-3 * rng.random(population))  # random tie-break
        elite = genomes[order[:elite_count]]
        children = elite[rng.integers(0, elite_count, population - elite_count)].copy()
        for child in children:
            mutate_gaussian(child, encoding.mutation_sigma, encoding.mutation_rate, rng)
        genomes = np.vstack([elite, children])
    final = rollout(world, encoding.develop(genomes[:elite_count]), level_seeds_for(10**6 + seed, 64), 0)
    door_rate = (final.entered_tile == 2).reshape(elite_count, -1).mean(axis=1)
    return {"generations": generations, "best_door_rate": float(door_rate.max()), "mean_door_rate": float(door_rate.mean())}


def main(argv=None):
    """Print the funnel table (or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default=os.path.join(ROOT, "worlds", "red-doors-train.toml"))
    parser.add_argument("--presets", nargs="*", default=sorted(glob.glob(os.path.join(ROOT, "genomes", "*.toml"))))
    parser.add_argument("--population", type=int, default=1024, help="genomes developed per timed batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evolve", type=int, default=0, metavar="N", help="also run an N-generation GA per preset")
    parser.add_argument("--ga-population", type=int, default=128)
    parser.add_argument("--levels", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    world = load_world(args.world)
    report = {"world": world.name, "population": args.population, "encodings": {}}
    for path in args.presets:
        spec = load_genome_preset(path)
        encoding = make_encoding(spec, world)
        figures = measure(encoding, args.population, args.repeats, args.seed)
        if args.evolve:
            figures["evolvability"] = evolve(encoding, world, args.evolve, args.ga_population, args.levels, args.seed)
        report["encodings"][spec.name] = figures
        if not args.json:
            line = (f"{spec.name:22s} {spec.encoding:14s} genes {figures['genome_length']:6d}  params "
                    f"{figures['controller_parameters']:6d}  ratio {figures['compression_ratio']:7.1f}x  develop "
                    f"{figures['develop_us_per_genome']:7.1f} us/genome  mutation spread {figures['mutation_spread']:.3g}")
            if args.evolve:
                e = figures["evolvability"]
                line += f"  GA door rate best {e['best_door_rate']:.2f} mean {e['mean_door_rate']:.2f}"
            print(line, flush=True)
    if args.json:
        json.dump(report, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
