"""Distillation diagnostic and neuronal diversity: the imitation kernel against its plain-Python
reference, recorded demonstrations replaying the teacher, the fit improving imitation, and the
cosine similarity of hidden units' incoming weights."""

import numpy as np
import pytest

from evosandbox.controller import ControllerParams, ControllerShape
from evosandbox.distill import fit_to_demonstrations, hidden_similarity, imitation, record_demonstrations
from evosandbox.genomes import make_encoding
from evosandbox.kernels.distill import imitation_scores
from evosandbox.simulate import level_seeds_for, rollout
from evosandbox.worlds import observation_size
from test_genomes import TINY_WORLD, tiny_spec

WORLD = TINY_WORLD  # 3x3 view with last-action and last-reward inputs: every input kind is recorded


def teacher(seed=3):
    """Return a random direct controller for the tiny world."""
    encoding = make_encoding(tiny_spec("direct"), WORLD)
    return encoding.develop(encoding.initial_genomes(1, np.random.default_rng(seed)))


def test_teacher_imitates_itself_exactly_and_demonstrations_follow_its_steps():
    params = teacher()
    seeds = level_seeds_for(1, 12)
    demonstrations = record_demonstrations(WORLD, params, seeds)
    result = rollout(WORLD, params, seeds, 0)
    assert demonstrations.step_count == int(result.steps.sum())
    assert demonstrations.episode_offsets[-1] == demonstrations.step_count
    assert demonstrations.teacher_door_rate == pytest.approx(float((result.entered_tile == 2).mean()))
    cross_entropy, agreement = imitation(params, demonstrations)
    assert agreement[0] == 1.0 and np.isfinite(cross_entropy[0])
    # Another controller disagrees somewhere.
    _, other = imitation(teacher(seed=4), demonstrations)
    assert other[0] < 1.0


def test_imitation_kernel_matches_its_plain_python_reference():
    demonstrations = record_demonstrations(WORLD, teacher(), level_seeds_for(2, 6))
    encoding = make_encoding(tiny_spec("direct"), WORLD)
    students = encoding.develop(encoding.initial_genomes(3, np.random.default_rng(8)))
    compiled = imitation(students, demonstrations)
    d = demonstrations
    reference = (np.empty(3), np.empty(3))
    imitation_scores.py_func(students.input_weights, students.hidden_bias, students.recurrent_weights,
                             students.output_weights, students.output_bias, d.episode_offsets, d.step_offsets,
                             d.active, d.rewards_in, d.reward_index, d.actions, *reference)
    np.testing.assert_allclose(compiled[0], reference[0], rtol=1e-5)
    np.testing.assert_array_equal(compiled[1], reference[1])


@pytest.mark.parametrize("name,options", [("subspace", {"dimensions": 8}), ("cppn", {"feature_nodes": 3, "pair_nodes": 3})])
def test_fit_lowers_the_imitation_loss_and_is_deterministic(name, options):
    demonstrations = record_demonstrations(WORLD, teacher(), level_seeds_for(3, 8))
    encoding = make_encoding(tiny_spec(name, **options), WORLD)
    first = fit_to_demonstrations(encoding, demonstrations, iterations=12, pairs=6, seed=5, report_every=4)
    again = fit_to_demonstrations(encoding, demonstrations, iterations=12, pairs=6, seed=5, report_every=4)
    np.testing.assert_array_equal(first.genome, again.genome)
    start = fit_to_demonstrations(encoding, demonstrations, iterations=0, pairs=6, seed=5)
    assert first.cross_entropy < start.cross_entropy
    assert [row[0] for row in first.history] == [4, 8, 12]


def test_hidden_similarity_is_one_for_clones_and_zero_for_orthogonal_units():
    shape = ControllerShape(observation_size(WORLD), 3, WORLD.num_actions, True)
    params = ControllerParams.zeros(shape, 2)
    params.input_weights[0, 0, :] = 1.0  # controller 0: three identical units
    for unit in range(3):  # controller 1: each unit listens to its own input
        params.input_weights[1, unit, unit] = 1.0 + unit
    mean, absolute = hidden_similarity(params)
    np.testing.assert_allclose(mean, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(absolute, [1.0, 0.0], atol=1e-12)
    params.input_weights[1, 0, 1] = -2.0  # unit 1 now points against unit 0
    mean, absolute = hidden_similarity(params)
    assert mean[1] < 0.0 < absolute[1]
