"""Goal inference: masks, agreement with a plain-Python value-iteration reference, and posteriors."""

import tomllib

import numpy as np
import pytest
from conftest import world_path
from hypothesis import given, settings
from hypothesis import strategies as st

from evosandbox.config import load_world, parse_world
from evosandbox.constants import COLOR_IDS, HEADING_DELTA, TILE_DOOR, TILE_EMPTY, TILE_IDS, TILE_WALL
from evosandbox.goals import BETA_GRID, GOAL_NAMES, NO_GOAL, goal_masks, infer_goals
from evosandbox.simulate import level_seeds_for, rollout


def _infer(world, result):
    """Run goal inference over every episode of a recorded one-individual rollout."""
    lifetimes, per_lifetime = result.steps.shape[1:]
    flat = lambda array: array[0].reshape((-1,) + array.shape[3:])  # noqa: E731
    return infer_goals(
        result.grids,
        np.repeat(np.arange(lifetimes), per_lifetime),
        flat(result.positions),
        flat(result.headings),
        flat(result.actions),
        flat(result.steps),
        world.num_actions,
        world.max_steps,
    )


def _reference_q(grid, targets, goal_reward):
    """Compute Q[r, c, h, a] by plain value iteration over (row, col, heading) states."""
    height, width = grid.shape[:2]
    values = np.zeros((height, width, 4))
    while True:
        q = np.full((height, width, 4, 3), -np.inf)
        for r in range(height):
            for c in range(width):
                if grid[r, c, 0] != TILE_EMPTY:
                    continue
                for h in range(4):
                    q[r, c, h, 0] = -1 + values[r, c, (h + 3) % 4]
                    q[r, c, h, 1] = -1 + values[r, c, (h + 1) % 4]
                    nr, nc = r + HEADING_DELTA[h, 0], c + HEADING_DELTA[h, 1]
                    tile = grid[nr, nc, 0]
                    if tile == TILE_EMPTY:
                        q[r, c, h, 2] = -1 + values[nr, nc, h]
                    elif tile == TILE_WALL:
                        q[r, c, h, 2] = -1 + values[r, c, h]
                    else:
                        q[r, c, h, 2] = -1 + (goal_reward if targets[nr, nc] else 0)
        # V = max(max_a Q, 0): an agent may give up (value 0) rather than pay for a hopeless walk.
        updated = np.where(np.isfinite(q.max(axis=3)), np.maximum(q.max(axis=3), 0), 0)
        if np.array_equal(updated, values):
            return q
        values = updated


def _reference_log_evidence(grids, lifetime_of_episode, positions, headings, actions, steps, goal_reward):
    """Compute log P(actions | goal) for every goal with loops over episodes, steps and betas."""
    goal_count = len(GOAL_NAMES)
    totals = np.zeros((goal_count, len(BETA_GRID)))
    for episode in range(len(steps)):
        grid = grids[lifetime_of_episode[episode]]
        masks = goal_masks(grid)
        for goal in range(goal_count):
            if not masks[goal].any():
                totals[goal] += steps[episode] * -np.log(3)
                continue
            q = _reference_q(grid, masks[goal], goal_reward)
            for t in range(steps[episode]):
                r, c = positions[episode, t]
                row_q = q[r, c, headings[episode, t]]
                for b, beta in enumerate(BETA_GRID):
                    logits = beta * (row_q - row_q.max())
                    totals[goal, b] += logits[actions[episode, t]] - np.log(np.exp(logits).sum())
    top = totals.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(totals - top).mean(axis=1))


def _small_world(door="blue", decoy="red"):
    """Return a 7x7 open world with a door, a decoy ball and a key (small for the reference)."""
    text = f"""
[grid]
generator = "open"
width = 7
height = 7
max_steps = 12
[observation]
view_size = 3
[door]
colors = ["{door}"]
[[objects]]
kind = "ball"
colors = ["{decoy}"]
[[objects]]
kind = "key"
colors = ["yellow"]
"""
    return parse_world(tomllib.loads(text), "small.toml", text)


def test_goal_masks_mark_each_candidate():
    """Each candidate goal marks exactly its cells."""
    grid = np.zeros((5, 5, 2), np.uint8)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = (TILE_WALL, COLOR_IDS["grey"])
    grid[1, 1] = (TILE_DOOR, COLOR_IDS["blue"])
    grid[2, 3] = (TILE_IDS["ball"], COLOR_IDS["red"])
    grid[3, 3] = (TILE_IDS["box"], COLOR_IDS["blue"])
    masks = dict(zip(GOAL_NAMES, goal_masks(grid)))
    cells = {name: sorted(map(tuple, np.argwhere(mask).tolist())) for name, mask in masks.items()}
    assert cells["door"] == [(1, 1)]
    assert cells["color:blue"] == [(1, 1), (3, 3)]
    assert cells["color:red"] == [(2, 3)]
    assert cells["color:grey"] == []  # walls are grey but are not things
    assert cells["kind:ball"] == [(2, 3)] and cells["kind:box"] == [(3, 3)] and cells["kind:key"] == []
    assert cells["nearest-object"] == [(1, 1), (2, 3), (3, 3)]


@settings(deadline=None, max_examples=6)
@given(seed=st.integers(0, 2**32 - 1), policy=st.sampled_from(["random", "door-seeker", "color-seeker:red"]))
def test_log_evidence_matches_plain_value_iteration(seed, policy):
    """The vectorised inference equals a loop over states, steps and betas with value iteration."""
    world = _small_world()
    result = rollout(world, policy, level_seeds_for(seed, 4), seed, record=True)
    inference = _infer(world, result)
    flat = lambda array: array[0].reshape((-1,) + array.shape[3:])  # noqa: E731
    expected = _reference_log_evidence(
        result.grids,
        np.arange(4),
        flat(result.positions),
        flat(result.headings),
        flat(result.actions),
        flat(result.steps),
        world.max_steps,
    )
    np.testing.assert_allclose(inference.log_evidence[:-1], expected, rtol=1e-9, atol=1e-6)
    assert inference.log_evidence[-1] == pytest.approx(-np.log(3) * result.steps.sum())
    assert inference.posterior.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("policy", "winner", "loser"),
    [("door-seeker", "door", "color:red"), ("color-seeker:red", "color:red", "door"), ("random", NO_GOAL, "door")],
)
def test_posterior_names_the_goal_a_scripted_policy_pursues(policy, winner, loser):
    """On the paper's test world the posterior favours what each scripted policy pursues."""
    world = load_world(world_path("test-blue-door-red-decoy"))
    result = rollout(world, policy, level_seeds_for(3, 150), 3, record=True)
    inference = _infer(world, result)
    assert inference.posterior[inference.index(winner)] > 0.49  # door ties with color:blue (same cells)
    assert inference.log_bayes_factor(winner, loser) > 20
    if policy != "random":
        assert inference.map_beta(winner) == BETA_GRID[-1]  # shortest paths: the most rational beta


def test_goal_absent_from_every_level_explains_no_better_than_chance():
    """A colour no level holds gets exactly the uniform-random likelihood."""
    world = _small_world()
    result = rollout(world, "door-seeker", level_seeds_for(5, 40), 5, record=True)
    inference = _infer(world, result)
    absent = [goal for goal in GOAL_NAMES if inference.present[inference.index(goal)] == 0]
    assert {"color:green", "color:purple", "color:grey", "kind:box"} <= set(absent)
    for goal in absent:
        assert inference.log_evidence[inference.index(goal)] == pytest.approx(
            inference.log_evidence[inference.index(NO_GOAL)]
        )


def test_entering_a_non_goal_thing_is_strong_evidence_against_the_goal():
    """One episode ending in a red ball makes 'door' far less likely than 'color:red'."""
    grid = np.zeros((5, 7, 2), np.uint8)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = (TILE_WALL, COLOR_IDS["grey"])
    grid[2, 5] = (TILE_IDS["ball"], COLOR_IDS["red"])
    grid[2, 1] = (TILE_DOOR, COLOR_IDS["blue"])
    # Start at (2, 3) facing east; step forward once, then enter the ball.
    positions = np.array([[[2, 3], [2, 4], [2, 4]]], np.int16)
    headings = np.zeros((1, 3), np.int8)
    actions = np.array([[2, 2]], np.int8)
    inference = infer_goals(grid[None], [0], positions, headings, actions, [2], 3, 20)
    assert inference.best_goal() in ("color:red", "kind:ball")
    assert inference.log_bayes_factor("color:red", "door") > 10
