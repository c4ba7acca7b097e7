"""The champion: the hall of fame, validation on fixed levels, and periodic test scoring."""

import numpy as np

from evosandbox.evolution.experiment import test_level_seeds
from evosandbox.seeding import derive_seed


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


def validate(config, state, algorithm, problem, validation_seeds, offspring, origins, base_fitness):
    """Score new hall-of-famers and the algorithm's candidates on the fixed validation levels.

    Updates ``state.validated`` (origin id -> (fitness, door rate, proxy rate)) and
    ``state.champion`` (the best validated genome; ties: the older).
    """
    candidates = {}
    for member in state.hall_of_fame:
        if member.origin not in state.validated:
            candidates.setdefault(member.origin, np.asarray(member, np.float32))
    offered = algorithm.validation_candidates(state.algorithm_state, offspring, origins, base_fitness,
                                              config.validation_candidates)
    for origin, genome in offered:
        if int(origin) not in state.validated:
            candidates.setdefault(int(origin), genome)
    if candidates:
        order = sorted(candidates)
        genomes = np.stack([candidates[o] for o in order])
        seed = derive_seed("validation", config.validation_seed, 1)
        scores = problem.score(genomes, config.train_world, validation_seeds, seed)
        for index, origin in enumerate(order):
            state.validated[origin] = (float(scores.fitness[index]), float(scores.door_rate[index]),
                                       float(scores.proxy_rate[index]))
            champion = state.champion[0]
            if champion < 0 or better(state.validated[origin], origin, state.validated[champion], champion):
                state.champion = (origin, np.array(genomes[index], np.float32))


def score_tests(config, state, problem, generation):
    """Score the champion on every test world when due; return (door, proxy) rates and /tests rows.

    A champion is scored on a world once (``state.tested``); the rows repeat its scores at every
    due generation while it stays the champion.
    """
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
            scores = problem.score(genome[None], world, test_level_seeds(config, index), seed)
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


def better(scores, origin, other_scores, other_origin):
    """Return whether validation ``scores`` beat ``other_scores`` (ties: the older genome)."""
    if scores[0] != other_scores[0]:
        return scores[0] > other_scores[0]
    return origin < other_origin
