"""The genetic algorithm: tournament parents, uniform crossover, sparse self-adaptive mutation."""

import dataclasses
import random
from dataclasses import dataclass, field

import numpy as np
from deap import creator

from evosandbox import seeding
from evosandbox.evolution.algorithms.base import (
    SCHEMES,
    Algorithm,
    AlgorithmParameters,
    AlgorithmState,
    Offspring,
    bounds,
)
from evosandbox.kernels.variation import vary_children, vary_into
from evosandbox.runfile.run_write import (
    OPERATOR_COPY,
    OPERATOR_CROSSOVER,
    OPERATOR_CROSSOVER_MUTATION,
    OPERATOR_INIT,
    OPERATOR_MUTATION,
)

_DENSE_MUTATION_RATE = 0.25  # above this share of genes, draw one noise value per gene


@dataclass(frozen=True)
class GaParameters(AlgorithmParameters):
    """Parameters of the GA (and of NSGA-II, which breeds the same way)."""

    name: str = "ga"
    scheme: str = field(default="mu+lambda", metadata=bounds(choices=SCHEMES))
    """mu+lambda: the parents are re-scored next to their children each generation;
    mu,lambda: only children are scored and the parents die."""
    parents: int = field(default=32, metadata=bounds(minimum=1))
    """mu: individuals kept after selection, the pool that breeds the next generation."""
    elite: int = field(default=-1, metadata=bounds(minimum=-1))
    """Under mu+lambda, how many of the best parents are copied into the next generation and
    re-scored there (-1: all mu, the classic scheme). Fewer elites and a larger pool keep a
    diverse population with the best genomes still safe."""
    tournament_size: int = field(default=3, metadata=bounds(minimum=1))
    """Tournament size for choosing each child's parents among the mu."""
    crossover_probability: float = field(default=0.0, metadata=bounds(minimum=0.0, maximum=1.0))
    """Chance that a child is a uniform crossover of two parents."""
    mutation_probability: float = field(default=1.0, metadata=bounds(minimum=0.0, maximum=1.0))
    """Chance that a child is mutated."""
    mutation_sigma: float = field(default=-1.0, metadata=bounds(minimum=0.0, unset="the genome preset's sigma"))
    """Initial Gaussian step per mutated gene, at least 0 (left out: the genome preset's sigma)."""
    mutation_rate: float = field(
        default=-1.0, metadata=bounds(minimum=0.0, maximum=1.0, unset="the genome preset's rate")
    )
    """Share of genes mutated per child, 0..1 (left out: the genome preset's rate)."""
    sigma_adaptation: float = field(default=0.0, metadata=bounds(minimum=0.0))
    """Self-adaptation rate tau: a child's step is its parent's times exp(tau * N(0, 1))."""
    sigma_min: float = field(default=1e-3, metadata=bounds(minimum=0.0))
    """Lower bound of a self-adapted step."""
    sigma_max: float = field(default=1.0, metadata=bounds(minimum=0.0))
    """Upper bound of a self-adapted step."""
    average_survivors: bool = True
    """Rank a surviving parent by the mean of all its scorings, not its latest (less noise)."""


@dataclass
class PopulationState(AlgorithmState):
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

    def without_genomes(self):
        """Return the pool without its genomes (every parent is in the run file)."""
        return dataclasses.replace(self, genomes=None)

    def genome_ids(self):
        """Return the parents' ids."""
        return tuple(int(i) for i in self.ids)

    def with_genomes(self, rows, genome_length):
        """Return the pool with its parents' genomes read back."""
        matrix = np.empty((len(self.ids), genome_length), np.float32)
        for index, individual in enumerate(self.ids):
            matrix[index] = rows[int(individual)]
        return dataclasses.replace(self, genomes=matrix)


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

    name = "ga"
    Parameters = GaParameters
    rebuilds = True
    replays = False  # a child is rebuilt from its parents' genomes, not by replaying selection

    @classmethod
    def check(cls, parameters, objectives, genome_length=None):
        """Return (key, message) for the first inconsistency of the pool sizes, or None."""
        if parameters.parents > parameters.population_size:
            return (
                "algorithm.parents",
                f"{parameters.parents} parents exceed the population of {parameters.population_size}",
            )
        copies = parameters.parents if parameters.elite < 0 else parameters.elite
        if parameters.scheme == "mu+lambda" and copies >= parameters.population_size:
            key = "algorithm.parents" if parameters.elite < 0 else "algorithm.elite"
            return (
                key,
                f"mu+lambda copies {copies} parents into a population of {parameters.population_size}: no room for children",
            )
        if parameters.elite > parameters.parents:
            return "algorithm.elite", f"{parameters.elite} elites exceed the {parameters.parents} parents"
        if parameters.sigma_min > parameters.sigma_max:
            return "algorithm.sigma_min", f"{parameters.sigma_min} exceeds sigma_max {parameters.sigma_max}"
        return None

    def _init(self, rng):
        """Return the initial state (hook)."""
        empty = np.zeros((0, self.objective_count))
        return PopulationState(
            np.zeros((0, self.genome_length), np.float32),
            empty,
            empty.copy(),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0),
            np.zeros(0),
        )

    def _ask(self, state, rng):
        """Return this generation's Offspring (hook)."""
        size = self.parameters.population_size
        if len(state.ids) == 0:
            genomes = np.ascontiguousarray(self.initial_genomes(size, rng), dtype=np.float32)
            none = np.full(size, -1, np.int64)
            return Offspring(
                genomes,
                none,
                none.copy(),
                np.full(size, OPERATOR_INIT, np.uint8),
                none.copy(),
                np.full(size, self.mutation_sigma),
                none.copy(),
            )
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
        vary_into(
            genomes,
            state.genomes,
            copies,
            first,
            second,
            crossover_row,
            draws.crossover_bits,
            draws.bounds,
            draws.gene_index,
            draws.noise,
            np.asarray(sigma, np.float64),
            dense,
            from_first,
            from_second,
        )
        if len(rows):
            # Record the parent a crossover child shares more genes with as parent_1 (its line
            # parent), so lineage analysis never has to compare genomes to trace descent.
            swap = rows[from_second[rows] > from_first[rows]]
            first_ids = state.ids[first].copy()
            first_ids[swap], second_ids = state.ids[second[swap]], state.ids[first[swap]]
        operator = np.where(
            crossing,
            np.where(mutating, OPERATOR_CROSSOVER_MUTATION, OPERATOR_CROSSOVER),
            np.where(mutating, OPERATOR_MUTATION, OPERATOR_COPY),
        ).astype(np.uint8)
        parent_2 = np.where(second >= 0, state.ids[np.maximum(second, 0)], -1).astype(np.int64)
        parent_1 = state.ids[first]
        swapped = np.zeros(children, bool)
        if len(rows):
            parent_1, parent_2[swap] = first_ids, second_ids
            swapped[swap] = True
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
            swapped = np.concatenate([np.zeros(copies, bool), swapped])
        return Offspring(genomes, parent_1, parent_2, operator, origin, sigma, slot, swapped)

    # -- genomes rebuilt from seeds -------------------------------------------------------------

    def _keyframe_arrays(self):
        """Return the parent pool's arrays: its genomes and their ids."""
        mu = min(self.parameters.parents, self.parameters.population_size)
        return {"genomes": ((mu, self.genome_length), np.float32), "ids": ((mu,), np.int64)}

    def _rebuild_column_types(self):
        """Return each individual's mutation step, swapped flag and genome checksum (filled by the writer)."""
        return {"sigma": np.float64, "swapped": np.uint8, "genome_checksum": np.uint64}

    def keyframe(self, state):
        """Return the parent pool that breeds the next generation (copies), or None before one exists."""
        if len(state.ids) == 0:
            return None
        return {"genomes": np.array(state.genomes, np.float32), "ids": np.array(state.ids, np.int64)}

    def rebuild_columns(self, offspring):
        """Return each individual's mutation step and whether its recorded parents are swapped."""
        swapped = offspring.swapped if offspring.swapped is not None else np.zeros(len(offspring.genomes), bool)
        return {"sigma": np.asarray(offspring.sigma, np.float64), "swapped": np.asarray(swapped, np.uint8)}

    @classmethod
    def rebuild(cls, source, ids):
        """Return the checked genomes of ``ids``: each child varied again from its parents' genomes
        with its generation's draws (``_draw``), back to a keyframe's pool or generation 0."""
        algorithm = source.cached(cls.name, lambda: cls.from_run_file(source))
        return algorithm._rebuild(source, np.asarray(ids, np.int64))

    def _rebuild(self, source, ids):
        """Walk back from ``ids`` along both parents to stored pools or founders, then build forward."""
        bounds = source.bounds
        stored = source.cached("ga-pools", lambda: _stored_pools(source))

        def generation_of(values):
            """Return the generation each id was born in."""
            return np.searchsorted(bounds, values, side="right") - 1

        needed, frontier, parents = set(), {int(i) for i in ids}, {}
        while frontier:
            needed |= frontier
            build = np.array(sorted(i for i in frontier if i not in stored and generation_of(i) > 0), np.int64)
            frontier = set()
            if len(build):
                first = source.individual_rows("parent_1", build).tolist()
                second = source.individual_rows("parent_2", build).tolist()
                for individual, one, two in zip(build.tolist(), first, second):
                    parents[individual] = (one, two)
                    frontier |= {parent for parent in (one, two) if parent >= 0 and parent not in needed}
        genomes = {}
        order = np.array(sorted(needed), np.int64)
        generations = generation_of(order)
        for generation in np.unique(generations).tolist():
            members = order[generations == generation]
            made = self._rebuild_generation(source, generation, members, stored, parents, genomes)
            source.check_individuals(members, made)
            genomes.update(zip(members.tolist(), made))
        return np.stack([genomes[int(i)] for i in ids]).astype(np.float32, copy=False)

    def _rebuild_generation(self, source, generation, members, stored, parents, genomes):
        """Return the genomes of ``members`` (one generation's ids, sorted) from their parents' in ``genomes``."""
        size = self.parameters.population_size
        start = int(source.bounds[generation])
        made = np.empty((len(members), self.genome_length), np.float32)
        if generation == 0:
            founders = source.cached(
                "ga-founders",
                lambda: np.asarray(
                    self.initial_genomes(size, seeding.derive_generator("variation", source.seed, 0)), np.float32
                ),
            )
            made[:] = founders[members - start]
            return made
        pending = []
        for index, individual in enumerate(members.tolist()):
            if individual in stored:
                row, slot = stored[individual]
                made[index] = source.keyframe_rows("genomes", row, slot)
            else:
                pending.append(index)
        pending = np.array(pending, np.int64)
        copies = self._copies(min(self.parameters.parents, size))
        child = members[pending] - start - copies if len(pending) else pending
        for index in pending[child < 0]:  # elites: copies of their parent
            made[index] = genomes[parents[int(members[index])][0]]
        chosen = pending[child >= 0]
        if not len(chosen):
            return made
        child = members[chosen] - start - copies
        draws = self._draw(seeding.derive_generator("variation", source.seed, generation), size - copies)
        sigma = source.individual_rows("rebuild/individuals/sigma", members[chosen]).astype(np.float64)
        swapped = source.individual_rows("rebuild/individuals/swapped", members[chosen]).astype(bool)
        recorded = np.array([parents[int(i)] for i in members[chosen]], np.int64).reshape(-1, 2)
        first_ids = np.where(swapped, recorded[:, 1], recorded[:, 0])
        second_ids = np.where(swapped, recorded[:, 0], recorded[:, 1])
        pool_ids = np.unique(np.concatenate([first_ids, second_ids[second_ids >= 0]]))
        pool = np.stack([genomes[int(i)] for i in pool_ids.tolist()])
        first = np.searchsorted(pool_ids, first_ids)
        second = np.where(second_ids >= 0, np.searchsorted(pool_ids, np.maximum(second_ids, 0)), -1)
        crossover_row = np.where(draws.crossing, np.cumsum(draws.crossing) - 1, -1)[child]
        starts, stops = draws.bounds[child], draws.bounds[child + 1]
        dense = draws.dense
        if dense.shape[0]:
            # ask scales each mutating child's dense row by its step, in float32.
            dense = dense[np.minimum(starts, len(dense) - 1)] * sigma.astype(np.float32)[:, None]
            starts, stops = np.arange(len(child)), np.arange(len(child)) + (stops > starts)
        out = np.empty((len(child), self.genome_length), np.float32)
        vary_children(
            out,
            pool,
            first,
            second,
            crossover_row,
            draws.crossover_bits,
            starts,
            stops,
            draws.gene_index,
            draws.noise,
            sigma,
            np.ascontiguousarray(dense, np.float32),
        )
        made[chosen] = out
        return made

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
            np.take(offspring.genomes, slots, axis=0),
            selection_fitness[slots],
            fitness_sum[slots],
            scorings[slots],
            ids[slots],
            origins[slots],
            offspring.sigma[slots].copy(),
            crowding,
            state.generation + 1,
        )

    def _survivors(self, genomes, fitness):
        """Keep the best mu (truncation; ties keep the earlier individual): (slots, crowding)."""
        # DEAP's selBest order (a stable sort on the weighted values, lexicographic, best
        # first) without wrapping every row as an individual.
        weights = getattr(creator, f"FitnessObjectives{fitness.shape[1]}").weights
        weighted = fitness * np.asarray(weights, np.float64)
        order = np.lexsort([-weighted[:, column] for column in reversed(range(fitness.shape[1]))])
        slots = order[: self.parameters.parents].astype(np.int64)
        return slots, np.zeros(len(slots))


def _stored_pools(source):
    """Return {id: (keyframe row, slot)} of every genome a seeds GA run file stores in its keyframes."""
    stored = {}
    for row in source.keyframe_index().values():
        for slot, individual in enumerate(source.keyframe_rows("ids", row, slice(None)).tolist()):
            stored[individual] = (row, slot)
    return stored
