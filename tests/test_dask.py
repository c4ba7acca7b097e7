"""The Dask backend: a real LocalCluster with two workers gives the local backend's run file."""

import logging
import random

import numpy as np
import pytest
from test_evolve import SMOKE, assert_same_run

from evosandbox import evolve as evolution
from evosandbox.config import load_world
from evosandbox.errors import ConfigError, UsageError
from evosandbox.evaluate import DaskBackend, Evaluator

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Start a two-worker LocalCluster (separate processes) for the module."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    ) as local_cluster:
        yield local_cluster


def test_chunked_scores_equal_local_scores_and_leave_random_alone(cluster):
    config = evolution.load_experiment(SMOKE)
    local = Evaluator(config.genome_preset, config.train_world)
    remote = Evaluator(
        config.genome_preset, config.train_world, backend="dask", scheduler=cluster.scheduler_address, chunk_size=5
    )
    try:
        genomes = local.initial_genomes(13, np.random.default_rng(3))
        seeds = np.arange(6, dtype=np.uint64) + 100
        test_world = load_world(config.test_worlds[0].path)
        for world in (config.train_world, test_world):
            random.seed(11)
            before = random.getstate()
            chunked = remote.score(genomes, world, seeds, 5)
            assert random.getstate() == before  # the client's draws do not leak into DEAP's stream
            whole = local.score(genomes, world, seeds, 5)
            for name in ("fitness", "door", "proxy", "other", "timeout", "steps"):
                np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name), err_msg=name)
        assert remote.agent_steps == local.agent_steps > 0
    finally:
        remote.close()
        local.close()


def test_a_dask_run_file_equals_the_local_one(cluster, tmp_path):
    config = evolution.load_experiment(SMOKE, generations=4)
    evolution.evolve(config, tmp_path / "local", progress=False)
    evolution.evolve(evolution.override(config, scheduler=cluster.scheduler_address), tmp_path / "dask", progress=False)
    assert_same_run(tmp_path / "local" / "run.h5", tmp_path / "dask" / "run.h5")


def test_an_es_run_on_dask_ships_the_mean_and_the_noise_seed_not_the_genomes(cluster, tmp_path):
    import dataclasses

    from evosandbox.evolution.algorithms import convert_parameters

    base = evolution.load_experiment(SMOKE, generations=4)
    config = dataclasses.replace(
        base, objectives=("return",), algorithm=convert_parameters(base.algorithm, name="es", population_size=33)
    )
    evolution.evolve(config, tmp_path / "local", progress=False)
    shipped = {}
    for recipes in (False, True):
        problem = Evaluator(
            config.genome_preset, config.train_world, backend="dask", scheduler=cluster.scheduler_address
        )
        problem.takes_recipes = recipes
        try:
            evolution.evolve(config, tmp_path / f"dask-{recipes}", problem=problem, progress=False)
            shipped[recipes] = problem._backend.payload_bytes
        finally:
            problem.close()
        assert_same_run(tmp_path / "local" / "run.h5", tmp_path / f"dask-{recipes}" / "run.h5")
    # Generations 1-3 ship a recipe per worker (mean + seed) instead of 33 genomes; generation 0
    # (founders) and the validation batches still ship genomes.
    genome_bytes = 4 * problem.genome_length
    assert shipped[False] - shipped[True] == 3 * (33 * genome_bytes - 2 * (genome_bytes + 64))


def test_an_unreachable_scheduler_is_a_usage_error():
    random.seed(4)
    before = random.getstate()
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        DaskBackend("tcp://127.0.0.1:9", timeout=1.0)
    assert random.getstate() == before


def test_the_dask_backend_needs_a_scheduler_address():
    config = evolution.load_experiment(SMOKE)
    with pytest.raises(ConfigError, match="evaluation.scheduler"):
        Evaluator(config.genome_preset, config.train_world, backend="dask")
