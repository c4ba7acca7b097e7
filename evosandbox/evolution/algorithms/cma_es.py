"""CMA-ES through ``deap.cma.Strategy``, for compact genomes (it keeps a G x G covariance)."""

from dataclasses import dataclass, field

import numpy as np
from deap import cma

from evosandbox.evolution.algorithms.base import (
    Algorithm,
    AlgorithmParameters,
    AlgorithmState,
    Offspring,
    bounds,
    individuals,
)
from evosandbox.runfile.run_write import OPERATOR_CMA, OPERATOR_INIT

MAX_GENES = 3000  # the covariance matrix is genes x genes


@dataclass(frozen=True)
class CmaParameters(AlgorithmParameters):
    """Parameters of CMA-ES."""

    name: str = "cma-es"
    cma_sigma: float = field(default=0.5, metadata=bounds(minimum=1e-9))
    """CMA-ES initial step size."""


@dataclass
class CmaState(AlgorithmState):
    """A CMA-ES run: DEAP's strategy object and the previous generation's best."""

    strategy: object
    best_id: int = -1
    generation: int = 0


class CmaEs(Algorithm):
    """CMA-ES through ``deap.cma.Strategy`` (for compact genomes: it keeps a G x G covariance)."""

    name = "cma-es"
    Parameters = CmaParameters

    @classmethod
    def check(cls, parameters, objectives, genome_length=None):
        """Return (key, message) when the genome is too long for a covariance matrix."""
        if genome_length is not None and genome_length > MAX_GENES:
            return "algorithm.name", (
                f"cma-es keeps a {genome_length}x{genome_length} covariance; use a genome of at "
                f"most {MAX_GENES} genes (cppn, developmental) or ga"
            )
        return None

    def _init(self, rng):
        """Return the initial state (hook)."""
        centroid = np.asarray(self.initial_genomes(1, rng), np.float64)[0] * 0.0
        strategy = cma.Strategy(
            centroid=centroid, sigma=self.parameters.cma_sigma, lambda_=self.parameters.population_size
        )
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
