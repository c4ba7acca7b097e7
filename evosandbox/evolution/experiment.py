"""The experiment config: load a TOML file (with command-line overrides), render it back.

An experiment names a training world, a genome preset, an algorithm with its parameters
(``[algorithm] name`` picks the parameter dataclass from the algorithm registry; a key that
belongs to another algorithm is an error), extra objectives, fitness shaping, validation and
test scoring, and where evaluation runs. ``render_config`` writes the resolved experiment (every
default filled in, absolute paths) into the run file.
"""

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from evosandbox.config import TableReader, load_world, read_toml
from evosandbox.errors import ConfigError, UsageError
from evosandbox.evolution.algorithms import AlgorithmParameters, algorithm_class, convert_parameters, read_parameters
from evosandbox.probes import probe_names
from evosandbox.runfile.rebuild import DEFAULT_KEYFRAME_EVERY, GENOME_STORAGES
from evosandbox.runfile.run_write import GENOME_COMPRESSIONS
from evosandbox.seeding import MAX_SEED, derive_generator, derive_seeds

OBJECTIVES = ("return", "description-length", "steps")
"""Objective names: the base objective (mean return, maximised) and the paper's simplicity
and time penalties (mean absolute gene, mean steps per episode; both minimised)."""
OBJECTIVE_WEIGHTS = {"return": 1.0, "description-length": -1.0, "steps": -1.0}
BACKENDS = ("local", "dask")
MAX_DISTINCT_LEVELS = 10**6
"""Largest pool of distinct training levels (a larger one is as good as fresh levels)."""


@dataclass(frozen=True)
class EvaluationConfig:
    """Where evaluation runs. Execution detail only: results do not depend on it."""

    backend: str = "local"
    """local (numba threads) or dask."""
    scheduler: str = ""
    """Dask scheduler address, tcp://HOST:PORT."""
    threads: int = 0
    """Numba threads for the local backend (0: numba's default, all cores)."""
    chunk_size: int = 0
    """Genomes per Dask task (0: split evenly over the workers)."""


@dataclass(frozen=True)
class ExperimentConfig:
    """An evolution experiment: world, genome, algorithm, evaluation and validation."""

    name: str
    path: str
    train_world: object
    """WorldSpec of the training world."""
    genome_preset: object
    """GenomeSpec of the genome encoding."""
    algorithm: AlgorithmParameters
    """The algorithm's parameters (GaParameters, EsParameters, ...; the name says which)."""
    seed: int = 0
    """Run seed."""
    generations: int = 100
    """Generations to run."""
    levels: int = 8
    """Training levels per generation (lifetimes per evaluation), shared by the population."""
    distinct_levels: int = 0
    """0: fresh procedural levels every generation. N > 0: training draws from a fixed pool of N
    level seeds of the run seed; a generation plays the whole pool when N <= levels, else
    ``levels`` of its levels drawn without replacement for that generation (see
    ``training_level_seeds``). Validation, test and probe levels never come from the pool."""
    objectives: tuple = ("return",)
    """Fitness columns: return first, then any of description-length, steps."""
    objective_weights: tuple = ()
    """Empty: the extra objectives are columns of their own (NSGA-II's Pareto fronts; the GA
    records them). One weight per extra objective: they are folded into the selection fitness,
    column 0 = return - sum(weight * measure) (a scalarised penalty, for es, cma-es and ga),
    and still recorded, unweighted, as columns 1.."""
    validation_levels: int = 200
    """Fixed validation levels on which hall-of-fame members and top parents are re-scored."""
    validation_seed: int = 0
    """Seed of the validation levels (independent of the run seed, so runs compare)."""
    validation_candidates: int = 2
    """Top parents (by selection fitness) validated each generation besides new hall-of-famers."""
    test_worlds: tuple = ()
    """WorldSpecs on which the champion is scored periodically (door and proxy rates)."""
    test_probes: tuple = ("proxy",)
    """Probes (``evosandbox.probes`` registry names) that score the champion on each test world;
    each one's metrics become /tests columns."""
    test_every: int = 10
    """Score the champion on the test worlds every this many generations (and at the end)."""
    test_levels: int = 200
    """Levels per test scoring."""
    test_seed: int = 0
    """Seed of the test levels."""
    evaluation: EvaluationConfig = EvaluationConfig()
    shaping: object = None
    """evaluate.Shaping of the selection fitness; None: the training world's return."""
    genome_compression: str = "none"
    """Compression of /genomes in the run file: none (fastest) or gzip (long direct-encoding runs)."""
    description: str = ""
    genomes: str = "seeds"
    """seeds: the run file stores what rebuilds every genome (ranks, seeds, keyframes;
    evosandbox/runfile/rebuild.py), about a thousand times smaller; full: every genome row in
    /genomes, plain arrays for h5dump. Default seeds where the algorithm rebuilds (es, ga,
    nsga2), else full (cma-es: its G x G covariance outweighs its samples)."""
    keyframe_every: int = DEFAULT_KEYFRAME_EVERY
    """With genomes = "seeds": the algorithm's state (es: mean and Adam moments; GA: the parent
    pool) is stored every this many generations, which bounds the work of one rebuild."""


def load_experiment(path, seed=None, generations=None, scheduler=None, threads=None):
    """Load an experiment config (TOML); flags given here override the file.

    Args:
        path: the config file; world and genome paths in it are relative to its folder.
        seed: run seed override.
        generations: generation count override.
        scheduler: Dask scheduler address; selects the dask backend.
        threads: numba thread count override.
    Returns:
        ExperimentConfig. Raises ConfigError naming the file and key on any problem.
    """
    from evosandbox.genomes import load_genome_preset

    path = os.fspath(path)
    data = read_toml(path)
    folder = os.path.dirname(os.path.abspath(path))
    root = TableReader(data, path)
    name = root.string("name", os.path.splitext(os.path.basename(path))[0])
    description = root.string("description", "")
    file_seed = root.integer("seed", 0, minimum=0, maximum=MAX_SEED)
    file_generations = root.integer("generations", 100, minimum=1)

    world = root.table_reader("world", required=True)
    train_path = _resolve(folder, world.string("train"))
    train_world = _load_referenced(load_world, train_path, world, "train")
    levels = world.integer("levels", 8, minimum=1)
    distinct_levels = world.integer("distinct_levels", 0, minimum=0, maximum=MAX_DISTINCT_LEVELS)
    world.finish()

    genome = root.table_reader("genome", required=True)
    preset_path = _resolve(folder, genome.string("preset"))
    genome_preset = _load_referenced(load_genome_preset, preset_path, genome, "preset")
    genome.finish()

    algorithm_reader = root.table_reader("algorithm")
    algorithm = read_parameters(algorithm_reader)
    if hasattr(algorithm, "mutation_sigma"):
        # Unset mutation settings resolve to the genome preset's, so the stored config is explicit.
        algorithm = dataclasses.replace(
            algorithm,
            mutation_sigma=algorithm.mutation_sigma if algorithm.mutation_sigma >= 0 else genome_preset.mutation_sigma,
            mutation_rate=algorithm.mutation_rate if algorithm.mutation_rate >= 0 else genome_preset.mutation_rate,
        )

    objectives_reader = root.table_reader("objectives")
    extra = objectives_reader.get("extra", list, [])
    for index, objective in enumerate(extra):
        if objective not in OBJECTIVES[1:]:
            raise objectives_reader.error(
                f"extra[{index}]", f"unknown objective {objective!r}, expected one of {', '.join(OBJECTIVES[1:])}"
            )
    if len(set(extra)) != len(extra):
        raise objectives_reader.error("extra", "names an objective twice")
    objective_weights = _read_objective_weights(objectives_reader, extra, algorithm.name)
    objectives_reader.finish()
    objectives = ("return", *extra)
    problem = algorithm_class(algorithm.name).check(algorithm, followed_objectives(objectives, objective_weights))
    if problem is not None:
        raise ConfigError(path, *problem)

    shaping = None
    if "fitness" in data:
        from evosandbox.evaluate import Shaping

        fitness_reader = root.table_reader("fitness")
        world_shaping = Shaping.of_world(train_world)
        shaping = Shaping(
            **{
                name: fitness_reader.number(
                    name, getattr(world_shaping, name), minimum=0.0 if name in ("step_cost", "exploration") else None
                )
                for name in ("door", "other", "timeout", "step_cost", "exploration")
            }
        )
        fitness_reader.finish()
    else:
        root.used.add("fitness")

    validation = root.table_reader("validation")
    validation_levels = validation.integer("levels", 200, minimum=1)
    validation_seed = validation.integer("seed", 0, minimum=0, maximum=MAX_SEED)
    validation_candidates = validation.integer("candidates", 2, minimum=0)
    validation.finish()

    test = root.table_reader("test")
    default_test = os.path.join(os.path.dirname(train_path), "red-doors-test.toml")
    test_paths = test.get("worlds", list, [default_test] if "worlds" not in test.table else None)
    test_worlds = []
    for index, test_path in enumerate(test_paths):
        if not isinstance(test_path, str):
            raise test.error(f"worlds[{index}]", f"expected a path string, got {type(test_path).__name__}")
        test_worlds.append(_load_referenced(load_world, _resolve(folder, test_path), test, f"worlds[{index}]"))
        _check_fits(train_world, test_worlds[-1], test, f"worlds[{index}]", default="worlds" not in test.table)
    test_probes = test.get("probes", list, ["proxy"])
    known_probes = probe_names()
    for index, probe_name in enumerate(test_probes):
        if probe_name not in known_probes:
            raise test.error(
                f"probes[{index}]", f"unknown probe {probe_name!r}, expected one of {', '.join(known_probes)}"
            )
    if len(set(test_probes)) != len(test_probes):
        raise test.error("probes", "names a probe twice")
    test_every = test.integer("every", 10, minimum=1)
    test_levels = test.integer("levels", 200, minimum=1)
    test_seed = test.integer("seed", 0, minimum=0, maximum=MAX_SEED)
    test.finish()

    output = root.table_reader("output")
    genome_compression = output.string("genome_compression", "none", choices=GENOME_COMPRESSIONS)
    rebuilds = algorithm_class(algorithm.name).rebuilds
    genomes = output.string("genomes", "seeds" if rebuilds else "full", choices=GENOME_STORAGES)
    if genomes == "seeds" and not rebuilds:
        raise output.error("genomes", f'{algorithm.name} genomes cannot be rebuilt from seeds; use "full"')
    keyframe_every = output.integer("keyframe_every", DEFAULT_KEYFRAME_EVERY, minimum=1)
    output.finish()

    evaluation_reader = root.table_reader("evaluation")
    evaluation = EvaluationConfig(
        backend=evaluation_reader.string("backend", "local", choices=BACKENDS),
        scheduler=evaluation_reader.string("scheduler", ""),
        threads=evaluation_reader.integer("threads", 0, minimum=0),
        chunk_size=evaluation_reader.integer("chunk_size", 0, minimum=0),
    )
    evaluation_reader.finish()
    root.finish()

    config = ExperimentConfig(
        name=name,
        path=os.path.abspath(path),
        train_world=train_world,
        genome_preset=genome_preset,
        algorithm=algorithm,
        seed=file_seed,
        generations=file_generations,
        levels=levels,
        distinct_levels=distinct_levels,
        objectives=objectives,
        objective_weights=objective_weights,
        validation_levels=validation_levels,
        validation_seed=validation_seed,
        validation_candidates=validation_candidates,
        test_worlds=tuple(test_worlds),
        test_probes=tuple(test_probes),
        test_every=test_every,
        test_levels=test_levels,
        test_seed=test_seed,
        evaluation=evaluation,
        shaping=shaping,
        genome_compression=genome_compression,
        description=description,
        genomes=genomes,
        keyframe_every=keyframe_every,
    )
    return override(config, seed=seed, generations=generations, scheduler=scheduler, threads=threads)


def _read_objective_weights(reader, extra, algorithm_name):
    """Read ``[objectives] weights``: one finite non-negative number per extra objective, or nothing."""
    weights = reader.get("weights", list, None)
    if weights is None:
        return ()
    for index, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight < 0:
            raise reader.error(f"weights[{index}]", f"expected a finite number of at least 0, got {weight!r}")
    if len(weights) != len(extra):
        raise reader.error("weights", f"expected one weight per extra objective ({len(extra)}), got {len(weights)}")
    if weights and algorithm_name == "nsga2":
        raise reader.error(
            "weights",
            "nsga2 keeps its objectives apart (Pareto fronts); weights fold them into one fitness for es, cma-es and ga",
        )
    return tuple(float(weight) for weight in weights)


def followed_objectives(objectives, objective_weights):
    """Return the objectives an algorithm selects on: return alone when the extras are folded into it."""
    return ("return",) if objective_weights else tuple(objectives)


def override(config, seed=None, generations=None, scheduler=None, threads=None):
    """Return ``config`` with command-line overrides applied (None leaves a value alone)."""
    changes = {}
    if seed is not None:
        if not 0 <= seed <= MAX_SEED:
            raise UsageError(f"must lie within 0..{MAX_SEED} (2**63 - 1), got {seed}", "--seed")
        changes["seed"] = int(seed)
    if generations is not None:
        if generations < 1:
            raise UsageError(f"must be at least 1, got {generations}", "--generations")
        changes["generations"] = int(generations)
    evaluation = config.evaluation
    if scheduler:
        evaluation = dataclasses.replace(evaluation, backend="dask", scheduler=scheduler)
    if threads is not None:
        if threads < 0:
            raise UsageError(f"must be at least 0, got {threads}", "--threads")
        evaluation = dataclasses.replace(evaluation, threads=int(threads))
    return dataclasses.replace(config, evaluation=evaluation, **changes)


def _check_fits(train_world, test_world, reader, key, default=False):
    """Raise ConfigError unless a test world gives the training world's inputs and actions (the controllers run on both)."""
    from evosandbox.worlds import observation_size

    trained, tested = (
        (observation_size(train_world), train_world.num_actions),
        (observation_size(test_world), test_world.num_actions),
    )
    if trained != tested:
        which = f"the default test world {test_world.path}" if default else f"{test_world.path}"
        raise reader.error(
            key if not default else "worlds",
            f"{which} gives {tested[0]} inputs and {tested[1]} actions, the training world "
            f"{train_world.path} {trained[0]} and {trained[1]}; name test worlds with its observation",
        )


def _resolve(folder, path):
    """Resolve a path from a config relative to the config's folder."""
    return os.path.normpath(os.path.join(folder, os.path.expanduser(path)))


def _load_referenced(loader, path, reader, key):
    """Load a referenced TOML file; a missing file is reported against the referencing key."""
    if not os.path.exists(path):
        raise reader.error(key, f"no such file {path}")
    return loader(path)


def render_config(config):
    """Render the resolved experiment as TOML text (absolute paths, every default filled in).

    Execution details (backend, scheduler, threads) are left out: results do not depend on
    them, and the run file must be the same whichever backend produced it.
    """
    algorithm = config.algorithm
    lines = [f"name = {_toml(config.name)}"]
    if config.description:
        lines.append(f"description = {_toml(config.description)}")
    lines += [
        f"seed = {config.seed}",
        f"generations = {config.generations}",
        "",
        "[world]",
        f"train = {_toml(config.train_world.path)}",
        f"levels = {config.levels}",
        # Written only when set, so the config text of every run without it stays as it was.
        *([f"distinct_levels = {config.distinct_levels}"] if config.distinct_levels else []),
        "",
        "[genome]",
        f"preset = {_toml(config.genome_preset.path)}",
        "",
        "[algorithm]",
    ]
    lines += [f"{item.name} = {_toml(getattr(algorithm, item.name))}" for item in dataclasses.fields(algorithm)]
    if config.shaping is not None:
        lines += ["", "[fitness]"] + [
            f"{item.name} = {_toml(getattr(config.shaping, item.name))}" for item in dataclasses.fields(config.shaping)
        ]
    lines += [
        "",
        "[objectives]",
        f"extra = {_toml(list(config.objectives[1:]))}",
        # Written only when set, so the config text of every run without weights stays as it was.
        *([f"weights = {_toml(list(config.objective_weights))}"] if config.objective_weights else []),
        "",
        "[validation]",
        f"levels = {config.validation_levels}",
        f"seed = {config.validation_seed}",
        f"candidates = {config.validation_candidates}",
        "",
        "[test]",
        f"worlds = {_toml([w.path for w in config.test_worlds])}",
        f"probes = {_toml(list(config.test_probes))}",
        f"every = {config.test_every}",
        f"levels = {config.test_levels}",
        f"seed = {config.test_seed}",
        "",
        "[output]",
        f"genome_compression = {_toml(config.genome_compression)}",
        f"genomes = {_toml(config.genomes)}",
        f"keyframe_every = {config.keyframe_every}",
        "",
    ]
    return "\n".join(lines)


def _toml(value):
    """Render one TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def training_level_seeds(config, generation):
    """Return the training level seeds of ``generation`` (common to its whole population).

    Fresh levels (``distinct_levels`` 0): ``levels`` new seeds of (run seed, generation). A pool
    of N distinct levels: with N <= ``levels`` the whole pool, in pool order (N levels a
    generation: the controllers are deterministic, so playing a level twice would only repeat
    its episodes); with N > ``levels``, ``levels`` of the pool's seeds drawn without
    replacement by the generator of (run seed, generation), in pool order.
    """
    if not config.distinct_levels:
        return derive_seeds("training-levels", config.seed, config.levels, generation)
    pool = training_level_pool(config)
    if config.distinct_levels <= config.levels:
        return pool
    picks = derive_generator("training-pool-sample", config.seed, generation).choice(
        config.distinct_levels, size=config.levels, replace=False
    )
    return pool[np.sort(picks)]


def training_level_pool(config):
    """Return the fixed pool of ``distinct_levels`` training level seeds (empty for fresh levels)."""
    return derive_seeds("training-pool", config.seed, config.distinct_levels)


def validation_level_seeds(config):
    """Return the fixed validation level seeds."""
    return derive_seeds("validation", config.validation_seed, config.validation_levels)


def test_level_seeds(config, world_index):
    """Return the level seeds of test world ``world_index``."""
    return derive_seeds("test", config.test_seed, config.test_levels, world_index)


def with_algorithm(config, name=None, **values):
    """Return ``config`` running algorithm ``name`` (default: its own) with ``values`` set.

    Parameters both algorithms have (population size, hall of fame, ...) are kept.
    """
    return dataclasses.replace(config, algorithm=convert_parameters(config.algorithm, name, **values))
