"""Natural evolution strategy: mirrored samples around a mean, centred ranks, Adam."""

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from evosandbox.evolution.algorithms.base import Algorithm, AlgorithmParameters, AlgorithmState, Offspring, bounds
from evosandbox.kernels.strategy import mirrored_deviation, mirrored_samples, standard_normal, weighted_deviation
from evosandbox.runfile.run_write import OPERATOR_COPY, OPERATOR_ES, OPERATOR_INIT


@dataclass(frozen=True)
class EsParameters(AlgorithmParameters):
    """Parameters of the evolution strategy."""

    name: str = "es"
    es_sigma: float = field(default=0.1, metadata=bounds(minimum=1e-9))
    """Standard deviation of the Gaussian samples around the mean (in gene units)."""
    es_learning_rate: float = field(default=0.03, metadata=bounds(minimum=0.0))
    """Adam step size of the mean's update."""
    es_weight_decay: float = field(default=0.005, metadata=bounds(minimum=0.0))
    """L2 pull of the mean towards zero, per generation (keeps weights from saturating)."""


@dataclass
class EsState(AlgorithmState):
    """An ES run: the mean genome, Adam's moment estimates and where the mean came from."""

    mean: np.ndarray  # (G,) float32, the genome every sample is drawn around (None before gen 1)
    first_moment: np.ndarray  # (G,) float64
    second_moment: np.ndarray  # (G,) float64
    mean_id: int = -1
    """Id of the individual the current mean descends from (the previous mean, or the best founder)."""
    mean_origin: int = -1
    """Id of an individual whose genome equals the mean exactly (-1: the mean is new)."""
    generation: int = 0

    # A tell returns a new EsState with new arrays (the first takes a copy of the best
    # founder); nothing changes one in place, so its checkpoint is pickled on the writer thread.
    checkpoint_later = True


class EvolutionStrategy(Algorithm):
    """Natural evolution strategy (Salimans et al. 2017) for large genomes such as direct ones.

    Generation 0 scores a random population like the GA's, and the best founder becomes the
    mean (a single random mean usually sits on a plateau where every sample times out). From
    then on each generation scores the mean (row 0) and mirrored pairs mean +/- sigma * eps on
    the same levels; the mean moves along the gradient estimated from the samples' centred
    ranks, with Adam and weight decay. Every genome of a generation has the mean's ancestor
    as its parent, so the line of descent runs through the means back to the founder.
    """

    name = "es"
    Parameters = EsParameters
    rebuilds = True
    _BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-8

    @classmethod
    def check(cls, parameters, objectives, genome_length=None):
        """Return (key, message) for a population without a mirrored pair, or extra objectives."""
        if parameters.population_size < 3:
            return "algorithm.population_size", "es needs the mean and at least one mirrored pair (3 or more)"
        if len(objectives) > 1:
            return "objectives.extra", (
                "es follows one fitness: fold the extra objectives into it with [objectives] weights "
                "(a scalarised penalty), or use nsga2"
            )
        return None

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
        recipe = SampleRecipe(
            state.mean,
            np.float32(self.parameters.es_sigma),
            rng.bit_generator.state,
            self._draw_key(),
            self.genome_length,
        )
        genomes = recipe.block(*self._draws_for(rng, self._draw_key()), out=self._block_buffer())
        origin = none.copy()
        origin[0] = state.mean_origin
        operator = np.full(size, OPERATOR_ES, np.uint8)
        if state.mean_origin >= 0:
            operator[0] = OPERATOR_COPY  # generation 1's mean is the best founder itself
        return Offspring(genomes, np.full(size, state.mean_id, np.int64), none.copy(), operator, origin, recipe=recipe)

    def _block_buffer(self):
        """Return the (P, G) float32 array this ask's samples go into: two are taken in turn.

        Offspring genomes stay unchanged until the next-but-one ask (the recorder writes them
        while the next generation plays); writing into a page-faulted fresh block of megabytes
        every generation cost more than drawing the samples.
        """
        buffers = self.__dict__.setdefault("_blocks", [])
        if len(buffers) < 2:
            buffers.append(np.empty((self.parameters.population_size, self.genome_length), np.float32))
            return buffers[-1]
        buffers.reverse()  # the one the last ask used goes first; the other is this ask's
        return buffers[-1]

    def _keyframe_arrays(self):
        """Return the state's arrays: the mean, Adam's two moments, and (mean id, mean origin, generation)."""
        genes = (self.genome_length,)
        return {
            "mean": (genes, np.float32),
            "first_moment": (genes, np.float64),
            "second_moment": (genes, np.float64),
            "counters": ((3,), np.int64),
        }

    def keyframe(self, state):
        """Return the state's arrays (copies), or None before the first mean exists."""
        if state.mean is None:
            return None
        return {
            "mean": state.mean.copy(),
            "first_moment": state.first_moment.copy(),
            "second_moment": state.second_moment.copy(),
            "counters": np.array([state.mean_id, state.mean_origin, state.generation], np.int64),
        }

    def from_keyframe(self, arrays):
        """Return the state a keyframe holds."""
        mean_id, mean_origin, generation = (int(value) for value in arrays["counters"])
        return EsState(
            np.array(arrays["mean"], np.float32),
            np.array(arrays["first_moment"], np.float64),
            np.array(arrays["second_moment"], np.float64),
            mean_id,
            mean_origin,
            generation,
        )

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
        return draw_noise(rng, key, self.genome_length)

    def _tell(self, state, offspring, ids, fitness):
        """Return the state after one Adam step along the estimated gradient (hook)."""
        if state.mean is None:
            best = int(np.argmax(fitness[:, 0]))  # the first of equals
            origin = int(offspring.origin[best]) if offspring.origin[best] >= 0 else int(ids[best])
            return dataclasses.replace(
                state,
                mean=offspring.genomes[best].copy(),
                mean_id=int(ids[best]),
                mean_origin=origin,
                generation=state.generation + 1,
            )
        utility = centred_ranks(fitness[1:, 0])
        gradient = np.empty(self.genome_length)
        weighted_deviation(utility, offspring.genomes[1:], offspring.genomes[0], gradient)
        return self._step(state, gradient, len(utility), int(ids[0]))

    def replay(self, state, rng, first_id, rank):
        """Return the state after the generation ``state`` bred with ``rng``, told its recorded ``rank``.

        What ``tell(state, ask(state, rng), ids, -rank)`` returns, without making the genomes:
        the gradient comes from the noise alone (``mirrored_deviation``). A rebuild replays the
        generations between a keyframe and the wanted one this way (rebuild.replay_generations).
        None where the genomes themselves are needed (before the first mean) or the ranks do not
        fit the population (the caller's ask then says so).
        """
        if state.mean is None or len(rank) != self.parameters.population_size:
            return None
        noise, extra = self._draw(rng, self._draw_key())
        utility = centred_ranks(-np.asarray(rank, np.float64)[1:])
        gradient = np.empty(self.genome_length)
        unmirrored = extra if extra is not None else np.empty(0, np.float32)
        mirrored_deviation(utility, state.mean, noise, np.float32(self.parameters.es_sigma), unmirrored, gradient)
        return self._step(state, gradient, len(utility), int(first_id))

    def _step(self, state, deviation, samples, mean_id):
        """Return the state after one Adam step along the rank-weighted ``deviation`` of ``samples`` samples."""
        gradient = deviation / (samples * self.parameters.es_sigma**2)
        gradient -= self.parameters.es_weight_decay * state.mean
        step = state.generation  # Adam's step count: generation 1 makes the first update
        first_moment = self._BETA_1 * state.first_moment + (1 - self._BETA_1) * gradient
        second_moment = self._BETA_2 * state.second_moment + (1 - self._BETA_2) * gradient * gradient
        corrected = first_moment / (1 - self._BETA_1**step)
        scale = np.sqrt(second_moment / (1 - self._BETA_2**step)) + self._EPSILON
        mean = (state.mean + self.parameters.es_learning_rate * corrected / scale).astype(np.float32)
        return EsState(mean, first_moment, second_moment, mean_id, -1, state.generation + 1)


def centred_ranks(fitness):
    """Return float64 utilities in [-0.5, 0.5] by descending fitness (ties by row order): invariant to its scale."""
    order = np.argsort(-fitness, kind="stable")
    utility = np.empty(len(order))
    utility[order] = 0.5 - np.arange(len(order)) / max(1, len(order) - 1)
    return utility


def draw_noise(rng, key, genome_length):
    """Draw the noise of a generation: (pairs, G) float32 standard normal, then the unmirrored row (or None)."""
    pairs, unmirrored = key
    noise = standard_normal(rng, pairs, genome_length)
    extra = standard_normal(rng, 1, genome_length)[0] if unmirrored else None
    return noise, extra


@dataclass
class SampleRecipe:
    """A generation of samples as (mean, sigma, the noise generator's state): what a Dask worker
    receives instead of the genomes (Salimans et al. 2017), about P times smaller."""

    mean: np.ndarray
    sigma: np.float32
    generator_state: dict
    """``bit_generator.state`` of the ask's generator before it drew the noise."""
    key: tuple
    """(pairs, whether an unmirrored row follows), as ``_draw_key`` says."""
    genome_length: int

    @property
    def nbytes(self):
        """Return the bytes of its arrays and numbers (what shipping it costs, pickling aside)."""
        return int(self.mean.nbytes) + 64

    def block(self, noise, extra, out=None):
        """Return the generation's genomes from its noise: the mean (row 0), the mirrored pairs, the unmirrored row.

        ``out``: a (P, G) float32 array to write them into (default: a new one).
        """
        pairs = noise.shape[0]
        shape = (1 + 2 * pairs + (extra is not None), self.genome_length)
        genomes = (
            out if out is not None and out.shape == shape and out.dtype == np.float32 else np.empty(shape, np.float32)
        )
        mirrored_samples(self.mean, noise, self.sigma, genomes)
        if extra is not None:  # an even population: one unmirrored sample fills the last row
            genomes[-1] = self.mean + self.sigma * extra
        return genomes

    def genomes(self, start, stop):
        """Return rows start..stop of the generation, the noise drawn again from the generator's state."""
        rng = np.random.default_rng()
        rng.bit_generator.state = self.generator_state
        return np.ascontiguousarray(self.block(*draw_noise(rng, self.key, self.genome_length))[start:stop])
