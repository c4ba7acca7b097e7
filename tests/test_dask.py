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
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as local_cluster:
        yield local_cluster


def test_chunked_scores_equal_local_scores_and_leave_random_alone(cluster):
    config = evolution.load_experiment(SMOKE)
    local = Evaluator(config.genome_preset, config.train_world)
    remote = Evaluator(config.genome_preset, config.train_world, backend="dask",
                       scheduler=cluster.scheduler_address, chunk_size=5)
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
