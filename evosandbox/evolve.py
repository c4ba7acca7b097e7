"""The base optimizer: a DEAP loop over batched evaluation, with lineage, checkpoints and resume.

DEAP supplies tournament and truncation selection, NSGA-II, CMA-ES (``deap.cma.Strategy``),
Statistics, Logbook and HallOfFame; this module adds what its maintainers leave to the user:
the whole generation is scored in one batched numba call (``Evaluator.score``), every
individual is written to the run file with its parents, a checkpoint is written atomically
after every generation, and a crashed run resumes bit-identically.

Algorithms follow the evosax shape: parameters (``AlgorithmConfig``) are kept apart from the
state they evolve, and each exposes ``init(rng) -> state``, ``ask(state, rng) -> Offspring``
and ``tell(state, offspring, ids, fitness) -> state`` over small private hooks.

Reproducibility: ``random`` (which DEAP's selection uses) is seeded once from the run seed and
its state is checkpointed; every other draw comes from a numpy Generator derived from
(run seed, stream, generation), so a resumed run makes the same draws as an uninterrupted one.
"""

import copy
import dataclasses
import math
import os
import pickle
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from deap import base, cma, creator, tools

from evosandbox import __version__
from evosandbox.atomic import atomic_output
from evosandbox.config import TableReader, load_world, read_toml
from evosandbox.errors import ConfigError, FileFormatError, UsageError
from evosandbox.evaluate import Scores
from evosandbox.kernels.strategy import mirrored_samples, weighted_deviation
from evosandbox.kernels.variation import vary_into
from evosandbox.seeding import derive_generator, derive_seed, derive_seeds
from evosandbox.runfile.run_write import (
    GENOME_COMPRESSIONS,
    OPERATOR_COPY,
    OPERATOR_CMA,
    OPERATOR_CROSSOVER,
    OPERATOR_CROSSOVER_MUTATION,
    OPERATOR_ES,
    OPERATOR_INIT,
    OPERATOR_MUTATION,
    GenerationRecord,
    RunHeader,
    RunWriter,
)

RUN_FILE = "run.h5"
CHECKPOINT_FILE = "checkpoint.pkl"
CHECKPOINT_FORMAT = "evosandbox-checkpoint"
CHECKPOINT_VERSION = 1

ALGORITHMS = ("ga", "nsga2", "cma-es", "es")
SCHEMES = ("mu+lambda", "mu,lambda")
OBJECTIVES = ("return", "description-length", "steps")
"""Objective names: the base objective (mean return, maximised) and the paper's simplicity
and time penalties (mean absolute gene, mean steps per episode; both minimised)."""
OBJECTIVE_WEIGHTS = {"return": 1.0, "description-length": -1.0, "steps": -1.0}
BACKENDS = ("local", "dask")

_CMA_MAX_GENES = 3000  # the covariance matrix is genes x genes
_DENSE_MUTATION_RATE = 0.25  # above this share of genes, draw one noise value per gene


class GenomeArray(np.ndarray):
    """A float32 genome that pickles and deep-copies as one array (with its attributes)."""

    def __deepcopy__(self, memo):
        """Copy the genes and every attribute (fitness, id, origin)."""
        duplicate = np.ndarray.copy(self).view(type(self))
        duplicate.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return duplicate

    def __reduce__(self):
        """Pickle as (class, plain array, attributes): far smaller than DEAP's list form."""
        return (_rebuild_genome, (type(self), np.asarray(self), self.__dict__))


def _rebuild_genome(cls, array, attributes):
    """Unpickle a GenomeArray."""
    genome = np.array(array, copy=True).view(cls)
    genome.__dict__.update(attributes)
    return genome


# DEAP creator classes at module level so individuals and fitnesses pickle; one per objective
# count, weights +1 for the base objective and -1 for each penalty.
for _count in (1, 2, 3):
    if not hasattr(creator, f"FitnessObjectives{_count}"):
        creator.create(f"FitnessObjectives{_count}", base.Fitness, weights=(1.0, -1.0, -1.0)[:_count])
        creator.create(f"IndividualObjectives{_count}", GenomeArray, fitness=getattr(creator, f"FitnessObjectives{_count}"))


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlgorithmConfig:
    """Parameters of the search algorithm (kept apart from its state)."""

    name: str = "ga"
    """ga (tournament selection, elitist), nsga2 (extra objectives), cma-es (compact genomes) or
    es (natural evolution strategy with mirrored samples and Adam, for large genomes)."""
    scheme: str = "mu+lambda"
    """mu+lambda: the parents are re-scored next to their children each generation;
    mu,lambda: only children are scored and the parents die."""
    population_size: int = 256
    """Individuals scored per generation (lambda, plus the mu parents under mu+lambda)."""
    parents: int = 32
    """mu: individuals kept after selection, the pool that breeds the next generation."""
    elite: int = -1
    """Under mu+lambda, how many of the best parents are copied into the next generation and
    re-scored there (-1: all mu, the classic scheme). Fewer elites and a larger pool keep a
    diverse population with the best genomes still safe."""
    tournament_size: int = 3
    """Tournament size for choosing each child's parents among the mu."""
    crossover_probability: float = 0.0
    """Chance that a child is a uniform crossover of two parents."""
    mutation_probability: float = 1.0
    """Chance that a child is mutated."""
    mutation_sigma: float = -1.0
    """Initial Gaussian step per mutated gene (unset: the genome preset's sigma)."""
    mutation_rate: float = -1.0
    """Share of genes mutated per child (unset: the genome preset's rate)."""
    sigma_adaptation: float = 0.0
    """Self-adaptation rate tau: a child's step is its parent's times exp(tau * N(0, 1))."""
    sigma_min: float = 1e-3
    """Lower bound of a self-adapted step."""
    sigma_max: float = 1.0
    """Upper bound of a self-adapted step."""
    average_survivors: bool = True
    """Rank a surviving parent by the mean of all its scorings, not its latest (less noise)."""
    elite_candidates: int = 0
    """Best individuals of each generation re-scored on extra levels before selection (0: none).
    More episodes for the front-runners cut the winner's curse of noisy truncation selection."""
    elite_levels: int = 0
    """Extra training levels (shared by the re-scored candidates) per generation."""
    cma_sigma: float = 0.5
    """CMA-ES initial step size."""
    es_sigma: float = 0.1
    """ES: standard deviation of the Gaussian samples around the mean (in gene units)."""
    es_learning_rate: float = 0.03
    """ES: Adam step size of the mean's update."""
    es_weight_decay: float = 0.005
    """ES: L2 pull of the mean towards zero, per generation (keeps weights from saturating)."""
    hall_of_fame: int = 8
    """Hall-of-fame size (best training scores ever seen)."""


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
    algorithm: AlgorithmConfig
    seed: int = 0
    """Run seed."""
    generations: int = 100
    """Generations to run."""
    levels: int = 8
    """Training levels per generation (lifetimes per evaluation), shared by the population."""
    objectives: tuple = ("return",)
    """Fitness columns: return first, then any of description-length, steps."""
    validation_levels: int = 200
    """Fixed validation levels on which hall-of-fame members and top parents are re-scored."""
    validation_seed: int = 0
    """Seed of the validation levels (independent of the run seed, so runs compare)."""
    validation_candidates: int = 2
    """Top parents (by selection fitness) validated each generation besides new hall-of-famers."""
    test_worlds: tuple = ()
    """WorldSpecs on which the champion is scored periodically (door and proxy rates)."""
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
    file_seed = root.integer("seed", 0, minimum=0, maximum=2**63 - 1)
    file_generations = root.integer("generations", 100, minimum=1)

    world = root.table_reader("world", required=True)
    train_path = _resolve(folder, world.string("train"))
    train_world = _load_referenced(load_world, train_path, world, "train")
    levels = world.integer("levels", 8, minimum=1)
    world.finish()

    genome = root.table_reader("genome", required=True)
    preset_path = _resolve(folder, genome.string("preset"))
    genome_preset = _load_referenced(load_genome_preset, preset_path, genome, "preset")
    genome.finish()

    algorithm = _parse_algorithm(root.table_reader("algorithm"))
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
            raise objectives_reader.error(f"extra[{index}]", f"unknown objective {objective!r}, expected one of {', '.join(OBJECTIVES[1:])}")
    if len(set(extra)) != len(extra):
        raise objectives_reader.error("extra", "names an objective twice")
    objectives_reader.finish()
    objectives = ("return", *extra)
    if algorithm.name == "nsga2" and len(objectives) == 1:
        raise objectives_reader.error("extra", "nsga2 needs at least one extra objective (description-length, steps)")
    if algorithm.name == "es" and len(objectives) > 1:
        raise objectives_reader.error("extra", "es follows the base objective alone; use nsga2 for extra objectives")

    shaping = None
    if "fitness" in data:
        from evosandbox.evaluate import Shaping

        fitness_reader = root.table_reader("fitness")
        world_shaping = Shaping.of_world(train_world)
        shaping = Shaping(**{
            name: fitness_reader.number(name, getattr(world_shaping, name), minimum=0.0 if name in ("step_cost", "exploration") else None)
            for name in ("door", "other", "timeout", "step_cost", "exploration")
        })
        fitness_reader.finish()
    else:
        root.used.add("fitness")

    validation = root.table_reader("validation")
    validation_levels = validation.integer("levels", 200, minimum=1)
    validation_seed = validation.integer("seed", 0, minimum=0)
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
    test_every = test.integer("every", 10, minimum=1)
    test_levels = test.integer("levels", 200, minimum=1)
    test_seed = test.integer("seed", 0, minimum=0)
    test.finish()

    output = root.table_reader("output")
    genome_compression = output.string("genome_compression", "none", choices=GENOME_COMPRESSIONS)
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
        name=name, path=os.path.abspath(path), train_world=train_world, genome_preset=genome_preset,
        algorithm=algorithm, seed=file_seed, generations=file_generations, levels=levels,
        objectives=objectives, validation_levels=validation_levels, validation_seed=validation_seed,
        validation_candidates=validation_candidates, test_worlds=tuple(test_worlds), test_every=test_every,
        test_levels=test_levels, test_seed=test_seed, evaluation=evaluation, shaping=shaping, genome_compression=genome_compression, description=description,
    )
    return override(config, seed=seed, generations=generations, scheduler=scheduler, threads=threads)


def override(config, seed=None, generations=None, scheduler=None, threads=None):
    """Return ``config`` with command-line overrides applied (None leaves a value alone)."""
    changes = {}
    if seed is not None:
        if seed < 0:
            raise UsageError(f"must be at least 0, got {seed}", "--seed")
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


def _resolve(folder, path):
    """Resolve a path from a config relative to the config's folder."""
    return os.path.normpath(os.path.join(folder, os.path.expanduser(path)))


def _load_referenced(loader, path, reader, key):
    """Load a referenced TOML file; a missing file is reported against the referencing key."""
    if not os.path.exists(path):
        raise reader.error(key, f"no such file {path}")
    return loader(path)


def _parse_algorithm(reader):
    """Read the [algorithm] table."""
    defaults = AlgorithmConfig()
    name = reader.string("name", defaults.name, choices=ALGORITHMS)
    values = {
        "name": name,
        "scheme": reader.string("scheme", defaults.scheme, choices=SCHEMES),
        "population_size": reader.integer("population_size", defaults.population_size, minimum=2),
        "parents": reader.integer("parents", defaults.parents, minimum=1),
        "elite": reader.integer("elite", defaults.elite, minimum=-1),
        "tournament_size": reader.integer("tournament_size", defaults.tournament_size, minimum=1),
        "crossover_probability": reader.number("crossover_probability", defaults.crossover_probability, minimum=0.0, maximum=1.0),
        "mutation_probability": reader.number("mutation_probability", defaults.mutation_probability, minimum=0.0, maximum=1.0),
        "mutation_sigma": reader.number("mutation_sigma", defaults.mutation_sigma),
        "mutation_rate": reader.number("mutation_rate", defaults.mutation_rate, maximum=1.0),
        "sigma_adaptation": reader.number("sigma_adaptation", defaults.sigma_adaptation, minimum=0.0),
        "sigma_min": reader.number("sigma_min", defaults.sigma_min, minimum=0.0),
        "sigma_max": reader.number("sigma_max", defaults.sigma_max, minimum=0.0),
        "average_survivors": reader.boolean("average_survivors", defaults.average_survivors),
        "elite_candidates": reader.integer("elite_candidates", defaults.elite_candidates, minimum=0),
        "elite_levels": reader.integer("elite_levels", defaults.elite_levels, minimum=0),
        "cma_sigma": reader.number("cma_sigma", defaults.cma_sigma, minimum=1e-9),
        "es_sigma": reader.number("es_sigma", defaults.es_sigma, minimum=1e-9),
        "es_learning_rate": reader.number("es_learning_rate", defaults.es_learning_rate, minimum=0.0),
        "es_weight_decay": reader.number("es_weight_decay", defaults.es_weight_decay, minimum=0.0),
        "hall_of_fame": reader.integer("hall_of_fame", defaults.hall_of_fame, minimum=1),
    }
    reader.finish()
    config = AlgorithmConfig(**values)
    if name == "es" and config.population_size < 3:
        raise reader.error("population_size", "es needs the mean and at least one mirrored pair (3 or more)")
    if name not in ("cma-es", "es"):
        if config.parents > config.population_size:
            raise reader.error("parents", f"{config.parents} parents exceed the population of {config.population_size}")
        copies = config.parents if config.elite < 0 else config.elite
        if config.scheme == "mu+lambda" and copies >= config.population_size:
            key = "parents" if config.elite < 0 else "elite"
            raise reader.error(key, f"mu+lambda copies {copies} parents into a population of {config.population_size}: no room for children")
        if config.elite > config.parents:
            raise reader.error("elite", f"{config.elite} elites exceed the {config.parents} parents")
        if config.sigma_min > config.sigma_max:
            raise reader.error("sigma_min", f"{config.sigma_min} exceeds sigma_max {config.sigma_max}")
    if name == "nsga2" and config.parents % 4:
        raise reader.error("parents", f"nsga2's crowded tournament needs a multiple of 4, got {config.parents}")
    return config


def render_config(config):
    """Render the resolved experiment as TOML text (absolute paths, every default filled in).

    Execution details (backend, scheduler, threads) are left out: results do not depend on
    them, and the run file must be the same whichever backend produced it.
    """
    algorithm = config.algorithm
    lines = [f"name = {_toml(config.name)}"]
    if config.description:
        lines.append(f"description = {_toml(config.description)}")
    lines += [f"seed = {config.seed}", f"generations = {config.generations}", "",
              "[world]", f"train = {_toml(config.train_world.path)}", f"levels = {config.levels}", "",
              "[genome]", f"preset = {_toml(config.genome_preset.path)}", "", "[algorithm]"]
    lines += [f"{item.name} = {_toml(getattr(algorithm, item.name))}" for item in dataclasses.fields(algorithm)]
    if config.shaping is not None:
        lines += ["", "[fitness]"] + [f"{item.name} = {_toml(getattr(config.shaping, item.name))}"
                                      for item in dataclasses.fields(config.shaping)]
    lines += ["", "[objectives]", f"extra = {_toml(list(config.objectives[1:]))}", "",
              "[validation]", f"levels = {config.validation_levels}", f"seed = {config.validation_seed}",
              f"candidates = {config.validation_candidates}", "",
              "[test]", f"worlds = {_toml([w.path for w in config.test_worlds])}", f"every = {config.test_every}",
              f"levels = {config.test_levels}", f"seed = {config.test_seed}", "",
              "[output]", f"genome_compression = {_toml(config.genome_compression)}", ""]
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


# ---------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------


def training_level_seeds(config, generation):
    """Return the training level seeds of ``generation`` (common to its whole population)."""
    return derive_seeds("training-levels", config.seed, config.levels, generation)


def validation_level_seeds(config):
    """Return the fixed validation level seeds."""
    return derive_seeds("validation", config.validation_seed, config.validation_levels)


def test_level_seeds(config, world_index):
    """Return the level seeds of test world ``world_index``."""
    return derive_seeds("test", config.test_seed, config.test_levels, world_index)


# ---------------------------------------------------------------------------------------------
# Algorithms (init / ask / tell)
# ---------------------------------------------------------------------------------------------


@dataclass
class Offspring:
    """A batch of genomes to score, with where each came from."""

    genomes: np.ndarray
    """float32 (N, G). Left unchanged until the algorithm's next-but-one ask: the loop's
    recorder writes them to the run file while the next generation breeds and plays."""
    parent_1: np.ndarray
    """int64 (N,) id of the first parent (-1: none)."""
    parent_2: np.ndarray
    """int64 (N,) id of the second parent (-1: none)."""
    operator: np.ndarray
    """uint8 (N,) operator code (run_write.OPERATOR_*)."""
    origin: np.ndarray
    """int64 (N,) id of the first individual with this exact genome (-1: a new genome)."""
    sigma: np.ndarray = None
    """float64 (N,) self-adapted mutation steps (GA and NSGA-II)."""
    parent_slot: np.ndarray = None
    """int64 (N,) index of the copied parent in the state (-1: not a copy)."""


@dataclass
class PopulationState:
    """The parent pool of a GA or NSGA-II run."""

    genomes: np.ndarray  # (mu, G) float32
    fitness: np.ndarray  # (mu, F) float64, the selection fitness (mean over scorings)
    fitness_sum: np.ndarray  # (mu, F) float64, sum over the scorings of each genome
    scorings: np.ndarray  # (mu,) int64, how often each genome was scored
    ids: np.ndarray  # (mu,) int64
    origins: np.ndarray  # (mu,) int64
    sigma: np.ndarray  # (mu,) float64
    crowding: np.ndarray  # (mu,) float64 (NSGA-II)
    generation: int = 0


@dataclass
class CmaState:
    """A CMA-ES run: DEAP's strategy object and the previous generation's best."""

    strategy: object
    best_id: int = -1
    generation: int = 0


class Algorithm:
    """A search algorithm over float32 genomes: init / ask / tell, state kept apart."""

    def __init__(self, parameters, genome_length, initial_genomes, objective_count, mutation_sigma=0.1, mutation_rate=0.05):
        """Bind the parameters to a genome length, an initializer and the objective count."""
        self.parameters = parameters
        self.genome_length = int(genome_length)
        self.initial_genomes = initial_genomes
        self.objective_count = int(objective_count)
        self.mutation_sigma = parameters.mutation_sigma if parameters.mutation_sigma >= 0 else mutation_sigma
        self.mutation_rate = parameters.mutation_rate if parameters.mutation_rate >= 0 else mutation_rate
        self.timings = {"draws": 0.0}
        """Seconds spent making random draws on a background thread (overlapped)."""

    def init(self, rng):
        """Return the state before generation 0."""
        return self._init(rng)

    def ask(self, state, rng):
        """Return the Offspring to score this generation (generation 0: the initial population)."""
        return self._ask(state, rng)

    def prefetch(self, rng):
        """Start making the random draws of an ask with ``rng`` on a background thread.

        An algorithm whose draws depend on the generator and a fixed shape alone (``_draw_key``
        not None, ``_draw(rng, key)``) has them made while the previous generation plays; a
        copy of ``rng`` is used, and the ask that receives ``rng`` in the same state takes them
        (and leaves ``rng`` where drawing would have). An ask with any other generator, or
        another shape, draws for itself as usual.
        """
        key = self._draw_key()
        if key is None:
            return
        twin = copy.deepcopy(rng)
        result = {}

        def draw():
            started = time.perf_counter()
            try:
                result["draws"] = self._draw(twin, key)
            except BaseException as error:  # raised by the ask that takes the draws
                result["error"] = error
            result["seconds"] = time.perf_counter() - started

        thread = threading.Thread(target=draw, name="evosandbox-draws", daemon=True)
        thread.start()
        self._prefetched = (rng.bit_generator.state, key, twin, thread, result)

    def _draws_for(self, rng, key):
        """Return the draws of this ask: the prefetched ones when they were made for it."""
        prefetched, self._prefetched = getattr(self, "_prefetched", None), None
        if prefetched is not None:
            state, expected, twin, thread, result = prefetched
            thread.join()
            self.timings["draws"] += result.get("seconds", 0.0)
            if expected == key and rng.bit_generator.state == state:
                if "error" in result:
                    raise result["error"]
                rng.bit_generator.state = twin.bit_generator.state
                return result["draws"]
        return self._draw(rng, key)

    def validation_candidates(self, state, offspring, origins, base_fitness, count):
        """Return (origin id, genome) pairs this algorithm offers for validation after a tell.

        By default the generation's best-scoring individual; ``count`` is the configured
        number of candidates, for algorithms that keep a ranked pool.
        """
        best = int(np.argmax(base_fitness))
        return [(origins[best], offspring.genomes[best])]

    def _draw_key(self):
        """Return the shape the draws of an ask depend on besides the generator (None: no prefetch)."""
        return None

    def _draw(self, rng, key):
        """Make the random draws of an ask (hook, with ``_draw_key``)."""
        raise NotImplementedError

    def tell(self, state, offspring, ids, fitness):
        """Return the next state given the scored offspring's ids and fitness (N, F)."""
        return self._tell(state, offspring, np.asarray(ids, np.int64), np.asarray(fitness, np.float64))

    def _init(self, rng):
        """Return the initial state (hook)."""
        raise NotImplementedError

    def _ask(self, state, rng):
        """Return this generation's Offspring (hook)."""
        raise NotImplementedError

    def _tell(self, state, offspring, ids, fitness):
        """Return the state after selection on the scored offspring (hook)."""
        raise NotImplementedError


def individuals(genomes, fitness, rows=None, **columns):
    """Wrap rows of a genome matrix (all, or those listed) as DEAP individuals: views with fitness and attributes."""
    count = fitness.shape[1]
    individual_class = getattr(creator, f"IndividualObjectives{count}")
    fitness_class = getattr(creator, f"FitnessObjectives{count}")
    wrapped = []
    for index in (range(len(genomes)) if rows is None else rows):
        index = int(index)
        individual = genomes[index].view(individual_class)
        individual.fitness = fitness_class(tuple(float(v) for v in fitness[index]))
        individual.slot = index
        for name, values in columns.items():
            setattr(individual, name, int(values[index]))
        wrapped.append(individual)
    return wrapped


@dataclass
class _Draws:
    """The random draws of one GA ask (GeneticAlgorithm._draw)."""

    crossing: np.ndarray
    crossover_bits: np.ndarray
    mutating: np.ndarray
    adaptation: np.ndarray
    bounds: np.ndarray
    gene_index: np.ndarray
    noise: np.ndarray
    dense: np.ndarray


class GeneticAlgorithm(Algorithm):
    """Elitist GA: tournament parents, uniform crossover, sparse self-adaptive Gaussian mutation.

    Under mu+lambda the mu parents are copied into each generation and re-scored on its levels
    next to their children (common random numbers); selection keeps the best mu of the lot.
    """

    def _init(self, rng):
        """Return the initial state (hook)."""
        empty = np.zeros((0, self.objective_count))
        return PopulationState(np.zeros((0, self.genome_length), np.float32), empty, empty.copy(),
                               np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                               np.zeros(0), np.zeros(0))

    def _ask(self, state, rng):
        """Return this generation's Offspring (hook)."""
        size = self.parameters.population_size
        if len(state.ids) == 0:
            genomes = np.ascontiguousarray(self.initial_genomes(size, rng), dtype=np.float32)
            none = np.full(size, -1, np.int64)
            return Offspring(genomes, none, none.copy(), np.full(size, OPERATOR_INIT, np.uint8), none.copy(),
                             np.full(size, self.mutation_sigma), none.copy())
        copies = self._copies(len(state.ids))
        children = size - copies
        # Every numpy draw is made first, in a fixed order (often already, by prefetch); then
        # the batch is built in one call of the variation kernel: each row is written by one
        # thread, so any thread count gives the same bits, into a buffer reused across asks.
        draws = self._draws_for(rng, children)
        pool = self._parent_pool(state)
        first = self._select_parents(pool, children)
        crossing, mutating = draws.crossing, draws.mutating
        second = np.full(children, -1, np.int64)
        if crossing.any():
            second[crossing] = self._select_parents(pool, int(crossing.sum()))
        genomes = self._offspring_buffer(size)
        rows = np.flatnonzero(crossing)
        sigma = state.sigma[first]
        crossover_row = np.full(children, -1, np.int64)
        if len(rows):
            crossover_row[rows] = np.arange(len(rows))
            sigma[rows] = np.sqrt(sigma[rows] * state.sigma[second[rows]])
        if self.parameters.sigma_adaptation > 0:
            sigma = np.where(mutating, sigma * np.exp(self.parameters.sigma_adaptation * draws.adaptation), sigma)
            sigma = np.clip(sigma, self.parameters.sigma_min, self.parameters.sigma_max)
        dense = draws.dense
        if dense.shape[0]:
            dense *= sigma[mutating, None].astype(np.float32)
        # The kernel also counts, per crossover child, the genes it took from each parent
        # among those where the parents differ.
        from_first = np.zeros(children, np.int64)
        from_second = np.zeros(children, np.int64)
        vary_into(genomes, state.genomes, copies, first, second, crossover_row, draws.crossover_bits,
                  draws.bounds, draws.gene_index, draws.noise, np.asarray(sigma, np.float64), dense, from_first, from_second)
        if len(rows):
            # Record the parent a crossover child shares more genes with as parent_1 (its line
            # parent), so lineage analysis never has to compare genomes to trace descent.
            swap = rows[from_second[rows] > from_first[rows]]
            first_ids = state.ids[first].copy()
            first_ids[swap], second_ids = state.ids[second[swap]], state.ids[first[swap]]
        operator = np.where(crossing, np.where(mutating, OPERATOR_CROSSOVER_MUTATION, OPERATOR_CROSSOVER),
                            np.where(mutating, OPERATOR_MUTATION, OPERATOR_COPY)).astype(np.uint8)
        parent_2 = np.where(second >= 0, state.ids[np.maximum(second, 0)], -1).astype(np.int64)
        parent_1 = state.ids[first]
        if len(rows):
            parent_1, parent_2[swap] = first_ids, second_ids
        # A child that is neither crossed nor mutated is an exact copy of its parent.
        origin = np.where(operator == OPERATOR_COPY, state.origins[first], -1).astype(np.int64)
        slot = np.full(children, -1, np.int64)
        if copies:
            # The state is ranked best first (selBest / selNSGA2 order): copy the front.
            copied = np.arange(copies)
            first = np.concatenate([copied, first])
            parent_1 = np.concatenate([state.ids[copied], parent_1])
            parent_2 = np.concatenate([np.full(copies, -1, np.int64), parent_2])
            operator = np.concatenate([np.full(copies, OPERATOR_COPY, np.uint8), operator])
            origin = np.concatenate([state.origins[:copies], origin])
            sigma = np.concatenate([state.sigma[:copies], sigma])
            slot = np.concatenate([copied, slot])
        return Offspring(genomes, parent_1, parent_2, operator, origin, sigma, slot)

    def _parent_pool(self, state):
        """Return the parents' weighted fitness tuples (DEAP's ``Fitness.wvalues``), by slot."""
        weights = getattr(creator, f"FitnessObjectives{state.fitness.shape[1]}").weights
        return [tuple(float(value) * weight for value, weight in zip(row, weights)) for row in state.fitness]

    def _select_parents(self, pool, count):
        """Choose the slots of ``count`` parents by tournament.

        DEAP's ``selTournament`` without wrapping the parents: the same ``random.choice``
        draws (it only uses the pool's length) and the same winner (the first aspirant that
        no later one beats, compared as Fitness does: ``not wvalues <= best``).
        """
        choice = random.choice
        slots = range(len(pool))
        chosen = np.empty(count, np.int64)
        for index in range(count):
            best = choice(slots)
            for _ in range(self.parameters.tournament_size - 1):
                aspirant = choice(slots)
                if not pool[aspirant] <= pool[best]:
                    best = aspirant
            chosen[index] = best
        return chosen

    def _offspring_buffer(self, size):
        """Return a (size, G) float32 batch buffer: two are allocated once and used in turn."""
        # The offspring a GA returns stay valid until its next-but-one ask: the loop scores and
        # selects them (selection copies the survivors out) before breeding again, and its
        # recorder writes them to the run file while the next generation breeds and plays.
        buffers = getattr(self, "_buffers", None)
        if buffers is None or buffers[0].shape != (size, self.genome_length):
            buffers = self._buffers = [np.empty((size, self.genome_length), np.float32) for _ in range(2)]
        buffers.reverse()
        return buffers[0]

    def _copies(self, parents):
        """Return how many of ``parents`` are copied into the next batch (mu+lambda elites)."""
        if self.parameters.scheme != "mu+lambda":
            return 0
        return parents if self.parameters.elite < 0 else min(self.parameters.elite, parents)

    def validation_candidates(self, state, offspring, origins, base_fitness, count):
        """Return the ``count`` best parents of the pool (ranked by selection fitness)."""
        return list(zip(state.origins[:count], state.genomes[:count]))

    def _draw_key(self):
        """Return the children count: the draws of an ask depend on it and the generator alone."""
        size = self.parameters.population_size
        return size - self._copies(min(self.parameters.parents, size))

    def _draw(self, rng, children):
        """Make every random draw of an ask with ``children`` children, in a fixed order.

        Crossover: which children cross, and their coin flips packed eight to a random byte.
        Mutation: which children mutate, their sigma adaptation, and their Gaussian changes.
        Sparse (rate <= _DENSE_MUTATION_RATE): child c adds noise[bounds[c]:bounds[c + 1]]
        times its sigma (the kernel multiplies in float64 and rounds to float32) to genes
        gene_index[bounds[c]:bounds[c + 1]], about rate x G genes drawn by index (never a
        (C, G) mask). Dense: mutating child c adds row bounds[c] of dense (times its sigma)
        to every gene.
        """
        parameters = self.parameters
        crossing = rng.random(children) < parameters.crossover_probability
        crossover_bits = np.zeros((0, 0), np.uint8)
        if crossing.any():
            crossover_bits = rng.integers(0, 256, (int(crossing.sum()), (self.genome_length + 7) // 8), dtype=np.uint8)
        mutating = rng.random(children) < parameters.mutation_probability
        adaptation = rng.standard_normal(children) if parameters.sigma_adaptation > 0 else None
        rows = np.flatnonzero(mutating)
        bounds = np.zeros(children + 1, np.int64)
        gene_index, noise, dense = np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros((0, 0), np.float32)
        if len(rows) and self.mutation_rate > _DENSE_MUTATION_RATE:
            dense = rng.standard_normal((len(rows), self.genome_length), dtype=np.float32)
            if self.mutation_rate < 1.0:
                dense *= rng.random((len(rows), self.genome_length)) < self.mutation_rate
            bounds[rows + 1] = 1
            np.cumsum(bounds, out=bounds)
        elif len(rows):
            counts = np.zeros(children, np.int64)
            counts[rows] = np.maximum(1, rng.binomial(self.genome_length, self.mutation_rate, len(rows)))
            np.cumsum(counts, out=bounds[1:])
            gene_index = rng.integers(0, self.genome_length, int(bounds[-1]))
            noise = rng.standard_normal(int(bounds[-1]))
        return _Draws(crossing, crossover_bits, mutating, adaptation, bounds, gene_index, noise, dense)

    def _tell(self, state, offspring, ids, fitness):
        """Return the state after selection on the scored offspring (hook)."""
        fitness_sum = fitness.copy()
        scorings = np.ones(len(ids), np.int64)
        if self.parameters.average_survivors and offspring.parent_slot is not None:
            copied = offspring.parent_slot >= 0
            fitness_sum[copied] += state.fitness_sum[offspring.parent_slot[copied]]
            scorings[copied] += state.scorings[offspring.parent_slot[copied]]
        selection_fitness = fitness_sum / scorings[:, None]
        origins = np.where(offspring.origin >= 0, offspring.origin, ids)
        slots, crowding = self._survivors(offspring.genomes, selection_fitness)
        return PopulationState(
            np.take(offspring.genomes, slots, axis=0), selection_fitness[slots], fitness_sum[slots], scorings[slots],
            ids[slots], origins[slots], offspring.sigma[slots].copy(), crowding, state.generation + 1,
        )

    def _survivors(self, genomes, fitness):
        """Keep the best mu (truncation; ties keep the earlier individual): (slots, crowding)."""
        # DEAP's selBest order (a stable sort on the weighted values, lexicographic, best
        # first) without wrapping every row as an individual.
        weights = getattr(creator, f"FitnessObjectives{fitness.shape[1]}").weights
        weighted = fitness * np.asarray(weights, np.float64)
        order = np.lexsort([-weighted[:, column] for column in reversed(range(fitness.shape[1]))])
        slots = order[:self.parameters.parents].astype(np.int64)
        return slots, np.zeros(len(slots))


class Nsga2(GeneticAlgorithm):
    """NSGA-II over the base objective and the simplicity and time penalties."""

    def _parent_pool(self, state):
        """Wrap the parents with their fitness and crowding distance for DEAP."""
        pool = individuals(state.genomes, state.fitness)
        for individual, crowding in zip(pool, state.crowding):
            individual.fitness.crowding_dist = float(crowding)
        return pool

    def _select_parents(self, pool, count):
        """Choose ``count`` parents by DEAP's crowded binary tournament, in rounds over the pool."""
        chosen = []
        while len(chosen) < count:
            take = min(count - len(chosen), len(pool))
            # DEAP returns picks in blocks of four; keep the ones asked for.
            chosen.extend(tools.selTournamentDCD(pool, take)[:take])
        return np.array([ind.slot for ind in chosen], np.int64)

    def _survivors(self, genomes, fitness):
        """Keep mu individuals by NSGA-II (non-dominated sorting, then crowding): (slots, crowding)."""
        chosen = tools.selNSGA2(individuals(genomes, fitness), self.parameters.parents)
        return (np.array([ind.slot for ind in chosen], np.int64),
                np.array([ind.fitness.crowding_dist for ind in chosen], np.float64))


class CmaEs(Algorithm):
    """CMA-ES through ``deap.cma.Strategy`` (for compact genomes: it keeps a G x G covariance)."""

    def _init(self, rng):
        """Return the initial state (hook)."""
        centroid = np.asarray(self.initial_genomes(1, rng), np.float64)[0] * 0.0
        strategy = cma.Strategy(centroid=centroid, sigma=self.parameters.cma_sigma, lambda_=self.parameters.population_size)
        return CmaState(strategy)

    def _ask(self, state, rng):
        """Return this generation's Offspring (hook)."""
        size = self.parameters.population_size
        # deap.cma draws from numpy's global generator: seed it from our stream, then restore it.
        saved = np.random.get_state()
        try:
            np.random.seed(int(rng.integers(0, 2**32 - 1)))
            samples = state.strategy.generate(np.asarray)
        finally:
            np.random.set_state(saved)
        genomes = np.ascontiguousarray(np.stack(samples), dtype=np.float32)
        first = state.generation == 0
        operator = np.full(size, OPERATOR_INIT if first else OPERATOR_CMA, np.uint8)
        parent = np.full(size, -1 if first else state.best_id, np.int64)
        return Offspring(genomes, parent, np.full(size, -1, np.int64), operator, np.full(size, -1, np.int64))

    def _tell(self, state, offspring, ids, fitness):
        # DEAP updates the distribution from the float64 samples it drew; use the float32 genomes
        # actually scored so the update matches what the run file records.
        """Return the state after selection on the scored offspring (hook)."""
        pool = individuals(offspring.genomes.astype(np.float64), fitness)
        best = max(pool, key=lambda ind: (ind.fitness, -ind.slot))
        state.strategy.update(pool)
        return CmaState(state.strategy, int(ids[best.slot]), state.generation + 1)


@dataclass
class EsState:
    """An ES run: the mean genome, Adam's moment estimates and where the mean came from."""

    mean: np.ndarray  # (G,) float32, the genome every sample is drawn around (None before gen 1)
    first_moment: np.ndarray  # (G,) float64
    second_moment: np.ndarray  # (G,) float64
    mean_id: int = -1
    """Id of the individual the current mean descends from (the previous mean, or the best founder)."""
    mean_origin: int = -1
    """Id of an individual whose genome equals the mean exactly (-1: the mean is new)."""
    generation: int = 0


class EvolutionStrategy(Algorithm):
    """Natural evolution strategy (Salimans et al. 2017) for large genomes such as direct ones.

    Generation 0 scores a random population like the GA's, and the best founder becomes the
    mean (a single random mean usually sits on a plateau where every sample times out). From
    then on each generation scores the mean (row 0) and mirrored pairs mean +/- sigma * eps on
    the same levels; the mean moves along the gradient estimated from the samples' centred
    ranks, with Adam and weight decay. Every genome of a generation has the mean's ancestor
    as its parent, so the line of descent runs through the means back to the founder.
    """

    _BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-8

    def _init(self, rng):
        """Return the initial state (hook)."""
        zeros = np.zeros(self.genome_length)
        return EsState(None, zeros, zeros.copy())

    def _ask(self, state, rng):
        """Return this generation's Offspring (hook)."""
        size = self.parameters.population_size
        none = np.full(size, -1, np.int64)
        if state.mean is None:
            genomes = np.ascontiguousarray(self.initial_genomes(size, rng), dtype=np.float32)
            return Offspring(genomes, none, none.copy(), np.full(size, OPERATOR_INIT, np.uint8), none.copy())
        noise, extra = self._draws_for(rng, self._draw_key())
        genomes = np.empty((size, self.genome_length), np.float32)
        sigma = np.float32(self.parameters.es_sigma)
        mirrored_samples(state.mean, noise, sigma, genomes)
        if extra is not None:  # an even population: one unmirrored sample fills the last row
            genomes[-1] = state.mean + sigma * extra
        origin = none.copy()
        origin[0] = state.mean_origin
        operator = np.full(size, OPERATOR_ES, np.uint8)
        if state.mean_origin >= 0:
            operator[0] = OPERATOR_COPY  # generation 1's mean is the best founder itself
        return Offspring(genomes, np.full(size, state.mean_id, np.int64), none.copy(), operator, origin)

    def validation_candidates(self, state, offspring, origins, base_fitness, count):
        """Return row 0: from generation 1 on, the mean, the strategy's best guess."""
        return [(origins[0], offspring.genomes[0])]

    def _draw_key(self):
        """Return (pairs, whether an unmirrored sample fills the last row)."""
        size = self.parameters.population_size
        pairs = (size - 1) // 2
        return pairs, size > 1 + 2 * pairs

    def _draw(self, rng, key):
        """Draw the standard-normal noise of the mirrored pairs, then of the unmirrored row."""
        pairs, unmirrored = key
        noise = rng.standard_normal((pairs, self.genome_length), dtype=np.float32)
        extra = rng.standard_normal(self.genome_length, dtype=np.float32) if unmirrored else None
        return noise, extra

    def _tell(self, state, offspring, ids, fitness):
        """Return the state after one Adam step along the estimated gradient (hook)."""
        if state.mean is None:
            best = int(np.argmax(fitness[:, 0]))  # the first of equals
            origin = int(offspring.origin[best]) if offspring.origin[best] >= 0 else int(ids[best])
            return dataclasses.replace(state, mean=offspring.genomes[best].copy(), mean_id=int(ids[best]),
                                       mean_origin=origin, generation=state.generation + 1)
        samples = offspring.genomes[1:]
        # Centred ranks in [-0.5, 0.5] (ties by row order): invariant to the fitness scale.
        order = np.argsort(-fitness[1:, 0], kind="stable")
        utility = np.empty(len(order))
        utility[order] = 0.5 - np.arange(len(order)) / max(1, len(order) - 1)
        gradient = np.empty(self.genome_length)
        weighted_deviation(utility, samples, offspring.genomes[0], gradient)
        gradient /= len(order) * self.parameters.es_sigma ** 2
        gradient -= self.parameters.es_weight_decay * state.mean
        step = state.generation  # Adam's step count: generation 1 makes the first update
        first_moment = self._BETA_1 * state.first_moment + (1 - self._BETA_1) * gradient
        second_moment = self._BETA_2 * state.second_moment + (1 - self._BETA_2) * gradient * gradient
        corrected = first_moment / (1 - self._BETA_1 ** step)
        scale = np.sqrt(second_moment / (1 - self._BETA_2 ** step)) + self._EPSILON
        mean = (state.mean + self.parameters.es_learning_rate * corrected / scale).astype(np.float32)
        return EsState(mean, first_moment, second_moment, int(ids[0]), -1, state.generation + 1)


def make_algorithm(config, genome_length, initial_genomes, mutation_sigma=0.1, mutation_rate=0.05):
    """Build the algorithm an experiment config names.

    Args:
        config: ExperimentConfig.
        genome_length: genes per genome.
        initial_genomes: function (count, rng) -> float32 (count, G).
        mutation_sigma, mutation_rate: the genome preset's defaults.
    Returns:
        An Algorithm.
    """
    parameters = config.algorithm
    kind = {"ga": GeneticAlgorithm, "nsga2": Nsga2, "cma-es": CmaEs, "es": EvolutionStrategy}[parameters.name]
    if kind is CmaEs and genome_length > _CMA_MAX_GENES:
        raise ConfigError(config.path, "algorithm.name",
                          f"cma-es keeps a {genome_length}x{genome_length} covariance; use a genome of at most {_CMA_MAX_GENES} genes (cppn, developmental) or ga")
    return kind(parameters, genome_length, initial_genomes, len(config.objectives), mutation_sigma, mutation_rate)


# ---------------------------------------------------------------------------------------------
# The run: evaluation, lineage, validation, tests, checkpoint
# ---------------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    """What a finished (or interrupted) run reached."""

    run_dir: str
    generations: int
    """Committed generations."""
    champion_id: int
    champion_validation_fitness: float
    champion_validation_door_rate: float
    champion_test_door_rate: tuple
    """Door rate of the champion on each test world at its last scoring."""
    champion_test_proxy_rate: tuple
    wall_time: float
    """Seconds of evolution (all sessions of a resumed run)."""
    interrupted: bool = False
    timings: dict = field(default_factory=dict)
    """Seconds this session spent per stage (ask, score, select, validate, test, write,
    checkpoint; write is the wait for the recorder), on background threads overlapping them
    (writer: run file and checkpoint; draws: the GA's prefetched random draws) and, from the
    evaluator, in develop and in the rollout kernel call alone."""
    agent_steps: int = 0
    """Agent steps simulated this session (when the evaluator counts them)."""


@dataclass
class _RunState:
    """Everything a checkpoint holds."""

    config: ExperimentConfig
    generation: int
    algorithm_state: object
    hall_of_fame: object
    logbook: object
    validated: dict
    """origin id -> (validation fitness, door rate, proxy rate)."""
    tested: dict
    """(origin id, world index) -> (door, proxy, other, timeout, episodes)."""
    champion: tuple
    """(origin id, genome float32) or (-1, None)."""
    next_id: int
    random_state: object
    elapsed: float
    individual_count: int
    header_created: str
    last_tests: tuple = ()


def build_evaluator(config):
    """Build the Evaluator an experiment config describes."""
    from evosandbox.evaluate import Evaluator

    evaluation = config.evaluation
    return Evaluator(config.genome_preset, config.train_world, backend=evaluation.backend,
                     threads=evaluation.threads, scheduler=evaluation.scheduler or None,
                     chunk_size=evaluation.chunk_size, shaping=config.shaping)


def evolve(config, run_dir, problem=None, force=False, progress=None):
    """Run an experiment from generation 0 into ``run_dir`` (run.h5 and checkpoint.pkl).

    Args:
        config: ExperimentConfig.
        run_dir: output folder; refused if it already holds a run, unless ``force``.
        problem: the evaluator (default: develop + rollout as the config says). Anything with
            ``genome_length``, ``initial_genomes(count, rng)`` and
            ``score(genomes, world, level_seeds, seed) -> Scores`` works.
        force: replace an existing run in ``run_dir``.
        progress: show a progress line per generation (default: when stderr is a terminal).
    Returns:
        RunSummary.
    """
    run_dir = os.fspath(run_dir)
    run_path = os.path.join(run_dir, RUN_FILE)
    checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UsageError(f"{run_dir} exists and is not a folder", "--out")
    existing = [p for p in (run_path, checkpoint_path) if os.path.exists(p)]
    if existing and not force:
        raise UsageError(f"{run_dir} already holds a run; pass --force to overwrite it or --resume to continue it", "--out")
    owns_problem = problem is None
    problem = problem if problem is not None else build_evaluator(config)
    try:
        os.makedirs(run_dir, exist_ok=True)
        for path in existing:
            os.unlink(path)
        algorithm = _algorithm_for(config, problem)
        random.seed(config.seed)
        state = _RunState(
            config=config, generation=0,
            algorithm_state=algorithm.init(derive_generator("init", config.seed)),
            hall_of_fame=tools.HallOfFame(config.algorithm.hall_of_fame, similar=np.array_equal),
            logbook=_new_logbook(), validated={}, tested={}, champion=(-1, None), next_id=0,
            random_state=None, elapsed=0.0, individual_count=0,
            header_created=_now(),
        )
        state.random_state = random.getstate()
        # The checkpoint comes first: from the moment the folder holds anything, --resume works.
        write_checkpoint(checkpoint_path, state)
        writer = RunWriter.create(run_path, _header(config, problem, state.header_created))
        return _Loop(config, problem, algorithm, state, writer, run_dir, progress).run()
    finally:
        if owns_problem:
            problem.close()


def resume(run_dir, problem=None, generations=None, scheduler=None, threads=None, progress=None):
    """Continue a run from its checkpoint, after a clean stop or any crash.

    The run file is cut back to the checkpoint's generation and the loop continues; the
    finished file equals the one an uninterrupted run would have written.

    Args:
        run_dir: the run folder.
        problem: the evaluator (default: from the checkpointed config).
        generations: a new total generation count (to extend a finished run).
        scheduler, threads: where to evaluate (not stored: results do not depend on it).
        progress: show a progress line per generation (default: when stderr is a terminal).
    Returns:
        RunSummary.
    """
    run_dir = os.fspath(run_dir)
    checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
    run_path = os.path.join(run_dir, RUN_FILE)
    state = read_checkpoint(checkpoint_path)
    config = state.config
    if generations is not None and generations < state.generation:
        raise UsageError(f"the run already has {state.generation} generations, cannot shorten it to {generations}", "--generations")
    config = override(dataclasses.replace(config, evaluation=EvaluationConfig()), generations=generations,
                      scheduler=scheduler, threads=threads)
    state.config = config
    owns_problem = problem is None
    problem = problem if problem is not None else build_evaluator(config)
    try:
        algorithm = _algorithm_for(config, problem)
        header = _header(config, problem, state.header_created)
        if state.generation == 0 and not _has_committed(run_path):
            writer = RunWriter.create(run_path, header)
        else:
            if not os.path.exists(run_path):
                raise FileFormatError(run_path, None, f"no such file (the checkpoint is at generation {state.generation})")
            writer = RunWriter.salvage(run_path, state.generation, config_text=header.config_text)
        restore_genomes(state, writer.handle["genomes"])
        random.setstate(state.random_state)
        return _Loop(config, problem, algorithm, state, writer, run_dir, progress).run()
    finally:
        if owns_problem:
            problem.close()


def _has_committed(run_path):
    """Return whether a run file exists with at least one committed generation."""
    from evosandbox.runfile.common import open_for_reading

    if not os.path.exists(run_path):
        return False
    try:
        with open_for_reading(run_path, "evosandbox-run", swmr=True) as handle:
            return int(handle["generations/done"][0]) > 0
    except (FileFormatError, KeyError, OSError):
        return False


def _algorithm_for(config, problem):
    """Build the config's algorithm for a problem's genome length and mutation defaults."""
    return make_algorithm(config, problem.genome_length, problem.initial_genomes,
                          getattr(problem, "mutation_sigma", None) or getattr(getattr(problem, "encoding", None), "mutation_sigma", 0.1),
                          getattr(problem, "mutation_rate", None) or getattr(getattr(problem, "encoding", None), "mutation_rate", 0.05))


def _header(config, problem, created):
    """Build the run file header of an experiment."""
    encoding = getattr(problem, "encoding", None)
    attributes = {"name": config.name, "algorithm": config.algorithm.name,
                  "encoding": config.genome_preset.encoding, "genome_length": int(problem.genome_length)}
    if encoding is not None:
        attributes["compression_ratio"] = float(encoding.compression_ratio)
        attributes["parameter_count"] = int(encoding.controller_shape.parameter_count)
    return RunHeader(
        seed=config.seed, population_size=config.algorithm.population_size, genome_length=problem.genome_length,
        objectives=config.objectives, weights=tuple(OBJECTIVE_WEIGHTS[o] for o in config.objectives),
        config_text=render_config(config), train_world_text=config.train_world.source_text,
        genome_preset_text=config.genome_preset.source_text,
        test_world_texts=tuple(w.source_text for w in config.test_worlds),
        test_world_names=tuple(w.name for w in config.test_worlds), attributes=attributes, created=created,
        genome_compression=config.genome_compression,
    )


def hall_of_fame_entrants(hall_of_fame, fitness):
    """Return the rows of ``fitness`` (N, F) that DEAP's HallOfFame.update could insert, in order.

    update inserts a row only while the hall is not full or when the row's weighted fitness
    beats the worst member's lexicographically (the worst only rises during an update), so the
    other rows can be left out without changing the result.
    """
    rows = np.arange(len(fitness))
    if len(hall_of_fame) < hall_of_fame.maxsize:
        return rows
    worst = hall_of_fame[-1].fitness
    weighted = fitness * np.asarray(worst.weights, np.float64)
    worst = worst.wvalues
    greater = np.zeros(len(fitness), bool)
    tied = np.ones(len(fitness), bool)
    for column, value in enumerate(worst):
        greater |= tied & (weighted[:, column] > value)
        tied &= weighted[:, column] == value
    return rows[greater]


_STATISTICS = tools.Statistics()  # over the base objective column
for _name, _function in (("best", np.max), ("mean", np.mean), ("std", np.std)):
    _STATISTICS.register(_name, lambda values, function=_function: float(function(values)))


def _new_logbook():
    """Return an empty Logbook with our column order."""
    logbook = tools.Logbook()
    logbook.header = ("generation", "evaluations", "best", "mean", "std", "validation_door_rate", "champion")
    return logbook


def _now():
    """Return the current UTC time in ISO format."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class _Interrupt:
    """SIGINT/SIGTERM: the first finishes the generation in flight, a second abandons it."""

    def __init__(self):
        """Set up the instance."""
        self.requested = False
        self._previous = {}

    def __enter__(self):
        """Install the handlers (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        """Restore the previous handlers."""
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number, frame):
        """Ask the loop to stop after this generation; a second signal abandons it."""
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


class _Progress:
    """One line per generation on stderr, only when stderr is a terminal."""

    def __init__(self, enabled, total):
        """Set up the instance."""
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.total = total

    def generation(self, generation, best, mean, door_rate, evaluations_per_s, test_line=""):
        """Print one generation's line."""
        if not self.enabled:
            return
        width = len(str(self.total))
        sys.stderr.write(
            f"gen {generation + 1:>{width}}/{self.total}  best {best:+.3f}  mean {mean:+.3f}  "
            f"val door {100 * door_rate:5.1f}%  {evaluations_per_s:,.0f} eval/s{test_line}\n")
        sys.stderr.flush()


class _Recorder:
    """Append each generation to the run file, then write its checkpoint, on a background thread.

    ``submit`` hands over a generation; ``start`` (called by the loop once the next batch is
    bred, so the writing overlaps the rollouts rather than the memory-bound breeding) begins
    writing it, and the thread runs while the next generation plays (h5py and the file system
    release the GIL). At most one generation is in flight: ``submit`` first waits for the
    previous one, so generations reach the file in order, and a checkpoint is written only
    after the rows it counts are appended and flushed (a crash at any moment leaves a file
    holding at least the checkpoint's generations, which resume cuts back to). An error in the
    thread is raised in the caller at the next ``submit`` or ``wait``, and no later generation
    or checkpoint is written after it.
    """

    def __init__(self, writer, checkpoint_path):
        """Set up the instance."""
        self.writer = writer
        self.checkpoint_path = checkpoint_path
        self.seconds = 0.0
        """Time the thread spent writing (overlapped with the loop)."""
        self._pending = None
        self._thread = None
        self._error = None

    def submit(self, record, checkpoint):
        """Wait for the previous generation, then queue ``record`` and the ``checkpoint`` bytes."""
        self.wait()
        self._pending = (record, checkpoint)

    def start(self):
        """Start writing the queued generation, if any."""
        if self._pending is not None and self._thread is None:
            arguments, self._pending = self._pending, None
            self._thread = threading.Thread(target=self._write, args=arguments, name="evosandbox-recorder", daemon=True)
            self._thread.start()

    def wait(self):
        """Write the queued generation, wait until it is written; raise the thread's error, if any."""
        self.start()
        thread, self._thread = self._thread, None
        if thread is not None:
            interrupted = False
            while thread.is_alive():
                # A second Ctrl-C abandons the generation being bred, never one half written.
                try:
                    thread.join()
                except KeyboardInterrupt:
                    interrupted = True
            if interrupted:
                raise KeyboardInterrupt
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _write(self, record, checkpoint):
        """Append the rows, flush, then replace the checkpoint (runs on the thread)."""
        started = time.perf_counter()
        try:
            self.writer.append(record)
            write_checkpoint_bytes(self.checkpoint_path, checkpoint)
        except BaseException as error:  # handed to the main thread
            self._error = error
        finally:
            self.seconds += time.perf_counter() - started


class _Loop:
    """The generation loop of one session (a fresh run or a resumed one)."""

    def __init__(self, config, problem, algorithm, state, writer, run_dir, progress):
        """Set up the instance."""
        self.config = config
        self.problem = problem
        self.algorithm = algorithm
        self.state = state
        self.writer = writer
        self.checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
        self.run_dir = run_dir
        self.progress = _Progress(progress, config.generations)
        self.validation_seeds = validation_level_seeds(config)
        self.timings = {"ask": 0.0, "score": 0.0, "select": 0.0, "validate": 0.0, "test": 0.0, "write": 0.0, "checkpoint": 0.0}
        self.recorder = _Recorder(writer, self.checkpoint_path)

    def run(self):
        """Run generations until the configured count or an interrupt; return a RunSummary."""
        interrupted = False
        try:
            with _Interrupt() as interrupt:
                while self.state.generation < self.config.generations:
                    self._generation()
                    if interrupt.requested:
                        interrupted = True
                        break
                mark = time.perf_counter()
                self.recorder.wait()
                self._lap("write", mark)
        finally:
            try:
                self.recorder.wait()
            finally:
                self.writer.close()
        return self._summary(interrupted)

    def _generation(self):
        """Breed, score, select, validate, test, record and checkpoint one generation."""
        config, state = self.config, self.state
        generation = state.generation
        started = time.perf_counter()
        rng = derive_generator("variation", config.seed, generation)

        mark = time.perf_counter()
        offspring = self.algorithm.ask(state.algorithm_state, rng)
        size = len(offspring.genomes)
        ids = np.arange(state.next_id, state.next_id + size, dtype=np.int64)
        if generation + 1 < config.generations:
            # The next ask's draws depend on its generator alone: make them while this plays.
            self.algorithm.prefetch(derive_generator("variation", config.seed, generation + 1))
        self._lap("ask", mark)
        # The previous generation is written while this one plays.
        self.recorder.start()

        mark = time.perf_counter()
        rollout_seed = derive_seed("training-rollout", config.seed, generation)
        scores = self.problem.score(offspring.genomes, config.train_world, training_level_seeds(config, generation), rollout_seed)
        scores = self._rescore_elite(offspring.genomes, scores, generation)
        self._lap("score", mark)

        mark = time.perf_counter()
        fitness = objective_matrix(config.objectives, scores, offspring.genomes)
        state.algorithm_state = self.algorithm.tell(state.algorithm_state, offspring, ids, fitness)
        origins = np.where(offspring.origin >= 0, offspring.origin, ids)
        # Only the individuals that beat the hall of fame's worst can enter it: wrap just those.
        entrants = hall_of_fame_entrants(state.hall_of_fame, fitness)
        state.hall_of_fame.update(individuals(offspring.genomes, fitness, rows=entrants, id=ids, origin=origins))
        self._lap("select", mark)

        mark = time.perf_counter()
        self._validate(offspring, origins, fitness[:, 0])
        self._lap("validate", mark)

        mark = time.perf_counter()
        test_door, test_proxy, tests = self._test(generation)
        self._lap("test", mark)

        champion_id = state.champion[0]
        champion_scores = state.validated.get(champion_id, (math.nan, math.nan, math.nan))
        elapsed_generation = time.perf_counter() - started
        evaluations_per_s = size / max(elapsed_generation, 1e-9)
        state.elapsed += elapsed_generation
        summary = _STATISTICS.compile(fitness[:, 0])
        state.logbook.record(generation=generation, evaluations=size, validation_door_rate=float(champion_scores[1]),
                             champion=int(champion_id), **summary)

        mark = time.perf_counter()
        # The record owns fresh arrays except the genomes, which stay valid until the
        # algorithm's next-but-one ask (the GA alternates two buffers): the recorder keeps at
        # most one generation in flight, so this one is on disk before they are overwritten.
        record = GenerationRecord(
            ids=ids, generation=generation, parent_1=offspring.parent_1, parent_2=offspring.parent_2,
            operator=offspring.operator, fitness=fitness.astype(np.float32),
            outcomes=np.stack([scores.door, scores.thing, scores.timeout], axis=1).astype(np.int32),
            genomes=offspring.genomes, best_fitness=summary["best"], mean_fitness=summary["mean"],
            champion_id=int(champion_id), validation_door_rate=float(champion_scores[1]),
            evaluations_per_s=evaluations_per_s, wall_time=state.elapsed,
            test_door_rate=test_door, test_proxy_rate=test_proxy, tests=tests,
        )
        state.next_id += size
        state.individual_count += size
        state.generation = generation + 1
        state.random_state = random.getstate()
        self._lap("write", mark)
        state.elapsed += time.perf_counter() - mark

        mark = time.perf_counter()
        # Pickled now, before the next generation changes the state; written by the recorder
        # after this generation's rows are appended and flushed.
        checkpoint = checkpoint_bytes(state)
        self._lap("checkpoint", mark)
        state.elapsed += time.perf_counter() - mark  # counted from the next checkpoint on

        mark = time.perf_counter()
        self.recorder.submit(record, checkpoint)
        self._lap("write", mark)
        state.elapsed += time.perf_counter() - mark
        test_line = ""
        if tests:
            test_line = "  test " + " ".join(f"door {100 * d:.0f}% proxy {100 * p:.0f}%" for d, p in zip(test_door, test_proxy))
        self.progress.generation(generation, summary["best"], summary["mean"], float(champion_scores[1]),
                                 evaluations_per_s, test_line)

    def _rescore_elite(self, genomes, scores, generation):
        """Re-score the generation's front-runners on extra shared levels; merge their episodes."""
        parameters = self.config.algorithm
        count = min(parameters.elite_candidates, len(genomes))
        if not count or not parameters.elite_levels:
            return scores
        top = np.sort(np.argsort(-scores.fitness, kind="stable")[:count])
        seeds = derive_seeds("elite", self.config.seed, parameters.elite_levels, generation)
        rollout_seed = derive_seed("elite", self.config.seed, generation, 1)
        extra = self.problem.score(genomes[top], self.config.train_world, seeds, rollout_seed)
        return merge_scores(scores, top, extra)

    def _lap(self, name, mark):
        """Add the time since ``mark`` to a timing bucket."""
        self.timings[name] += time.perf_counter() - mark

    def _validate(self, offspring, origins, base_fitness):
        """Score new hall-of-famers and the top parents on the fixed validation levels."""
        config, state = self.config, self.state
        candidates = {}
        for member in state.hall_of_fame:
            if member.origin not in state.validated:
                candidates.setdefault(member.origin, np.asarray(member, np.float32))
        offered = self.algorithm.validation_candidates(state.algorithm_state, offspring, origins, base_fitness,
                                                       config.validation_candidates)
        for origin, genome in offered:
            if int(origin) not in state.validated:
                candidates.setdefault(int(origin), genome)
        if candidates:
            order = sorted(candidates)
            genomes = np.stack([candidates[o] for o in order])
            seed = derive_seed("validation", config.validation_seed, 1)
            scores = self.problem.score(genomes, config.train_world, self.validation_seeds, seed)
            for index, origin in enumerate(order):
                state.validated[origin] = (float(scores.fitness[index]), float(scores.door_rate[index]),
                                           float(scores.proxy_rate[index]))
                champion = state.champion[0]
                if champion < 0 or _better(state.validated[origin], origin, state.validated[champion], champion):
                    state.champion = (origin, np.array(genomes[index], np.float32))

    def _test(self, generation):
        """Score the champion on every test world when due; return rates and /tests rows."""
        config, state = self.config, self.state
        worlds = len(config.test_worlds)
        door = np.full(worlds, np.nan, np.float32)
        proxy = np.full(worlds, np.nan, np.float32)
        due = (generation + 1) % config.test_every == 0 or generation + 1 == config.generations
        champion, genome = state.champion
        if not worlds or not due or champion < 0:
            return door, proxy, {}
        rows = {name: [] for name in ("id", "generation", "world", "door_rate", "proxy_rate", "other_rate", "timeout_rate", "episodes")}
        for index, world in enumerate(config.test_worlds):
            key = (champion, index)
            if key not in state.tested:
                seed = derive_seed("test", config.test_seed, index, 1)
                scores = self.problem.score(genome[None], world, test_level_seeds(config, index), seed)
                state.tested[key] = (int(scores.door[0]), int(scores.proxy[0]), int(scores.other[0]),
                                     int(scores.timeout[0]), int(scores.episodes))
            entered_door, entered_proxy, other, timeout, episodes = state.tested[key]
            episodes_float = max(1, episodes)
            door[index] = entered_door / episodes_float
            proxy[index] = entered_proxy / episodes_float
            for name, value in (("id", champion), ("generation", generation), ("world", index),
                                ("door_rate", door[index]), ("proxy_rate", proxy[index]),
                                ("other_rate", other / episodes_float), ("timeout_rate", timeout / episodes_float),
                                ("episodes", episodes)):
                rows[name].append(value)
        state.last_tests = (tuple(float(d) for d in door), tuple(float(p) for p in proxy))
        dtypes = {"id": np.int64, "generation": np.int32, "world": np.int32, "episodes": np.int32}
        return door, proxy, {name: np.asarray(values, dtypes.get(name, np.float32)) for name, values in rows.items()}

    def _summary(self, interrupted):
        """Return the RunSummary of the state as it stands."""
        state = self.state
        champion = state.champion[0]
        validation = state.validated.get(champion, (math.nan, math.nan, math.nan))
        door, proxy = state.last_tests if state.last_tests else ((), ())
        timings = dict(self.timings)
        timings["writer"] = self.recorder.seconds
        timings.update(getattr(self.algorithm, "timings", {}))
        timings.update(getattr(self.problem, "timings", {}))
        return RunSummary(self.run_dir, state.generation, int(champion), validation[0], validation[1],
                          door, proxy, state.elapsed, interrupted, timings, int(getattr(self.problem, "agent_steps", 0)))


def merge_scores(scores, rows, extra):
    """Return ``scores`` with ``extra`` episodes of the genomes at ``rows`` pooled in.

    Fitness and steps become means over all episodes; outcome counts add up (so re-scored rows
    count more episodes than the others); ``episodes`` stays the count every genome played.
    """
    merged = Scores(scores.fitness.copy(), scores.door.copy(), scores.proxy.copy(), scores.other.copy(),
                    scores.timeout.copy(), scores.steps.copy(), scores.episodes)
    total = scores.episodes + extra.episodes
    merged.fitness[rows] = (scores.fitness[rows] * scores.episodes + extra.fitness * extra.episodes) / total
    merged.steps[rows] = (scores.steps[rows] * scores.episodes + extra.steps * extra.episodes) / total
    for name in ("door", "proxy", "other", "timeout"):
        getattr(merged, name)[rows] += getattr(extra, name)
    return merged


def _better(scores, origin, other_scores, other_origin):
    """Return whether validation ``scores`` beat ``other_scores`` (ties: the older genome)."""
    if scores[0] != other_scores[0]:
        return scores[0] > other_scores[0]
    return origin < other_origin


def objective_matrix(objectives, scores, genomes):
    """Return the (N, F) fitness matrix: mean return, then any penalties in config order."""
    columns = []
    for name in objectives:
        if name == "return":
            columns.append(scores.fitness)
        elif name == "description-length":
            columns.append(np.abs(genomes).mean(axis=1, dtype=np.float64))
        elif name == "steps":
            columns.append(np.asarray(scores.steps, np.float64))
    return np.stack(columns, axis=1)


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def write_checkpoint(path, state):
    """Pickle the run state to a temporary file, fsync it and move it over ``path``.

    Genomes are not pickled: every genome the state holds (parents, hall of fame, champion)
    belongs to an individual already committed to the run file, so the checkpoint keeps ids
    and ``restore_genomes`` reads the rows back. A direct-encoding checkpoint stays a few kB.
    """
    write_checkpoint_bytes(path, checkpoint_bytes(state))


def checkpoint_bytes(state):
    """Return the pickled checkpoint of ``state`` (what write_checkpoint writes)."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "software_version": __version__,
               "state": _without_genomes(state), "numpy_random_state": np.random.get_state()}
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def write_checkpoint_bytes(path, data):
    """Write pickled checkpoint bytes to a temporary file, fsync it and move it over ``path``."""
    with atomic_output(path) as temporary, open(temporary, "wb") as handle:
        handle.write(data)


def _without_genomes(state):
    """Return a shallow copy of the run state with genome arrays replaced by their ids."""
    stripped = copy.copy(state)
    algorithm_state = state.algorithm_state
    if isinstance(algorithm_state, PopulationState):
        stripped.algorithm_state = dataclasses.replace(algorithm_state, genomes=None)
    stripped.hall_of_fame = [(int(member.id), int(member.origin), tuple(member.fitness.values))
                             for member in state.hall_of_fame]
    stripped.champion = (state.champion[0], None)
    return stripped


def restore_genomes(state, genomes):
    """Fill a checkpoint's state with its genomes read from the run file.

    Args:
        state: the state read_checkpoint returned.
        genomes: the run file's ``/genomes`` dataset (rows are individual ids).
    Returns:
        The state, with parents, hall of fame and champion genomes in place.
    """
    needed = set()
    algorithm_state = state.algorithm_state
    if isinstance(algorithm_state, PopulationState):
        needed.update(int(i) for i in algorithm_state.ids)
    needed.update(record[0] for record in state.hall_of_fame)
    if state.champion[0] >= 0:
        needed.add(state.champion[0])
    order = sorted(needed)
    rows = dict(zip(order, genomes[order] if order else [])) if order else {}
    if isinstance(algorithm_state, PopulationState):
        matrix = np.empty((len(algorithm_state.ids), genomes.shape[1]), np.float32)
        for index, individual in enumerate(algorithm_state.ids):
            matrix[index] = rows[int(individual)]
        state.algorithm_state = dataclasses.replace(algorithm_state, genomes=matrix)
    hall_of_fame = tools.HallOfFame(state.config.algorithm.hall_of_fame, similar=np.array_equal)
    # Inserting worst first rebuilds DEAP's order, ties included.
    for individual, origin, values in reversed(state.hall_of_fame):
        genome = rows[individual][None]
        member = individuals(genome, np.asarray([values]), id=[individual], origin=[origin])[0]
        hall_of_fame.insert(member)
    state.hall_of_fame = hall_of_fame
    if state.champion[0] >= 0:
        state.champion = (state.champion[0], np.array(rows[state.champion[0]], np.float32))
    return state


def read_checkpoint(path):
    """Load a checkpoint (genomes still to restore), or raise FileFormatError naming what is wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            raise FileFormatError(folder, None, "no such run folder")
        raise FileFormatError(path, None, "no such file; this folder holds no resumable run")
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError) as error:
        raise FileFormatError(path, None, f"corrupt checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise FileFormatError(path, "format", f"not an evosandbox checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise FileFormatError(path, "version", f"unsupported checkpoint version {payload.get('version')!r}, this build reads {CHECKPOINT_VERSION}")
    np.random.set_state(payload["numpy_random_state"])
    return payload["state"]
