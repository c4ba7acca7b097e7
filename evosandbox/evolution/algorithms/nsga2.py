"""NSGA-II: the GA's breeding with non-dominated sorting and crowding over several objectives."""

from dataclasses import dataclass

import numpy as np
from deap import tools

from evosandbox.evolution.algorithms.base import individuals
from evosandbox.evolution.algorithms.ga import GaParameters, GeneticAlgorithm


@dataclass(frozen=True)
class Nsga2Parameters(GaParameters):
    """Parameters of NSGA-II: the GA's (its parents come from crowded binary tournaments)."""

    name: str = "nsga2"


class Nsga2(GeneticAlgorithm):
    """NSGA-II over the base objective and the simplicity and time penalties."""

    name = "nsga2"
    Parameters = Nsga2Parameters

    @classmethod
    def check(cls, parameters, objectives, genome_length=None):
        """Return (key, message) for a pool DEAP cannot select from, or too few objectives."""
        problem = super().check(parameters, objectives, genome_length)
        if problem is not None:
            return problem
        if parameters.parents % 4:
            return "algorithm.parents", f"nsga2's crowded tournament needs a multiple of 4, got {parameters.parents}"
        if len(objectives) == 1:
            return "objectives.extra", "nsga2 needs at least one extra objective (description-length, steps)"
        return None

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
        return (
            np.array([ind.slot for ind in chosen], np.int64),
            np.array([ind.fitness.crowding_dist for ind in chosen], np.float64),
        )
