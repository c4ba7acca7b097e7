"""WorldSpec -> the raw arrays the kernels read, plus level generation and searches for Python callers."""

import functools
import glob
import os
from dataclasses import dataclass

import numpy as np

from evosandbox.config import load_world
from evosandbox.constants import (
    COLOR_GREY,
    COLOR_IDS,
    GENERATOR_NAMES,
    HEADING_DELTA,
    NUM_TILES,
    OBSERVATION_CHANNELS,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_IDS,
    TILE_WALL,
)
from evosandbox.kernels.levels import (
    UNREACHABLE,
    action_distances_kernel,
    generate_level_kernel,
    paying_color,
    redraw_seed,
)

WORLDS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "worlds")


@dataclass(frozen=True)
class WorldArrays:
    """A world spec unpacked into the arrays and scalars the kernels take."""

    height: int
    width: int
    generator: int
    rooms_rows: int
    rooms_cols: int
    base_grid: np.ndarray  # (H, W, 2) uint8, ascii layout (zeros otherwise)
    fixed_door_cells: np.ndarray  # int64 flat cell indices of 'D' marks
    fixed_start: int  # flat cell index of 'A', or -1
    cumulative_weights: np.ndarray  # (variants,) float64
    thing_tiles: np.ndarray  # (variants, things) int64, doors first
    thing_masks: np.ndarray  # (variants, things) int64 colour bitmasks
    thing_counts: np.ndarray  # (variants,) int64
    door_distinct: np.ndarray  # (variants,) bool: doors take distinct colours
    every_door: bool  # every door must be reachable from the start (worlds with a paying colour)
    payout_mask: int  # colour bitmask of the per-lifetime paying colours (0: every door pays)
    view_offsets: np.ndarray  # (4, V*V, 2) int64 world (drow, dcol) per heading and view cell
    view_radius: np.ndarray  # (V*V,) int64 Chebyshev radius of each view cell
    los_cells: np.ndarray  # (V*V, V) int64 view cells strictly between the agent and the cell
    los_length: np.ndarray  # (V*V,) int64
    action_input_base: int  # index of the last-action one-hot, or -1
    reward_index: int  # index of the last-reward input, or -1


def observation_size(spec):
    """Return the length of the observation vector of a world."""
    view = spec.observation.view_size
    size = view * view * OBSERVATION_CHANNELS
    if spec.observation.last_action:
        size += spec.num_actions
    if spec.observation.last_reward:
        size += 1
    return size


def controller_shape(spec, hidden, recurrent=True):
    """Return the ControllerShape a controller for this world needs."""
    from evosandbox.controller import ControllerShape

    return ControllerShape(observation_size(spec), hidden, spec.num_actions, recurrent)


@functools.lru_cache(maxsize=32)
def view_tables(view_size):
    """Precompute per-heading world offsets, radii and line-of-sight cells of the view window."""
    cells = view_size * view_size
    half = view_size // 2
    agent_i, agent_j = view_size - 1, half
    offsets = np.zeros((4, cells, 2), dtype=np.int64)
    radius = np.zeros(cells, dtype=np.int64)
    los = np.zeros((cells, view_size), dtype=np.int64)
    los_length = np.zeros(cells, dtype=np.int64)
    for i in range(view_size):
        for j in range(view_size):
            v = i * view_size + j
            forward, lateral = agent_i - i, j - half
            radius[v] = max(forward, abs(lateral))
            for heading in range(4):
                ahead, right = HEADING_DELTA[heading], HEADING_DELTA[(heading + 1) % 4]
                offsets[heading, v] = forward * ahead + lateral * right
            between = _line_between(agent_i, agent_j, i, j)
            los_length[v] = len(between)
            for k, (bi, bj) in enumerate(between):
                los[v, k] = bi * view_size + bj
    for array in (offsets, radius, los, los_length):
        array.setflags(write=False)
    return offsets, radius, los, los_length


def _line_between(i0, j0, i1, j1):
    """Return the cells strictly between two view cells on a Bresenham line."""
    cells = []
    di, dj = abs(i1 - i0), abs(j1 - j0)
    si, sj = (1 if i1 > i0 else -1), (1 if j1 > j0 else -1)
    error = di - dj
    i, j = i0, j0
    while (i, j) != (i1, j1):
        twice = 2 * error
        if twice > -dj:
            error -= dj
            i += si
        if twice < di:
            error += di
            j += sj
        if (i, j) != (i1, j1):
            cells.append((i, j))
    return cells


def _color_mask(colors):
    mask = 0
    for name in colors:
        mask |= 1 << COLOR_IDS[name]
    return mask


def compile_world(spec):
    """Unpack a WorldSpec into WorldArrays for the kernels."""
    return _compile_cached(spec)


@functools.lru_cache(maxsize=64)
def _compile_cached(spec):
    variants = spec.variants
    max_things = max(sum(t.count for t in v.things) for v in variants)
    tiles = np.zeros((len(variants), max_things), dtype=np.int64)
    masks = np.zeros((len(variants), max_things), dtype=np.int64)
    counts = np.zeros(len(variants), dtype=np.int64)
    distinct = np.zeros(len(variants), dtype=np.bool_)
    for index, variant in enumerate(variants):
        distinct[index] = any(t.distinct for t in variant.things if t.kind == "door")
        things = sorted(variant.things, key=lambda t: t.kind != "door")
        n = 0
        for thing in things:
            for _ in range(thing.count):
                tiles[index, n] = TILE_IDS[thing.kind]
                masks[index, n] = _color_mask(thing.colors)
                n += 1
        counts[index] = n
    weights = np.cumsum([v.weight for v in variants]).astype(np.float64)
    base = np.zeros((spec.height, spec.width, 2), dtype=np.uint8)
    doors, start = [], -1
    for r, line in enumerate(spec.ascii_map):
        for c, char in enumerate(line):
            if char == "#":
                base[r, c] = (TILE_WALL, COLOR_GREY)
            elif char == "D":
                doors.append(r * spec.width + c)
            elif char == "A":
                start = r * spec.width + c
    offsets, radius, los, los_length = view_tables(spec.observation.view_size)
    view_inputs = spec.observation.view_size**2 * OBSERVATION_CHANNELS
    action_base = view_inputs if spec.observation.last_action else -1
    reward_index = -1
    if spec.observation.last_reward:
        reward_index = view_inputs + (spec.num_actions if spec.observation.last_action else 0)
    return WorldArrays(
        height=spec.height,
        width=spec.width,
        generator=GENERATOR_NAMES.index(spec.generator),
        rooms_rows=spec.rooms[0],
        rooms_cols=spec.rooms[1],
        base_grid=base,
        fixed_door_cells=np.array(doors, dtype=np.int64),
        fixed_start=start,
        cumulative_weights=weights,
        thing_tiles=tiles,
        thing_masks=masks,
        thing_counts=counts,
        door_distinct=distinct,
        every_door=spec.payout.enabled,
        payout_mask=_color_mask(spec.payout.colors),
        view_offsets=offsets,
        view_radius=radius,
        los_cells=los,
        los_length=los_length,
        action_input_base=action_base,
        reward_index=reward_index,
    )


def level_arguments(arrays):
    """Return the level-generation arguments of the kernels, in order."""
    return (
        arrays.generator,
        arrays.rooms_rows,
        arrays.rooms_cols,
        arrays.base_grid,
        arrays.fixed_door_cells,
        arrays.fixed_start,
        arrays.cumulative_weights,
        arrays.thing_tiles,
        arrays.thing_masks,
        arrays.thing_counts,
        arrays.door_distinct,
        arrays.every_door,
    )


@dataclass
class Level:
    """One generated level: the grid, the agent's start, and the mixture variant drawn."""

    grid: np.ndarray
    row: int
    col: int
    heading: int
    variant: int


def generate_level(spec, seed):
    """Generate the level the rollout kernel plays for ``seed`` (same on every machine)."""
    arrays = compile_world(spec)
    grid = np.empty((arrays.height, arrays.width, 2), dtype=np.uint8)
    row, col, heading, variant, _ = generate_level_kernel(grid, np.uint64(seed), *level_arguments(arrays))
    if row < 0:
        raise RuntimeError(f"{spec.path}: no solvable level found for seed {seed}")
    return Level(grid, int(row), int(col), int(heading), int(variant))


def episode_level(spec, level_seed, episode):
    """Return the Level that episode ``episode`` of the lifetime of ``level_seed`` is played in.

    Without ``[lifetime] redraw_layout`` every episode plays the first episode's level (from
    another start); with it, episode k > 0 plays a level of its own.
    """
    if episode == 0 or not spec.lifetime.redraw_layout:
        return generate_level(spec, level_seed)
    return generate_level(spec, int(redraw_seed(np.uint64(level_seed), episode)))


def scaled_world(spec, area):
    """Return ``spec`` with about ``area`` times its floor area and as many times its step budget.

    The interior side grows by sqrt(area) (a maze's side stays odd); every other setting is
    kept, so a controller of the world plays the scaled one. An ASCII map cannot be scaled
    (ConfigError naming grid.generator); area 1 returns ``spec`` itself.
    """
    import dataclasses
    import math

    from evosandbox.errors import ConfigError

    if area == 1:
        return spec
    if spec.generator == "ascii":
        raise ConfigError(
            spec.path, "grid.generator", "an ascii map has one size; it cannot be scaled to larger levels"
        )

    def side(length):
        """Scale one side (outer wall included), odd for a maze, at most 64."""
        scaled = int(round((length - 1) * math.sqrt(area))) + 1
        if spec.generator == "maze" and scaled % 2 == 0:
            scaled += 1
        return min(scaled, 63 if spec.generator == "maze" else 64)

    return dataclasses.replace(
        spec,
        name=f"{spec.name}-x{area:g}",
        width=side(spec.width),
        height=side(spec.height),
        max_steps=int(round(spec.max_steps * area)),
        source_text="",
    )


def paying_colors(spec, level_seeds):
    """Return uint8 (L,): the colour id whose doors pay in each lifetime (0 when every door pays)."""
    mask = compile_world(spec).payout_mask
    if mask == 0:  # every door pays: what paying_color says for each seed, without asking it
        return np.zeros(len(np.asarray(level_seeds)), np.uint8)
    return np.array(
        [paying_color(np.uint64(seed), mask) for seed in np.asarray(level_seeds, np.uint64)], dtype=np.uint8
    )


def action_distances(grid, target_mask):
    """Return int32 (H, W, 4): fewest actions from (row, col, heading) to enter a target cell."""
    out = np.empty(grid.shape[:2] + (4,), dtype=np.int32)
    action_distances_kernel(
        np.ascontiguousarray(grid, dtype=np.uint8), np.ascontiguousarray(target_mask, dtype=np.bool_), out
    )
    return out


def is_unreachable(distance):
    """Return whether an action distance means 'cannot be reached'."""
    return np.asarray(distance) >= UNREACHABLE


def visible_cells(grid, row, col, heading, view_size, type_radius, color_radius):
    """Return (colour_visible, type_visible): boolean (H, W) masks of what the agent sees now.

    The same geometry as the observation kernel: the egocentric window, Chebyshev radii, and
    walls blocking the line of sight (walls themselves are seen).
    """
    offsets, radius, los, los_length = view_tables(view_size)
    height, width = grid.shape[:2]
    world = offsets[heading % 4] + np.array([row, col])
    on_grid = (world[:, 0] >= 0) & (world[:, 0] < height) & (world[:, 1] >= 0) & (world[:, 1] < width)
    tiles = np.full(len(radius), TILE_WALL, dtype=np.int64)
    tiles[on_grid] = grid[world[on_grid, 0], world[on_grid, 1], 0]
    blocked = np.array([(tiles[los[v, : los_length[v]]] == TILE_WALL).any() for v in range(len(radius))])
    color_visible = np.zeros((height, width), dtype=bool)
    type_visible = np.zeros((height, width), dtype=bool)
    seen = on_grid & ~blocked
    color_cells = world[seen & (radius <= color_radius)]
    type_cells = world[seen & (radius <= type_radius)]
    color_visible[color_cells[:, 0], color_cells[:, 1]] = True
    type_visible[type_cells[:, 0], type_cells[:, 1]] = True
    return color_visible, type_visible


def door_mask(grid):
    """Return a boolean (H, W) mask of door cells."""
    return grid[:, :, 0] == TILE_DOOR


def thing_mask(grid):
    """Return a boolean (H, W) mask of cells holding a door or an object."""
    tiles = grid[:, :, 0]
    return (tiles != TILE_EMPTY) & (tiles != TILE_WALL) & (tiles < NUM_TILES)


def shipped_worlds():
    """Return the paths of the worlds shipped in worlds/, sorted by name."""
    return sorted(glob.glob(os.path.join(WORLDS_DIR, "*.toml")))


def resolve_world(name_or_path):
    """Load a world from a path, or by the name of a shipped world."""
    if os.path.exists(name_or_path) or name_or_path.endswith(".toml"):
        return load_world(name_or_path)
    candidate = os.path.join(WORLDS_DIR, f"{name_or_path}.toml")
    if os.path.exists(candidate):
        return load_world(candidate)
    return load_world(name_or_path)  # raises the one-line "no such file" error
