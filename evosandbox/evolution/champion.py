"""The champion: the hall of fame, validation on fixed levels, and periodic test scoring."""

import functools

import numpy as np

from evosandbox.evolution.experiment import test_level_seeds
from evosandbox.probes import get_probe
from evosandbox.runfile.run_write import test_column
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
    offered = algorithm.validation_candidates(
        state.algorithm_state, offspring, origins, base_fitness, config.validation_candidates
    )
    for origin, genome in offered:
        if int(origin) not in state.validated:
            candidates.setdefault(int(origin), genome)
    if candidates:
        order = sorted(candidates)
        genomes = np.stack([candidates[o] for o in order])
        scores = problem.score(genomes, config.train_world, validation_seeds, validation_rollout_seed(config))
        for index, origin in enumerate(order):
            state.validated[origin] = (
                float(scores.fitness[index]),
                float(scores.door_rate[index]),
                float(scores.proxy_rate[index]),
            )
            champion = state.champion[0]
            if champion < 0 or better(state.validated[origin], origin, state.validated[champion], champion):
                state.champion = (origin, np.array(genomes[index], np.float32))


@functools.lru_cache(maxsize=8)
def _validation_rollout_seed(validation_seed):
    """Return the rollout seed of validation (the same every generation)."""
    return derive_seed("validation", validation_seed, 1)


def validation_rollout_seed(config):
    """Return the rollout seed the validation of a run plays with."""
    return _validation_rollout_seed(config.validation_seed)


def score_tests(config, state, problem, generation):
    """Score the champion with every configured probe on every test world when due.

    A champion is measured on a world once per probe (``state.tested``); the rows repeat its
    metrics at every due generation while it stays the champion. The proxy probe plays the
    run's test levels through the evaluator, so its rates are what the run file always held.

    Returns:
        (door, proxy) float32 (W,) rates of the proxy probe (NaN when not due or not named),
        and the /tests rows: {column: (T,) array} (``test_columns``), one row per world.
    """
    worlds = len(config.test_worlds)
    door = np.full(worlds, np.nan, np.float32)
    proxy = np.full(worlds, np.nan, np.float32)
    due = (generation + 1) % config.test_every == 0 or generation + 1 == config.generations
    champion, genome = state.champion
    if not worlds or not due or champion < 0:
        return door, proxy, {}
    columns = test_columns(config)
    rows = {name: [] for name in ("id", "generation", "world", "episodes", *columns)}
    for index, world in enumerate(config.test_worlds):
        seed = derive_seed("test", config.test_seed, index, 1)
        episodes = config.test_levels * world.lifetime.episodes
        for row_name, value in (("id", champion), ("generation", generation), ("world", index), ("episodes", episodes)):
            rows[row_name].append(value)
        values = {}
        for probe_name in config.test_probes:
            key = (champion, index, probe_name)
            if key not in state.tested:
                result = get_probe(probe_name).measure_genomes(
                    problem,
                    genome[None],
                    world,
                    config.train_world,
                    episodes,
                    seed,
                    level_seeds=test_level_seeds(config, index),
                )[0]
                state.tested[key] = {name: (m.value, m.low, m.high, m.count) for name, m in result.metrics.items()}
            for metric, (value, low, high, _count) in state.tested[key].items():
                column = test_column(probe_name, metric)
                values.update({column: value, f"{column}.low": low, f"{column}.high": high})
            if probe_name == "proxy":
                door[index] = state.tested[key]["door_rate"][0]
                proxy[index] = state.tested[key]["proxy_rate"][0]
        for column in columns:  # a metric a probe has on another world only is NaN here
            rows[column].append(values.get(column, np.nan))
    if "proxy" in config.test_probes:
        state.last_tests = (tuple(float(d) for d in door), tuple(float(p) for p in proxy))
    dtypes = {"id": np.int64, "generation": np.int32, "world": np.int32, "episodes": np.int32}
    return door, proxy, {name: np.asarray(column, dtypes.get(name, np.float32)) for name, column in rows.items()}


def test_columns(config):
    """Return the /tests metric columns of an experiment: value, .low and .high per probe metric."""
    columns = []
    for probe_name in config.test_probes:
        probe = get_probe(probe_name)
        names = []
        for world in config.test_worlds:
            names += [name for name in probe.metric_names(world, config.train_world) if name not in names]
        for name in names:
            column = test_column(probe_name, name)
            columns += [column, f"{column}.low", f"{column}.high"]
    return tuple(columns)


def better(scores, origin, other_scores, other_origin):
    """Return whether validation ``scores`` beat ``other_scores`` (ties: the older genome)."""
    if scores[0] != other_scores[0]:
        return scores[0] > other_scores[0]
    return origin < other_origin
