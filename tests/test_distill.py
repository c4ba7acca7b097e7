"""Distillation diagnostic and neuronal diversity: the imitation kernel against its plain-Python
reference, recorded demonstrations replaying the teacher, the fit improving imitation, and the
cosine similarity of hidden units' incoming weights."""

import numpy as np
import pytest
from test_genomes import TINY_WORLD, tiny_spec

from evosandbox.controller import ControllerParams, ControllerShape
from evosandbox.distill import (
    fit_by_gradient,
    fit_to_demonstrations,
    genome_gradient,
    hidden_similarity,
    imitation,
    imitation_loss_and_weight_gradient,
    record_demonstrations,
)
from evosandbox.genomes import make_encoding
from evosandbox.kernels.distill import imitation_scores
from evosandbox.simulate import level_seeds_for, rollout
from evosandbox.worlds import observation_size

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
    imitation_scores.py_func(
        students.input_weights,
        students.hidden_bias,
        students.recurrent_weights,
        students.output_weights,
        students.output_bias,
        d.episode_offsets,
        d.step_offsets,
        d.active,
        d.rewards_in,
        d.reward_index,
        d.actions,
        *reference,
    )
    np.testing.assert_allclose(compiled[0], reference[0], rtol=1e-5)
    np.testing.assert_array_equal(compiled[1], reference[1])


@pytest.mark.parametrize(
    "name,options", [("subspace", {"dimensions": 8}), ("cppn", {"feature_nodes": 3, "pair_nodes": 3})]
)
def test_fit_lowers_the_imitation_loss_and_is_deterministic(name, options):
    demonstrations = record_demonstrations(WORLD, teacher(), level_seeds_for(3, 8))
    encoding = make_encoding(tiny_spec(name, **options), WORLD)
    first = fit_to_demonstrations(encoding, demonstrations, iterations=12, pairs=6, seed=5, report_every=4)
    again = fit_to_demonstrations(encoding, demonstrations, iterations=12, pairs=6, seed=5, report_every=4)
    np.testing.assert_array_equal(first.genome, again.genome)
    start = fit_to_demonstrations(encoding, demonstrations, iterations=0, pairs=6, seed=5)
    assert first.cross_entropy < start.cross_entropy
    assert [row[0] for row in first.history] == [4, 8, 12]


@pytest.mark.parametrize(
    "name,options",
    [
        ("direct", {}),
        ("subspace", {"dimensions": 7}),
        ("cppn", {"feature_nodes": 3, "pair_nodes": 3}),
        ("developmental", {"state_size": 3, "steps": 2}),
        ("factored", {"input_rank": 2, "recurrent_rank": 2}),
    ],
)
def test_genome_gradient_matches_finite_differences_of_the_imitation_loss(name, options):
    demonstrations = record_demonstrations(WORLD, teacher(), level_seeds_for(4, 10))
    encoding = make_encoding(tiny_spec(name, **options), WORLD)
    genome = encoding.initial_genomes(1, np.random.default_rng(5))[0]
    loss, weight_gradient = imitation_loss_and_weight_gradient(encoding.develop(genome), demonstrations)
    # The gradient kernel's loss is the scoring kernel's cross-entropy (tanh vs the controller's squash: < 1e-4).
    assert loss == pytest.approx(imitation(encoding.develop(genome), demonstrations)[0][0], abs=1e-3)
    direction = np.random.default_rng(1).standard_normal(genome.shape).astype(np.float32)
    step = 1e-2
    plus, _ = imitation_loss_and_weight_gradient(encoding.develop(genome + step * direction), demonstrations)
    minus, _ = imitation_loss_and_weight_gradient(encoding.develop(genome - step * direction), demonstrations)
    slope = genome_gradient(encoding, genome, weight_gradient) @ direction
    assert slope == pytest.approx((plus - minus) / (2 * step), rel=0.02, abs=1e-4)


def test_gradient_fit_imitates_a_teacher_of_its_own_encoding():
    demonstrations = record_demonstrations(WORLD, teacher(), level_seeds_for(3, 8))
    fit = fit_by_gradient(
        make_encoding(tiny_spec("direct"), WORLD),
        demonstrations,
        iterations=40,
        founders=4,
        learning_rate=0.05,
        report_every=20,
    )
    assert fit.agreement == 1.0 and fit.history[-1][1] < fit.history[0][1]


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


def test_gradient_kernel_matches_its_plain_python_reference():
    from evosandbox.kernels.distill import imitation_gradient

    d = record_demonstrations(WORLD, teacher(), level_seeds_for(6, 5))
    params = teacher(seed=9)
    shape = params.shape
    arguments = (
        params.input_weights[0],
        params.hidden_bias[0],
        params.recurrent_weights[0],
        params.output_weights[0],
        params.output_bias[0],
        d.episode_offsets,
        d.step_offsets,
        d.active,
        d.rewards_in,
        d.reward_index,
        d.actions,
        int(np.diff(d.episode_offsets).max()),
    )
    results = []
    for kernel in (imitation_gradient, imitation_gradient.py_func):
        grads = (
            np.empty((shape.inputs, shape.hidden)),
            np.empty(shape.hidden),
            np.empty((shape.hidden, shape.hidden)),
            np.empty((shape.hidden, shape.outputs)),
            np.empty(shape.outputs),
        )
        results.append((kernel(*arguments, *grads), grads))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    for compiled, reference in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(compiled, reference, rtol=1e-9, atol=1e-12)
