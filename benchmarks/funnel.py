"""Measure the information funnel of every shipped genome preset.

Per preset: genome length, controller parameters, compression ratio (parameters / genes),
develop time per genome (a batch of --population genomes, all numba threads), and mutation
spread (the mean fraction of controller parameters that one single-gene mutation of size
mutation_sigma changes by more than 1% of the controller's RMS parameter).

With --evolve N it also runs a small truncation-selection GA for N generations per preset on
the world (population --ga-population, --levels fresh levels per generation, fitness = door
rate) and reports the best and mean door rate of the final elite on 64 unseen levels: a quick
check that each encoding can get off the ground.

Per preset it also reports neuronal diversity (Nisioti et al. 2024): the mean cosine similarity
of hidden units' incoming weight vectors over 16 random genomes (near 1: every neuron grew alike;
a direct encoding's random neurons sit near 0).

With --distill RUN_DIR (a competent run, e.g. of configs/red-doors.toml) it asks "representation
or search?" without the environment: the run's champion plays --distill-levels training levels,
its observations and actions are recorded, and each preset's genome is fitted to imitate those
actions (teacher forcing; Adam on the cross-entropy's gradient, by backpropagation through time
and the chain rule through develop, for --distill-iterations steps, or with --distill-method es
a natural evolution strategy); the fitted controller then plays --distill-test fresh levels.
If an encoding cannot reach about the teacher's door rate this way, it cannot express the policy.
When RUN_DIR holds no run yet, the teacher is evolved there first, deterministically: the run of
``evosandbox evolve configs/red-doors.toml --out RUN_DIR --seed 1 --generations 1000`` (direct
encoding, 99.0% validation; --teacher-generations changes the length), so one command gives
every preset's distillation figure from a fresh clone.

    python benchmarks/funnel.py [--json] [--world worlds/red-doors-train.toml] [--evolve 30]
    python benchmarks/funnel.py --distill /work/out/funnel/direct --presets genomes/cppn.toml
    python benchmarks/funnel.py --funnel-widths --distill /work/out/funnel/direct   # the funnel-width presets
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

from evosandbox.config import load_world
from evosandbox.errors import InputError, UsageError
from evosandbox.genomes import load_genome_preset, make_encoding, mutate_gaussian, mutation_spread
from evosandbox.simulate import level_seeds_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEACHER_CONFIG = os.path.join(ROOT, "configs", "red-doors.toml")
"""The competent direct experiment the distillation teacher is evolved with."""
TEACHER_SEED = 1
FUNNEL_WIDTHS = (
    "direct-small",
    "subspace-large",
    "subspace",
    "subspace-small",
    "cppn-h8-large",
    "cppn-h8",
    "cppn-h8-small",
    "developmental-h8-large",
    "developmental-h8",
    "developmental-h8-small",
    "direct",
    "factored-large",
    "factored",
    "factored-small",
    "cppn-separable-large",
    "cppn-separable",
    "cppn-separable-small",
    "developmental-separable-large",
    "developmental-separable",
    "developmental-separable-small",
)
"""The funnel-width presets and their 1x controls: the conditions of sweeps/funnel-h8.toml and
sweeps/funnel-width.toml. Each indirect encoding at about 20x, 50x and 200x of the controller it
grows: direct-small's 8 units for subspace, cppn-h8 and developmental-h8, the 32-unit controller
for factored and the separable cppn and developmental substrates."""


def ensure_teacher(run_dir, generations, quiet):
    """Evolve the distillation teacher into ``run_dir`` unless it already holds a run; return whether it did."""
    from evosandbox.evolve import evolve as evolve_run
    from evosandbox.evolve import load_experiment

    if os.path.exists(os.path.join(run_dir, "run.h5")):
        return False
    if not quiet:
        print(
            f"no run in {run_dir}: evolving the teacher (evosandbox evolve {os.path.relpath(TEACHER_CONFIG, ROOT)} "
            f"--out {run_dir} --seed {TEACHER_SEED} --generations {generations})",
            flush=True,
        )
    config = load_experiment(TEACHER_CONFIG, seed=TEACHER_SEED, generations=generations)
    evolve_run(config, run_dir, progress=False)
    return True


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
    from evosandbox.distill import hidden_similarity

    similarity, _ = hidden_similarity(encoding.develop(genomes[:16]))
    return {
        "compression_ratio": round(encoding.compression_ratio, 3),  # printed to one decimal: round once there
        "genome_length": encoding.genome_length,
        "controller_parameters": encoding.controller_shape.parameter_count,
        "develop_us_per_genome": round(best / population * 1e6, 1),
        "mutation_spread": float(f"{spread.mean():.3g}"),
        "hidden_cosine_random": round(float(np.mean(similarity)), 3),
    }


def distill(encoding, world, teacher, demonstrations, held_out, args):
    """Fit one encoding to the teacher's actions; return imitation and door-rate figures."""
    from evosandbox.distill import door_rate, fit_by_gradient, fit_to_demonstrations, hidden_similarity, imitation

    if args.distill_method == "gradient":
        fit = fit_by_gradient(
            encoding,
            demonstrations,
            iterations=args.distill_iterations,
            learning_rate=args.distill_learning_rate or 0.02,
            seed=args.seed,
        )
    else:
        fit = fit_to_demonstrations(
            encoding,
            demonstrations,
            iterations=args.distill_iterations,
            pairs=args.distill_pairs,
            sigma=args.distill_sigma,
            learning_rate=args.distill_learning_rate or 0.03,
            seed=args.seed,
        )
    student = encoding.develop(fit.genome)
    _, held_out_agreement = imitation(student, held_out)
    fresh = level_seeds_for(args.seed, args.distill_test, salt=7)
    similarity, _ = hidden_similarity(student)
    return {
        "method": args.distill_method,
        "iterations": fit.iterations,
        "seconds": round(fit.seconds, 1),
        "train_agreement": round(fit.agreement, 4),
        "held_out_agreement": round(float(held_out_agreement[0]), 4),
        "door_rate": round(float(door_rate(world, student, fresh)[0]), 4),
        "teacher_door_rate": round(float(door_rate(world, teacher, fresh)[0]), 4),
        "hidden_cosine": round(float(similarity[0]), 3),
        "history": fit.history,
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
    return {
        "generations": generations,
        "best_door_rate": float(door_rate.max()),
        "mean_door_rate": float(door_rate.mean()),
    }


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
    parser.add_argument(
        "--funnel-widths",
        action="store_true",
        help="measure the funnel-width presets (sweeps/funnel-h8.toml's and funnel-width.toml's conditions)",
    )
    parser.add_argument(
        "--distill",
        metavar="RUN_DIR",
        help="fit every preset to this run's champion's actions (a missing run is evolved first: see --teacher-generations)",
    )
    parser.add_argument(
        "--teacher-generations",
        type=int,
        default=1000,
        help="generations of the teacher evolved into an empty --distill RUN_DIR (configs/red-doors.toml, seed 1)",
    )
    parser.add_argument("--distill-levels", type=int, default=1024, help="training levels the teacher is recorded on")
    parser.add_argument(
        "--distill-method",
        choices=("gradient", "es"),
        default="gradient",
        help="backpropagation through time and the chain rule through develop, or an evolution strategy",
    )
    parser.add_argument("--distill-iterations", type=int, default=300)
    parser.add_argument("--distill-pairs", type=int, default=32, help="es: mirrored pairs per step")
    parser.add_argument("--distill-sigma", type=float, default=0.1, help="es: sample spread")
    parser.add_argument("--distill-learning-rate", type=float, default=None, help="Adam step (gradient 0.02, es 0.03)")
    parser.add_argument("--distill-test", type=int, default=500, help="fresh levels the fitted controller plays")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except InputError as error:
        print(f"benchmarks/funnel.py: {error.line()}", file=sys.stderr)
        return 2


def run(args):
    """Measure every preset the arguments name; print the table or the JSON report."""
    if args.funnel_widths:
        args.presets = [os.path.join(ROOT, "genomes", f"{name}.toml") for name in FUNNEL_WIDTHS]
    if args.teacher_generations < 1:
        raise UsageError("must be at least 1", "--teacher-generations")
    world = load_world(args.world)
    report = {"world": world.name, "population": args.population, "encodings": {}}
    if args.distill:
        evolved = ensure_teacher(args.distill, args.teacher_generations, args.json)
        from evosandbox.agents import resolve_agent
        from evosandbox.distill import as_params, record_demonstrations

        teacher = as_params(resolve_agent(world, source=args.distill).policy)
        demonstrations = record_demonstrations(world, teacher, level_seeds_for(args.seed, args.distill_levels, salt=5))
        held_out = record_demonstrations(world, teacher, level_seeds_for(args.seed, args.distill_levels, salt=6))
        # The agreement of always taking the teacher's commonest action: what imitation must beat.
        majority = float(np.bincount(demonstrations.actions).max() / demonstrations.step_count)
        report["distill"] = {
            "teacher": args.distill,
            "teacher_evolved": evolved,
            "levels": args.distill_levels,
            "steps": demonstrations.step_count,
            "teacher_door_rate_recorded": demonstrations.teacher_door_rate,
            "majority_action_agreement": round(majority, 4),
        }
        if not args.json:
            print(
                f"teacher {args.distill}: {demonstrations.step_count} steps on {args.distill_levels} levels, "
                f"door rate {demonstrations.teacher_door_rate:.3f}; its commonest action alone agrees {majority:.3f}",
                flush=True,
            )
    for path in args.presets:
        spec = load_genome_preset(path)
        encoding = make_encoding(spec, world)
        figures = measure(encoding, args.population, args.repeats, args.seed)
        if args.evolve:
            figures["evolvability"] = evolve(encoding, world, args.evolve, args.ga_population, args.levels, args.seed)
        if args.distill:
            figures["distill"] = distill(encoding, world, teacher, demonstrations, held_out, args)
        report["encodings"][spec.name] = figures
        if not args.json:
            line = (
                f"{spec.name:22s} {spec.encoding:14s} genes {figures['genome_length']:6d}  params "
                f"{figures['controller_parameters']:6d}  ratio {figures['compression_ratio']:7.1f}x  develop "
                f"{figures['develop_us_per_genome']:7.1f} us/genome  mutation spread {figures['mutation_spread']:.3g}  "
                f"hidden cosine {figures['hidden_cosine_random']:.2f}"
            )
            if args.evolve:
                e = figures["evolvability"]
                line += f"  GA door rate best {e['best_door_rate']:.2f} mean {e['mean_door_rate']:.2f}"
            if args.distill:
                d = figures["distill"]
                line += (
                    f"  distilled: agreement {d['train_agreement']:.3f} (held out {d['held_out_agreement']:.3f}), "
                    f"door rate {d['door_rate']:.3f} (teacher {d['teacher_door_rate']:.3f}), "
                    f"hidden cosine {d['hidden_cosine']:.2f}, {d['seconds']:.0f} s"
                )
            print(line, flush=True)
    if args.json:
        json.dump(report, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
