"""Level generation: seeded, solvable, one thing per cell, matching its plain-Python reference."""

import numpy as np
import pytest
from conftest import WORLD_PATHS, world_path
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import run_plain_python

from evosandbox.config import load_world
from evosandbox.constants import COLOR_IDS, TILE_DOOR, TILE_EMPTY, TILE_IDS, TILE_WALL
from evosandbox.kernels.levels import door_reachable
from evosandbox.worlds import action_distances, generate_level, is_unreachable

SPECS = [load_world(p) for p in WORLD_PATHS]


def _check_level(spec, level):
    grid = level.grid
    assert grid.dtype == np.uint8 and grid.shape == (spec.height, spec.width, 2)
    assert grid[level.row, level.col, 0] == TILE_EMPTY  # the agent stands on floor
    variant = spec.variants[level.variant]
    for thing in variant.things:
        tile = TILE_IDS[thing.kind]
        allowed = [COLOR_IDS[c] for c in thing.colors]
        cells = grid[:, :, 0] == tile
        assert cells.sum() >= thing.count
        assert np.isin(
            grid[cells][:, 1],
            allowed + [COLOR_IDS[c] for t in variant.things if t.kind == thing.kind for c in t.colors],
        ).all()
    things = ~np.isin(grid[:, :, 0], (TILE_EMPTY, TILE_WALL))
    # One cell holds one thing, so the number of thing cells equals the number of things.
    assert things.sum() == sum(t.count for t in variant.things)
    if spec.generator != "ascii":
        assert (grid[0, :, 0] == TILE_WALL).all() and (grid[-1, :, 0] == TILE_WALL).all()
        assert (grid[:, 0, 0] == TILE_WALL).all() and (grid[:, -1, 0] == TILE_WALL).all()
    assert door_reachable(grid, level.row, level.col)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=150, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_every_level_is_valid_and_solvable(spec, seed):
    level = generate_level(spec, seed)
    _check_level(spec, level)
    again = generate_level(spec, seed)
    assert np.array_equal(level.grid, again.grid) and (level.row, level.col, level.heading) == (
        again.row,
        again.col,
        again.heading,
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_thousands_of_seeds_are_solvable_by_the_door_seeker(spec):
    # 2,000 consecutive seeds per world: a door is reachable from the start in every one.
    for seed in range(2000):
        level = generate_level(spec, seed)
        distances = action_distances(level.grid, level.grid[:, :, 0] == TILE_DOOR)
        assert not is_unreachable(distances[level.row, level.col, level.heading])


def test_same_seed_same_level_different_seeds_differ():
    spec = load_world(world_path("red-doors-train"))
    grids = [generate_level(spec, s).grid for s in range(20)]
    assert np.array_equal(grids[3], generate_level(spec, 3).grid)
    assert len({g.tobytes() for g in grids}) == 20


def test_known_level_is_stable_across_machines():
    # A fixed digest: the generator uses only integer splitmix64 arithmetic, so the same
    # seed must give the same level on every machine and every thread count.
    spec = load_world(world_path("red-doors-train"))
    level = generate_level(spec, 123)
    assert (level.row, level.col, level.heading) == (7, 8, 3)
    assert np.argwhere(level.grid[:, :, 0] == TILE_DOOR).tolist() == [[5, 3]]


def test_kernel_matches_plain_python_reference(tmp_path):
    names = ["red-doors-train", "red-doors-maze", "red-doors-rooms", "four-rooms-ascii", "red-doors-decorrelated"]
    reference = run_plain_python(
        f"""
        from evosandbox.config import load_world
        from evosandbox.worlds import generate_level
        result = {{}}
        for name in {names!r}:
            spec = load_world("worlds/" + name + ".toml")
            for seed in (0, 1, 2, 3, 2**63 + 5):
                level = generate_level(spec, seed)
                result[name, seed] = (level.grid, level.row, level.col, level.heading, level.variant)
        """,
        tmp_path,
    )
    assert len(reference) == 25
    for (name, seed), (grid, row, col, heading, variant) in reference.items():
        level = generate_level(load_world(world_path(name)), seed)
        assert np.array_equal(level.grid, grid), (name, seed)
        assert (level.row, level.col, level.heading, level.variant) == (row, col, heading, variant)


def test_mixture_draws_variants_by_weight():
    spec = load_world(world_path("red-doors-decorrelated"))
    variants = np.array([generate_level(spec, s).variant for s in range(4000)])
    share = (variants == 1).mean()
    assert 0.035 < share < 0.065  # 5% blue-door levels, within sampling error


def _reference_distances(grid, target):
    """Breadth-first search over (row, col, heading) forward in time, per start state."""
    from collections import deque

    height, width = grid.shape[:2]
    deltas = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    out = np.full((height, width, 4), -1)
    for r in range(height):
        for c in range(width):
            if grid[r, c, 0] != TILE_EMPTY:
                continue
            for h in range(4):
                seen = {(r, c, h): 0}
                queue = deque([(r, c, h)])
                found = -1
                while queue and found < 0:
                    sr, sc, sh = queue.popleft()
                    d = seen[(sr, sc, sh)]
                    nr, nc = sr + deltas[sh][0], sc + deltas[sh][1]
                    if target[nr, nc]:
                        found = d + 1
                        break
                    successors = [(sr, sc, (sh + 3) % 4), (sr, sc, (sh + 1) % 4)]
                    if grid[nr, nc, 0] == TILE_EMPTY:
                        successors.append((nr, nc, sh))
                    for s in successors:
                        if s not in seen:
                            seen[s] = d + 1
                            queue.append(s)
                out[r, c, h] = found
    return out


def test_action_distances_match_forward_search():
    spec = load_world(world_path("red-doors-rooms"))
    level = generate_level(spec, 11)
    target = level.grid[:, :, 0] == TILE_DOOR
    fast = action_distances(level.grid, target)
    slow = _reference_distances(level.grid, target)
    reachable = slow >= 0
    assert np.array_equal(fast[reachable], slow[reachable])
    assert is_unreachable(fast[~reachable & (level.grid[:, :, 0] == TILE_EMPTY)[..., None]]).all()
