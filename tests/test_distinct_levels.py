"""[world] distinct_levels: training restricted to a fixed pool of levels (the diversity sweep's knob)."""

import dataclasses
import os

import numpy as np
import pytest
from recording_evaluator import RecordingEvaluator
from run_digest import run_digests

from evosandbox import evolve as evolution
from evosandbox.cli import main
from evosandbox.evolution.experiment import render_config, training_level_pool, training_level_seeds
from evosandbox.runfile.run_read import RunReader
from evosandbox.seeding import derive_seeds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")


def smoke(**changes):
    """Return the smoke config with ``changes``."""
    return dataclasses.replace(evolution.load_experiment(SMOKE), **changes)


def test_fresh_levels_are_what_they_always_were_and_a_pool_is_fixed_by_the_run_seed():
    config = smoke()
    assert config.distinct_levels == 0 and "distinct_levels" not in render_config(config)
    for generation in (0, 5):
        np.testing.assert_array_equal(
            training_level_seeds(config, generation), derive_seeds("training-levels", 1, config.levels, generation)
        )
    small = smoke(distinct_levels=3)  # fewer than levels (4): the whole pool, every generation
    pool = training_level_pool(small)
    assert len(set(pool.tolist())) == 3
    for generation in range(4):
        np.testing.assert_array_equal(training_level_seeds(small, generation), pool)
    assert not set(pool.tolist()) & set(training_level_seeds(config, 0).tolist())
    assert not np.array_equal(training_level_pool(smoke(distinct_levels=3, seed=2)), pool)


def test_a_pool_larger_than_levels_is_sampled_per_generation_without_replacement():
    config = smoke(distinct_levels=16)
    pool = training_level_pool(config)
    draws = [training_level_seeds(config, generation) for generation in range(40)]
    for seeds in draws:
        assert len(seeds) == config.levels and len(set(seeds.tolist())) == config.levels
        assert set(seeds.tolist()) <= set(pool.tolist())
    assert len({tuple(seeds.tolist()) for seeds in draws}) > 30  # generations differ
    assert set(np.concatenate(draws).tolist()) == set(pool.tolist())  # 40 x 4 draws cover 16
    np.testing.assert_array_equal(training_level_seeds(config, 7), draws[7])  # a function of (seed, generation)


def test_a_run_with_a_pool_plays_only_its_levels_and_resumes_bit_identically(tmp_path):
    config = smoke(distinct_levels=2, generations=4)
    problem = RecordingEvaluator(config)
    evolution.evolve(config, tmp_path / "straight", problem=problem, progress=False)
    pool = set(training_level_pool(config).tolist())
    population = config.algorithm.population_size
    training = [seeds for seeds in problem.training_seeds if len(seeds) == 2]
    assert len(training) >= 4 and all(set(seeds.tolist()) == pool for seeds in training)
    with RunReader(tmp_path / "straight") as reader:
        outcomes = reader.column("outcomes")
        assert outcomes.shape[0] == 4 * population and (outcomes.sum(axis=1) == 2).all()  # 2 episodes each
        assert "distinct_levels = 2" in reader.config_text
    evolution.evolve(dataclasses.replace(config, generations=2), tmp_path / "resumed", progress=False)
    evolution.resume(tmp_path / "resumed", generations=4, progress=False)
    assert run_digests(tmp_path / "resumed") == run_digests(tmp_path / "straight")
    fresh = tmp_path / "fresh"
    evolution.evolve(smoke(generations=4), fresh, progress=False)
    assert run_digests(fresh) != run_digests(tmp_path / "straight")


@pytest.mark.parametrize("value, message", [("-1", "at least 0"), ('"many"', "int"), ("1.5", "int")])
def test_a_bad_distinct_levels_is_one_line_naming_the_file_and_the_field(tmp_path, capsys, value, message):
    text = open(SMOKE, encoding="utf-8").read().replace("levels = 4 ", f"levels = 4\ndistinct_levels = {value} ")
    text = text.replace('"../', f'"{ROOT}/')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["evolve", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "distinct_levels" in err and message in err, err
    assert not (tmp_path / "run").exists()


def test_distinct_levels_renders_and_loads_back(tmp_path):
    config = smoke(distinct_levels=64)
    path = tmp_path / "rendered.toml"
    path.write_text(render_config(config))
    assert "distinct_levels = 64" in path.read_text()
    assert evolution.load_experiment(path).distinct_levels == 64
