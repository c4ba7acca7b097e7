"""One outcome vocabulary and one seed derivation: evolution, the probe and the run file agree."""

import os

import numpy as np
import pytest
from conftest import world_path
from hypothesis import given, settings
from hypothesis import strategies as st

from evosandbox import evolve, seeding
from evosandbox.config import load_world
from evosandbox.evaluate import Evaluator
from evosandbox.genomes import load_genome_preset
from evosandbox.kernels.tally import tally_outcomes
from evosandbox.outcomes import OUTCOME_NAMES, classify_outcomes, count_outcomes, outcome_table, proxy_color_ids, tally
from evosandbox.probe import probe_level_seeds, probe_population
from evosandbox.runfile.run_read import RunReader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_RUN = os.path.join(ROOT, "tests", "fixtures", "schema1-run")
RATES = ("door_rate", "proxy_rate", "other_rate", "timeout_rate")


def test_the_four_test_rates_of_a_real_run_sum_to_one(tmp_path):
    config = evolve.load_experiment(os.path.join(ROOT, "configs", "smoke.toml"))
    evolve.evolve(config, tmp_path / "run", progress=False)
    with RunReader(tmp_path / "run") as reader:
        tests = reader.tests()
    assert len(tests["id"]) and (tests["proxy_rate"] > 0).any()  # the case the old bug showed in
    total = sum(tests[name].astype(np.float64) for name in RATES)
    assert np.allclose(total, 1.0, atol=1e-6), total


def test_a_file_from_before_the_fix_reads_with_rates_that_sum_to_one():
    with RunReader(FIXTURE_RUN) as reader:
        tests = reader.tests()
    assert len(tests["id"])
    total = sum(tests[name].astype(np.float64) for name in RATES)
    assert np.allclose(total, 1.0, atol=1e-6), total


def test_evolution_and_the_probe_classify_the_same_episodes_alike():
    train = load_world(world_path("red-doors-train"))
    test = load_world(world_path("red-doors-test"))
    evaluator = Evaluator(load_genome_preset(os.path.join(ROOT, "genomes", "direct-small.toml")), train)
    genomes = evaluator.initial_genomes(24, np.random.default_rng(4))
    seed, episodes = 11, 60
    scores = evaluator.score(genomes, test, probe_level_seeds(seed, episodes), seed)
    rates = probe_population(evaluator.encoding.develop(genomes), test, train, episodes=episodes, seed=seed)
    for name in OUTCOME_NAMES:
        assert np.array_equal(getattr(scores, name), np.rint(getattr(rates, f"{name}_rate") * episodes).astype(int)), (
            name
        )
    assert (scores.door + scores.proxy + scores.other + scores.timeout == episodes).all()
    assert scores.proxy.sum() > 0 and scores.other.sum() > 0


def test_classification_and_counts():
    tiles = np.array([[2, 2, 3, 4, 5, 0]], np.uint8)
    colors = np.array([[1, 3, 1, 2, 1, 0]], np.uint8)
    assert classify_outcomes(tiles, colors, ("red",)).tolist() == [[0, 0, 1, 2, 1, 3]]
    assert classify_outcomes(tiles, colors, (1,)).tolist() == [[0, 0, 1, 2, 1, 3]]
    assert count_outcomes(classify_outcomes(tiles, colors, ("red",))).tolist() == [[2, 2, 1, 1]]
    assert proxy_color_ids(load_world(world_path("red-doors-train"))) == (1,)


@settings(deadline=None, max_examples=60)
@given(
    rows=st.integers(1, 5),
    shape=st.sampled_from([(1,), (7,), (3, 2)]),
    proxies=st.sets(st.integers(0, 7), max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_compiled_tally_labels_and_counts_as_classify_and_count_do(rows, shape, proxies, seed):
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 8, (rows, *shape)).astype(np.uint8)
    tiles[rng.random(tiles.shape) < 0.05] = 255  # ids beyond the known ones are labelled alike too
    colors = rng.integers(0, 8, (rows, *shape)).astype(np.uint8)
    expected = classify_outcomes(tiles, colors, tuple(proxies)).reshape(rows, -1)
    labels, counts = tally(tiles, colors, tuple(proxies))
    assert labels.dtype == np.int8 and counts.dtype == np.int32
    assert np.array_equal(labels, expected)
    assert np.array_equal(counts, count_outcomes(expected))
    # The plain-Python kernel (the reference) gives the same.
    reference_labels, reference_counts = np.empty_like(labels), np.zeros_like(counts)
    flat_tiles, flat_colors = tiles.reshape(rows, -1), colors.reshape(rows, -1)
    tally_outcomes.py_func(flat_tiles, flat_colors, outcome_table(tuple(proxies)), reference_labels, reference_counts)
    assert np.array_equal(reference_labels, labels) and np.array_equal(reference_counts, counts)


@pytest.mark.parametrize("purpose", sorted(seeding.PURPOSES))
def test_seeds_are_the_salted_seed_sequences_of_the_release_before(purpose):
    purpose_id = seeding.PURPOSES[purpose]
    words = [7] if purpose_id is None else [7, purpose_id]
    expected = np.random.SeedSequence(words + [3]).generate_state(4, np.uint64)
    assert np.array_equal(seeding.derive_seeds(purpose, 7, 4, 3), expected)
    assert seeding.derive_seed(purpose, 7, 3) == int(expected[0])


def test_an_unknown_seed_purpose_is_refused():
    with pytest.raises(KeyError, match="unknown seed purpose"):
        seeding.derive_seeds("training", 1, 2)
