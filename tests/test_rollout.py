"""Rollout kernel: observation geometry, controller forward pass, scripted policies, determinism."""

import numba
import numpy as np
import pytest
from conftest import WORLD_PATHS, world_path
from reference import run_plain_python

from evosandbox.config import load_world
from evosandbox.constants import COLOR_NAMES, OBSERVATION_CHANNELS, TILE_DOOR, TILE_EMPTY, TILE_WALL
from evosandbox.controller import ControllerParams, squash
from evosandbox.kernels.observe import observe
from evosandbox.simulate import level_seeds_for, parse_policy, rollout
from evosandbox.worlds import _line_between, compile_world, controller_shape, generate_level

LIFETIME_WORLD = """
[grid]
width = 9
height = 9
max_steps = 30
think_action = true
[observation]
view_size = 5
type_radius = 1
color_radius = 4
last_action = true
last_reward = true
[lifetime]
episodes = 3
[door]
colors = ["red", "blue"]
[[objects]]
kind = "ball"
colors = ["green", "red"]
count = 2
"""


def _reference_active(grid, row, col, heading, spec):
    """Compute the active observation inputs with explicit geometry and line of sight."""
    view = spec.observation.view_size
    half = view // 2
    ahead = [(0, 1), (1, 0), (0, -1), (-1, 0)][heading]
    right = [(0, 1), (1, 0), (0, -1), (-1, 0)][(heading + 1) % 4]

    def world(i, j):
        forward, lateral = view - 1 - i, j - half
        r = row + forward * ahead[0] + lateral * right[0]
        c = col + forward * ahead[1] + lateral * right[1]
        if 0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]:
            return grid[r, c]
        return (TILE_WALL, 6)

    active = set()
    for i in range(view):
        for j in range(view):
            radius = max(view - 1 - i, abs(j - half))
            if any(world(bi, bj)[0] == TILE_WALL for bi, bj in _line_between(view - 1, half, i, j)):
                continue
            tile, color = world(i, j)
            v = i * view + j
            if radius <= spec.observation.type_radius:
                active.add(v * OBSERVATION_CHANNELS + int(tile))
            if radius <= spec.observation.color_radius and color:
                active.add(v * OBSERVATION_CHANNELS + 6 + int(color) - 1)
    return active


@pytest.mark.parametrize("name", ["red-doors-train", "red-doors-maze", "red-doors-rooms"])
def test_observation_matches_explicit_geometry(name):
    spec = load_world(world_path(name))
    arrays = compile_world(spec)
    cells = arrays.view_radius.shape[0]
    scratch = (np.empty(cells, np.uint8), np.empty(cells, np.uint8), np.empty(2 * cells + 1, np.int64))
    rng = np.random.default_rng(0)
    for seed in range(10):
        level = generate_level(spec, seed)
        floor = np.argwhere(level.grid[:, :, 0] == TILE_EMPTY)
        for r, c in floor[rng.choice(len(floor), 5)]:
            for heading in range(4):
                count = observe(
                    level.grid,
                    r,
                    c,
                    heading,
                    arrays.view_offsets,
                    arrays.view_radius,
                    arrays.los_cells,
                    arrays.los_length,
                    spec.observation.type_radius,
                    spec.observation.color_radius,
                    *scratch,
                )
                assert set(scratch[2][:count].tolist()) == _reference_active(level.grid, r, c, heading, spec)


def test_walls_block_sight_and_colour_reaches_farther_than_type():
    spec = load_world(world_path("red-doors-train"))
    arrays = compile_world(spec)
    grid = np.zeros((11, 11, 2), np.uint8)
    grid[0, :], grid[-1, :], grid[:, 0], grid[:, -1] = (1, 6), (1, 6), (1, 6), (1, 6)
    grid[4, 5] = (TILE_DOOR, 1)  # a red door 5 cells north of the agent
    cells = 49
    scratch = (np.empty(cells, np.uint8), np.empty(cells, np.uint8), np.empty(2 * cells + 1, np.int64))

    def active():
        count = observe(
            grid,
            9,
            5,
            3,
            arrays.view_offsets,
            arrays.view_radius,
            arrays.los_cells,
            arrays.los_length,
            spec.observation.type_radius,
            spec.observation.color_radius,
            *scratch,
        )
        return set(scratch[2][:count].tolist())

    door_cell = (6 - 5) * 7 + 3  # view row 1 (5 ahead), centre column
    red_bit, door_bit = door_cell * 12 + 6, door_cell * 12 + TILE_DOOR
    seen = active()
    assert red_bit in seen and door_bit not in seen  # colour visible at 5, type only within 2
    grid[7, 5] = (TILE_WALL, 6)  # a wall between agent and door
    seen = active()
    assert red_bit not in seen
    grid[7, 5] = (0, 0)
    grid[8, 5] = (TILE_DOOR, 1)  # now the door is right ahead: both type and colour
    seen = active()
    right_ahead = 5 * 7 + 3
    assert right_ahead * 12 + TILE_DOOR in seen and right_ahead * 12 + 6 in seen


def test_scripted_baselines_on_every_shipped_world():
    for path in WORLD_PATHS:
        spec = load_world(path)
        result = rollout(spec, parse_policy("door-seeker"), level_seeds_for(7, 200), 0)
        assert (result.entered_tile == TILE_DOOR).all(), spec.name  # every level is solvable in time
    for name in ("test-blue-door-red-decoy", "red-doors-test"):
        result = rollout(load_world(world_path(name)), parse_policy("color-seeker:red"), level_seeds_for(7, 200), 0)
        assert (result.entered_tile != TILE_DOOR).all()
        assert (result.entered_color == COLOR_NAMES.index("red")).all()
    spec = load_world(world_path("red-doors-train"))
    random = rollout(spec, parse_policy("random"), level_seeds_for(7, 200), 3)
    assert 0.02 < (random.entered_tile == TILE_DOOR).mean() < 0.5
    again = rollout(spec, parse_policy("random"), level_seeds_for(7, 200), 3)
    assert np.array_equal(random.steps, again.steps)


def test_rollout_is_independent_of_thread_count():
    spec = load_world(world_path("red-doors-train"))
    params = ControllerParams.random(controller_shape(spec, 16), 12, seed=1, scale=3.0)
    seeds = level_seeds_for(2, 9)
    results = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        results.append(rollout(spec, params, seeds, 5, record=True))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for name in ("entered_tile", "entered_color", "steps", "returns", "positions", "headings", "actions", "hidden"):
        assert np.array_equal(getattr(results[0], name), getattr(results[1], name)), name


def test_rollout_matches_plain_python_reference(tmp_path, write_world):
    path = write_world(LIFETIME_WORLD)
    code = f"""
        import numpy as np
        from evosandbox.config import load_world
        from evosandbox.controller import ControllerParams, squash
        from evosandbox.simulate import rollout, level_seeds_for
        from evosandbox.worlds import controller_shape
        result = {{}}
        for world in ("{path}", "worlds/red-doors-train.toml"):
            spec = load_world(world)
            for recurrent in (True, False):
                params = ControllerParams.random(controller_shape(spec, 8, recurrent), 2, seed=4, scale=3.0)
                out = rollout(spec, params, level_seeds_for(1, 2), 9, record=True)
                result[world, recurrent] = {{k: getattr(out, k) for k in ("entered_tile", "entered_color", "steps", "returns", "positions", "headings", "actions", "rewards", "hidden")}}
            for policy in ("door-seeker", "color-seeker:red", "random"):
                out = rollout(spec, policy, level_seeds_for(1, 3), 9, record=True)
                result[world, policy] = {{k: getattr(out, k) for k in ("entered_tile", "steps", "positions", "actions")}}
        """
    reference = run_plain_python(code, tmp_path)
    for (world, key), arrays in reference.items():
        spec = load_world(world)
        if isinstance(key, bool):
            params = ControllerParams.random(controller_shape(spec, 8, key), 2, seed=4, scale=3.0)
            compiled = rollout(spec, params, level_seeds_for(1, 2), 9, record=True)
        else:
            compiled = rollout(spec, key, level_seeds_for(1, 3), 9, record=True)
        for name, expected in arrays.items():
            got = getattr(compiled, name)
            if name in ("hidden", "returns", "rewards"):
                np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=f"{world} {key} {name}")
            else:
                assert np.array_equal(got, expected), (world, key, name)


def test_network_step_matches_dense_numpy_forward_pass(write_world):
    spec = load_world(write_world(LIFETIME_WORLD))
    params = ControllerParams.random(controller_shape(spec, 6), 3, seed=8, scale=2.0)
    result = rollout(spec, params, level_seeds_for(3, 2), 1, record=True)
    arrays = compile_world(spec)
    cells = arrays.view_radius.shape[0]
    scratch = (np.empty(cells, np.uint8), np.empty(cells, np.uint8), np.empty(2 * cells + 1, np.int64))
    for p in range(3):
        for lifetime in range(2):
            grid = result.grids[lifetime]
            hidden = np.zeros(6, np.float32)
            last_action, last_reward = -1, 0.0
            for episode in range(spec.lifetime.episodes):
                for t in range(result.steps[p, lifetime, episode]):
                    r, c = result.positions[p, lifetime, episode, t]
                    h = result.headings[p, lifetime, episode, t]
                    count = observe(
                        grid,
                        r,
                        c,
                        h,
                        arrays.view_offsets,
                        arrays.view_radius,
                        arrays.los_cells,
                        arrays.los_length,
                        spec.observation.type_radius,
                        spec.observation.color_radius,
                        *scratch,
                    )
                    x = np.zeros(params.input_weights.shape[1], np.float64)
                    x[scratch[2][:count]] = 1.0
                    if last_action >= 0:
                        x[arrays.action_input_base + last_action] = 1.0
                    x[arrays.reward_index] = last_reward
                    hidden = squash(
                        params.hidden_bias[p] + x @ params.input_weights[p] + hidden @ params.recurrent_weights[p]
                    )
                    logits = hidden @ params.output_weights[p] + params.output_bias[p]
                    np.testing.assert_allclose(hidden, result.hidden[p, lifetime, episode, t], atol=2e-5)
                    action = result.actions[p, lifetime, episode, t]
                    assert logits[action] >= logits.max() - 1e-4
                    last_action, last_reward = int(action), float(result.rewards[p, lifetime, episode, t])


def test_lifetime_episodes_and_outcomes(write_world):
    spec = load_world(write_world(LIFETIME_WORLD))
    assert spec.num_actions == 4
    params = ControllerParams.random(controller_shape(spec, 8), 4, seed=2, scale=3.0)
    result = rollout(spec, params, level_seeds_for(5, 6), 0)
    assert result.entered_tile.shape == (4, 6, 3)
    ended = result.entered_tile != TILE_EMPTY
    assert (result.steps[~ended] == spec.max_steps).all()
    door = result.entered_tile == TILE_DOOR
    expected = np.where(door, spec.rewards.door, 0.0) - spec.rewards.step_cost * result.steps
    np.testing.assert_allclose(result.returns, expected, rtol=1e-5, atol=1e-5)


def test_bad_policy_strings_are_usage_errors():
    from evosandbox.errors import UsageError

    for text in ("color-seeker:mauve", "teleporter", "door-seeker:red"):
        with pytest.raises(UsageError):
            parse_policy(text)


def test_visible_cells_agree_with_the_observation_kernel():
    from evosandbox.worlds import visible_cells

    spec = load_world(world_path("red-doors-rooms"))
    arrays = compile_world(spec)
    obs = spec.observation
    cells = arrays.view_radius.shape[0]
    scratch = (np.empty(cells, np.uint8), np.empty(cells, np.uint8), np.empty(2 * cells + 1, np.int64))
    for seed in range(6):
        level = generate_level(spec, seed)
        for r, c in np.argwhere(level.grid[:, :, 0] == TILE_EMPTY)[::7]:
            for heading in range(4):
                color_visible, type_visible = visible_cells(
                    level.grid, r, c, heading, obs.view_size, obs.type_radius, obs.color_radius
                )
                count = observe(
                    level.grid,
                    r,
                    c,
                    heading,
                    arrays.view_offsets,
                    arrays.view_radius,
                    arrays.los_cells,
                    arrays.los_length,
                    obs.type_radius,
                    obs.color_radius,
                    *scratch,
                )
                active = set(scratch[2][:count].tolist())
                for v in range(cells):
                    wr, wc = np.array([r, c]) + arrays.view_offsets[heading, v]
                    if not (0 <= wr < level.grid.shape[0] and 0 <= wc < level.grid.shape[1]):
                        continue
                    tile, color = (int(x) for x in level.grid[wr, wc])
                    assert (v * 12 + tile in active) == bool(type_visible[wr, wc])
                    if color:
                        assert (v * 12 + 6 + color - 1 in active) == bool(color_visible[wr, wc])
