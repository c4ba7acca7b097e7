"""What every search algorithm shares: parameters, state, Offspring, and init / ask / tell.

Algorithms follow the evosax shape: parameters (a frozen dataclass per algorithm, each field
with its bounds and a docstring) are kept apart from the state they evolve, and each exposes
``init(rng) -> state``, ``ask(state, rng) -> Offspring`` and ``tell(state, offspring, ids,
fitness) -> state`` over small private hooks. A state class says what a checkpoint keeps of it
(``without_genomes``, ``genome_ids``, ``with_genomes``): genomes already in the run file are
stored as ids and read back on resume.
"""

import copy
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from deap import base, creator

SCHEMES = ("mu+lambda", "mu,lambda")


def bounds(minimum=None, maximum=None, choices=None, unset=None):
    """Return dataclass field metadata: the range (or choices) the config reader enforces.

    ``unset``: what the field means when its key is left out (its default lies outside the
    range on purpose; a value written in the file must lie within it).
    """
    return {"minimum": minimum, "maximum": maximum, "choices": choices, "unset": unset}


@dataclass(frozen=True)
class AlgorithmParameters:
    """Parameters every algorithm has (kept apart from the state it evolves)."""

    name: str = ""
    """The algorithm's registry name (set by each subclass; not read from a field of its own)."""
    population_size: int = field(default=256, metadata=bounds(minimum=2))
    """Individuals scored per generation."""
    hall_of_fame: int = field(default=8, metadata=bounds(minimum=1))
    """Hall-of-fame size (best training scores ever seen)."""
    elite_candidates: int = field(default=0, metadata=bounds(minimum=0))
    """Best individuals of each generation re-scored on extra levels before selection (0: none).
    More episodes for the front-runners cut the winner's curse of noisy truncation selection."""
    elite_levels: int = field(default=0, metadata=bounds(minimum=0))
    """Extra training levels (shared by the re-scored candidates) per generation."""


class AlgorithmState:
    """Base of an algorithm's state: what a checkpoint keeps of it (by default, everything)."""

    checkpoint_later = False
    """Whether what ``without_genomes`` returns stays unchanged by later asks and tells (a tell
    returns a new state with new arrays), so that its checkpoint may be pickled later, on the
    run's writer thread; otherwise the loop pickles it at once."""

    def without_genomes(self):
        """Return this state with genomes that the run file holds replaced by their ids."""
        return self

    def genome_ids(self):
        """Return the ids of the genomes ``without_genomes`` left out."""
        return ()

    def with_genomes(self, rows, genome_length):
        """Return this state with its genomes put back from ``rows`` (id -> float32 (G,) genome)."""
        return self


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
        creator.create(
            f"IndividualObjectives{_count}", GenomeArray, fitness=getattr(creator, f"FitnessObjectives{_count}")
        )


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
    swapped: np.ndarray = None
    """bool (N,) GA: parent_1 is the parent the variation kernel crossed in, parent_2 the one it
    copied (recorded so, since parent_1 is the parent sharing more genes)."""
    recipe: object = None
    """What makes ``genomes`` again, far smaller than them (es: the mean, sigma and the state of
    the generator its noise came from): the Dask backend ships it instead of the genomes.
    ``recipe.genomes(start, stop)`` returns rows start..stop; ``recipe.nbytes`` its size."""


class Algorithm:
    """A search algorithm over float32 genomes: init / ask / tell, state kept apart.

    A subclass names itself (``name``, the config's ``[algorithm] name``) and its parameter
    dataclass (``Parameters``); ``check`` validates a config's parameters beyond their bounds.
    """

    name = ""
    Parameters = AlgorithmParameters
    rebuilds = False
    """Whether a run file can store this algorithm's genomes as seeds (``[output] genomes``)."""
    replays = True
    """Whether its rebuild replays states (each generation's state is checksummed) or builds
    genomes from their parents' (only keyframes are stored; each genome has a checksum)."""

    @classmethod
    def check(cls, parameters, objectives, genome_length=None):
        """Return (key, message) for the first problem of these parameters, or None.

        ``key`` is ``algorithm.FIELD`` or ``objectives.extra``; ``genome_length`` is given once
        the encoding is known (None while the config is read).
        """
        return None

    def __init__(
        self, parameters, genome_length, initial_genomes, objective_count, mutation_sigma=0.1, mutation_rate=0.05
    ):
        """Bind the parameters to a genome length, an initializer and the objective count."""
        self.parameters = parameters
        self.genome_length = int(genome_length)
        self.initial_genomes = initial_genomes
        self.objective_count = int(objective_count)
        # Unset (negative) mutation settings fall back to the genome preset's.
        sigma, rate = getattr(parameters, "mutation_sigma", -1.0), getattr(parameters, "mutation_rate", -1.0)
        self.mutation_sigma = sigma if sigma >= 0 else mutation_sigma
        self.mutation_rate = rate if rate >= 0 else mutation_rate
        self.timings = {"draws": 0.0}
        """Seconds spent making random draws on a background thread (overlapped)."""

    def init(self, rng):
        """Return the state before generation 0."""
        return self._init(rng)

    def ask(self, state, rng):
        """Return the Offspring to score this generation (generation 0: the initial population)."""
        return self._ask(state, rng)

    def prefetch(self, rng, delay=0.0, executor=None):
        """Start making the random draws of an ask with ``rng`` on a background thread.

        An algorithm whose draws depend on the generator and a fixed shape alone (``_draw_key``
        not None, ``_draw(rng, key)``) has them made while the previous generation plays; a
        copy of ``rng`` is used, and the ask that receives ``rng`` in the same state takes them
        (and leaves ``rng`` where drawing would have). An ask with any other generator, or
        another shape, draws for itself as usual. The thread waits ``delay`` seconds first;
        ``executor`` (a ThreadPoolExecutor the caller shares with its own background work) runs
        the draws instead of the algorithm's own thread.
        """
        key = self._draw_key()
        if key is None:
            return
        twin = copy_generator(rng)
        result = {}

        def draw():
            if delay:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                result["draws"] = self._draw(twin, key)
            except BaseException as error:  # raised by the ask that takes the draws
                result["error"] = error
            result["seconds"] = time.perf_counter() - started

        if executor is None:
            if getattr(self, "_draw_thread", None) is None:
                # One thread for the run: starting one per generation waits for it to be scheduled.
                self._draw_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evosandbox-draws")
            executor = self._draw_thread
        self._prefetched = (rng.bit_generator.state, key, twin, executor.submit(draw), result)

    def _draws_for(self, rng, key):
        """Return the draws of this ask: the prefetched ones when they were made for it."""
        prefetched, self._prefetched = getattr(self, "_prefetched", None), None
        if prefetched is not None:
            state, expected, twin, drawing, result = prefetched
            drawing.result()  # draw() keeps its own errors in result
            self.timings["draws"] += result.get("seconds", 0.0)
            if expected == key and rng.bit_generator.state == state:
                if "error" in result:
                    raise result["error"]
                rng.bit_generator.state = twin.bit_generator.state
                return result["draws"]
        return self._draw(rng, key)

    # -- genomes rebuilt from seeds (evosandbox/runfile/rebuild.py) ---------------------------

    def rebuild_layout(self, keyframe_every):
        """Return the RebuildLayout a seeds run file records: the state's keyframe arrays, the
        parameters (every field, and the resolved mutation settings) and any per-individual columns."""
        from evosandbox.runfile.rebuild import RebuildLayout

        attributes = {item.name: getattr(self.parameters, item.name) for item in dataclasses.fields(self.parameters)}
        attributes.update(resolved_mutation_sigma=self.mutation_sigma, resolved_mutation_rate=self.mutation_rate)
        return RebuildLayout(self._keyframe_arrays(), attributes, keyframe_every, self._rebuild_column_types())

    def keyframe(self, state):
        """Return the state's keyframe arrays (copies; None when it has none yet)."""
        return None

    def from_keyframe(self, arrays):
        """Return the state a keyframe's arrays hold."""
        raise NotImplementedError

    def rebuild_columns(self, offspring):
        """Return the per-individual rebuild columns of a generation (name -> (N,) values)."""
        return {}

    @classmethod
    def from_run_file(cls, source):
        """Return the algorithm a seeds run file records (its parameters, its encoding's founders)."""
        from evosandbox.genomes import make_encoding

        attributes = source.attributes
        fields = {
            item.name: attributes[item.name] for item in dataclasses.fields(cls.Parameters) if item.name in attributes
        }
        fields["name"] = cls.name
        train_world, genome_spec = source.specs()
        encoding = make_encoding(genome_spec, train_world)
        objectives = int(attributes.get("objective_count", 1))
        return cls(
            cls.Parameters(**fields),
            encoding.genome_length,
            encoding.initial_genomes,
            objectives,
            attributes["resolved_mutation_sigma"],
            attributes["resolved_mutation_rate"],
        )

    @classmethod
    def rebuild(cls, source, ids):
        """Return the checked genomes of ``ids`` (int64) from a seeds run file's RebuildSource.

        By default the states are replayed: ``ask`` and ``tell`` (told the recorded ranks) from
        the nearest keyframe, generation by generation (``rebuild.replay_generations``).
        """
        from evosandbox import seeding
        from evosandbox.runfile import rebuild

        algorithm = source.cached(cls.name, lambda: cls.from_run_file(source))

        def generations(source, wanted):
            return rebuild.replay_generations(
                algorithm,
                source,
                wanted,
                lambda generation: seeding.derive_generator("variation", source.seed, generation),
                seeding.derive_generator("init", source.seed),
            )

        return rebuild.from_generations(source, ids, generations)

    def _keyframe_arrays(self):
        """Return keyframe array name -> (shape, dtype) (hook)."""
        raise NotImplementedError

    def _rebuild_column_types(self):
        """Return per-individual rebuild column name -> dtype (hook)."""
        return {}

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


_ANY_SEED = np.random.SeedSequence(0)  # overwritten by the state at once


def copy_generator(rng):
    """Return a numpy Generator in the state of ``rng`` (a copy 30 times cheaper than copy.deepcopy's)."""
    bit_generator = type(rng.bit_generator)(_ANY_SEED)
    bit_generator.state = rng.bit_generator.state
    return np.random.Generator(bit_generator)


def individuals(genomes, fitness, rows=None, **columns):
    """Wrap rows of a genome matrix (all, or those listed) as DEAP individuals: views with fitness and attributes."""
    count = fitness.shape[1]
    individual_class = getattr(creator, f"IndividualObjectives{count}")
    fitness_class = getattr(creator, f"FitnessObjectives{count}")
    wrapped = []
    for index in range(len(genomes)) if rows is None else rows:
        index = int(index)
        individual = genomes[index].view(individual_class)
        individual.fitness = fitness_class(tuple(float(v) for v in fitness[index]))
        individual.slot = index
        for name, values in columns.items():
            setattr(individual, name, int(values[index]))
        wrapped.append(individual)
    return wrapped
