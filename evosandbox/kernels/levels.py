"""Seeded level generation (open room, rooms, perfect maze, ASCII map) and grid searches.

A level is generated from one uint64 seed: layout, mixture variant, things and agent start.
Every level is solvable: the generator retries (with seeds derived from the first) until a
breadth-first search finds a door reachable from the start without entering another thing.
"""

import numpy as np

from evosandbox.constants import (
    COLOR_GREY,
    GENERATOR_MAZE,
    GENERATOR_OPEN,
    GENERATOR_ROOMS,
    HEADING_DELTA,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_WALL,
)
from evosandbox.kernels._jit import jit
from evosandbox.kernels.rng import derive_seed, new_state, next_below, next_unit

UNREACHABLE = np.int32(1 << 30)
MAX_ATTEMPTS = 1000
PAYOUT_SALT = 0x5041594F5554
"""Salt of the per-lifetime paying-colour draw and of the per-episode payout draws."""
REDRAW_SALT = 0x524544524157
"""Salt of the level seeds of re-drawn episodes (episode k > 0 of a lifetime)."""


@jit
def _fill_border(grid):
    """Make every cell floor inside a one-cell outer wall."""
    height, width = grid.shape[0], grid.shape[1]
    for r in range(height):
        for c in range(width):
            if r == 0 or c == 0 or r == height - 1 or c == width - 1:
                grid[r, c, 0] = TILE_WALL
                grid[r, c, 1] = COLOR_GREY
            else:
                grid[r, c, 0] = TILE_EMPTY
                grid[r, c, 1] = 0


@jit
def _layout_rooms(grid, rooms_rows, rooms_cols, state):
    """Divide the room into a grid of rooms with one gap in every wall segment."""
    _fill_border(grid)
    height, width = grid.shape[0], grid.shape[1]
    row_walls = np.empty(rooms_rows + 1, dtype=np.int64)
    col_walls = np.empty(rooms_cols + 1, dtype=np.int64)
    for k in range(rooms_rows + 1):
        row_walls[k] = (k * (height - 1)) // rooms_rows
    for k in range(rooms_cols + 1):
        col_walls[k] = (k * (width - 1)) // rooms_cols
    for k in range(1, rooms_rows):
        for c in range(width):
            grid[row_walls[k], c, 0] = TILE_WALL
            grid[row_walls[k], c, 1] = COLOR_GREY
    for k in range(1, rooms_cols):
        for r in range(height):
            grid[r, col_walls[k], 0] = TILE_WALL
            grid[r, col_walls[k], 1] = COLOR_GREY
    # A gap in each horizontal wall segment (between vertically adjacent rooms).
    for k in range(1, rooms_rows):
        for m in range(rooms_cols):
            low, high = col_walls[m] + 1, col_walls[m + 1] - 1
            c = low + next_below(state, high - low + 1)
            grid[row_walls[k], c, 0] = TILE_EMPTY
            grid[row_walls[k], c, 1] = 0
    # A gap in each vertical wall segment (between horizontally adjacent rooms).
    for k in range(1, rooms_cols):
        for m in range(rooms_rows):
            low, high = row_walls[m] + 1, row_walls[m + 1] - 1
            r = low + next_below(state, high - low + 1)
            grid[r, col_walls[k], 0] = TILE_EMPTY
            grid[r, col_walls[k], 1] = 0


@jit
def _layout_maze(grid, state):
    """Carve a perfect maze (iterative depth-first backtracker) over the odd cells."""
    height, width = grid.shape[0], grid.shape[1]
    for r in range(height):
        for c in range(width):
            grid[r, c, 0] = TILE_WALL
            grid[r, c, 1] = COLOR_GREY
    cells_r, cells_c = (height - 1) // 2, (width - 1) // 2
    visited = np.zeros((cells_r, cells_c), dtype=np.bool_)
    stack = np.empty(cells_r * cells_c, dtype=np.int64)
    options = np.empty(4, dtype=np.int64)
    start = next_below(state, cells_r * cells_c)
    stack[0] = start
    top = 1
    visited[start // cells_c, start % cells_c] = True
    grid[2 * (start // cells_c) + 1, 2 * (start % cells_c) + 1, 0] = TILE_EMPTY
    grid[2 * (start // cells_c) + 1, 2 * (start % cells_c) + 1, 1] = 0
    while top > 0:
        cell = stack[top - 1]
        cr, cc = cell // cells_c, cell % cells_c
        count = 0
        for d in range(4):
            nr, nc = cr + HEADING_DELTA[d, 0], cc + HEADING_DELTA[d, 1]
            if 0 <= nr < cells_r and 0 <= nc < cells_c and not visited[nr, nc]:
                options[count] = d
                count += 1
        if count == 0:
            top -= 1
            continue
        d = options[next_below(state, count)]
        nr, nc = cr + HEADING_DELTA[d, 0], cc + HEADING_DELTA[d, 1]
        visited[nr, nc] = True
        for r, c in ((2 * cr + 1 + HEADING_DELTA[d, 0], 2 * cc + 1 + HEADING_DELTA[d, 1]), (2 * nr + 1, 2 * nc + 1)):
            grid[r, c, 0] = TILE_EMPTY
            grid[r, c, 1] = 0
        stack[top] = nr * cells_c + nc
        top += 1


@jit
def _layout(grid, generator, rooms_rows, rooms_cols, base_grid, state):
    """Lay out walls and floor for one level."""
    if generator == GENERATOR_OPEN:
        _fill_border(grid)
    elif generator == GENERATOR_ROOMS:
        _layout_rooms(grid, rooms_rows, rooms_cols, state)
    elif generator == GENERATOR_MAZE:
        _layout_maze(grid, state)
    else:
        grid[:, :, :] = base_grid


@jit
def _pick_color(mask, state):
    """Draw one colour uniformly among the set bits of a colour mask."""
    count = 0
    for color in range(1, 8):
        if mask & (1 << color):
            count += 1
    pick = next_below(state, count)
    for color in range(1, 8):
        if mask & (1 << color):
            if pick == 0:
                return color
            pick -= 1
    return 0


@jit
def _pick_variant(cumulative_weights, state):
    """Draw a mixture variant index from cumulative weights."""
    draw = next_unit(state) * cumulative_weights[-1]
    for index in range(cumulative_weights.shape[0]):
        if draw < cumulative_weights[index]:
            return index
    return cumulative_weights.shape[0] - 1


@jit
def door_reachable(grid, row, col):
    """Return whether a door can be entered from (row, col) walking on floor only."""
    return reachable_doors(grid, row, col, True) > 0


@jit
def start_ok(grid, row, col, every_door):
    """Return whether a start is solvable: some door reachable, or every door when ``every_door``."""
    if not every_door:
        return door_reachable(grid, row, col)
    total = 0
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            if grid[r, c, 0] == TILE_DOOR:
                total += 1
    return reachable_doors(grid, row, col, False) == total


@jit
def reachable_doors(grid, row, col, stop_at_first):
    """Count the doors that can be entered from (row, col) walking on floor (stop at one when asked)."""
    height, width = grid.shape[0], grid.shape[1]
    found = 0
    seen = np.zeros((height, width), dtype=np.bool_)
    queue = np.empty(height * width, dtype=np.int64)
    queue[0] = row * width + col
    seen[row, col] = True
    head, tail = 0, 1
    while head < tail:
        cell = queue[head]
        head += 1
        r, c = cell // width, cell % width
        for d in range(4):
            nr, nc = r + HEADING_DELTA[d, 0], c + HEADING_DELTA[d, 1]
            if nr < 0 or nc < 0 or nr >= height or nc >= width or seen[nr, nc]:
                continue
            tile = grid[nr, nc, 0]
            if tile == TILE_DOOR:
                seen[nr, nc] = True
                found += 1
                if stop_at_first:
                    return found
            elif tile == TILE_EMPTY:
                seen[nr, nc] = True
                queue[tail] = nr * width + nc
                tail += 1
    return found


@jit
def _free_cells(grid, out):
    """Write the flat indices of floor cells into ``out``; return how many."""
    height, width = grid.shape[0], grid.shape[1]
    count = 0
    for r in range(height):
        for c in range(width):
            if grid[r, c, 0] == TILE_EMPTY:
                out[count] = r * width + c
                count += 1
    return count


@jit
def generate_level_kernel(
    grid,
    seed,
    generator,
    rooms_rows,
    rooms_cols,
    base_grid,
    fixed_door_cells,
    fixed_start,
    cumulative_weights,
    thing_tiles,
    thing_masks,
    thing_counts,
    door_distinct,
    every_door,
):
    """Generate the level for ``seed`` into ``grid``; return (row, col, heading, variant, attempts).

    ``door_distinct[variant]`` draws the doors' colours without replacement (no two alike);
    ``every_door`` requires every door to be reachable from the start (else one suffices).
    """
    height, width = grid.shape[0], grid.shape[1]
    cells = np.empty(height * width, dtype=np.int64)
    for attempt in range(MAX_ATTEMPTS):
        state = new_state(derive_seed(seed, attempt))
        _layout(grid, generator, rooms_rows, rooms_cols, base_grid, state)
        variant = _pick_variant(cumulative_weights, state)
        count = _free_cells(grid, cells)
        fixed_doors_used = 0
        used_door_colors = 0
        for t in range(thing_counts[variant]):
            tile = thing_tiles[variant, t]
            if tile == TILE_DOOR and door_distinct[variant]:
                color = _pick_color(thing_masks[variant, t] & ~used_door_colors, state)
                used_door_colors |= 1 << color
            else:
                color = _pick_color(thing_masks[variant, t], state)
            if tile == TILE_DOOR and fixed_doors_used < fixed_door_cells.shape[0]:
                cell = fixed_door_cells[fixed_doors_used]
                fixed_doors_used += 1
                for k in range(count):  # take the cell out of the free list
                    if cells[k] == cell:
                        cells[k] = cells[count - 1]
                        count -= 1
                        break
            else:
                k = next_below(state, count)
                cell = cells[k]
                cells[k] = cells[count - 1]  # sample without replacement
                count -= 1
            grid[cell // width, cell % width, 0] = tile
            grid[cell // width, cell % width, 1] = color
        if fixed_start >= 0 and grid[fixed_start // width, fixed_start % width, 0] == TILE_EMPTY:
            start = fixed_start
        else:
            start = cells[next_below(state, count)]
        heading = next_below(state, 4)
        row, col = start // width, start % width
        if start_ok(grid, row, col, every_door):
            return row, col, heading, variant, attempt + 1
    return -1, -1, 0, 0, MAX_ATTEMPTS


@jit
def paying_color(level_seed, payout_mask):
    """Return the colour whose doors pay in the lifetime of ``level_seed`` (0: every door pays)."""
    if payout_mask == 0:
        return 0
    return _pick_color(payout_mask, new_state(derive_seed(level_seed, PAYOUT_SALT)))


@jit
def payout_draw(level_seed, episode):
    """Return the uniform [0, 1) draw that settles episode ``episode``'s stochastic payout."""
    return next_unit(new_state(derive_seed(level_seed, PAYOUT_SALT + 1 + episode)))


@jit
def door_value(color, paying, door_reward, other_door_reward, probability, draw):
    """Return what entering a door of ``color`` pays when ``paying`` is the lifetime's colour.

    The paying colour's doors pay with ``probability``, the others with the rest (the draw is
    shared, so exactly one kind pays); ``paying`` 0 means every door pays ``door_reward``.
    """
    if paying == 0:
        return door_reward
    if (color == paying) == (draw < probability):
        return door_reward
    return other_door_reward


@jit
def redraw_seed(level_seed, episode):
    """Return the level seed of episode ``episode`` (> 0) of a lifetime with re-drawn layouts."""
    return derive_seed(level_seed, REDRAW_SALT + episode)


@jit
def episode_start(grid, level_seed, episode, first_row, first_col, first_heading, every_door):
    """Return the start (row, col, heading) of episode ``episode`` of a lifetime in this level."""
    if episode == 0:
        return first_row, first_col, first_heading
    height, width = grid.shape[0], grid.shape[1]
    cells = np.empty(height * width, dtype=np.int64)
    count = _free_cells(grid, cells)
    state = new_state(derive_seed(level_seed, 1_000_003 + episode))
    for _ in range(64):
        cell = cells[next_below(state, count)]
        row, col = cell // width, cell % width
        if start_ok(grid, row, col, every_door):
            return row, col, next_below(state, 4)
    return first_row, first_col, next_below(state, 4)


@jit
def action_distances_kernel(grid, target, out):
    """Fill ``out[row, col, heading]`` with the fewest actions that enter a target cell.

    The agent stands on floor; left/right turn in place, forward moves onto floor or enters a
    thing (which ends the episode, so only targets count). Unreachable states keep UNREACHABLE.
    """
    height, width = grid.shape[0], grid.shape[1]
    out[:, :, :] = UNREACHABLE
    queue = np.empty(height * width * 4, dtype=np.int64)
    head, tail = 0, 0
    for r in range(height):
        for c in range(width):
            if grid[r, c, 0] != TILE_EMPTY:
                continue
            for h in range(4):
                nr, nc = r + HEADING_DELTA[h, 0], c + HEADING_DELTA[h, 1]
                if 0 <= nr < height and 0 <= nc < width and target[nr, nc]:
                    out[r, c, h] = 1
                    queue[tail] = (r * width + c) * 4 + h
                    tail += 1
    while head < tail:
        state = queue[head]
        head += 1
        h = state % 4
        cell = state // 4
        r, c = cell // width, cell % width
        d = out[r, c, h] + 1
        # Predecessors: turned left from heading h+1, turned right from heading h-1, or
        # stepped forward from the floor cell behind.
        for ph in ((h + 1) % 4, (h + 3) % 4):
            if out[r, c, ph] > d:
                out[r, c, ph] = d
                queue[tail] = (r * width + c) * 4 + ph
                tail += 1
        pr, pc = r - HEADING_DELTA[h, 0], c - HEADING_DELTA[h, 1]
        if 0 <= pr < height and 0 <= pc < width and grid[pr, pc, 0] == TILE_EMPTY:
            if out[pr, pc, h] > d:
                out[pr, pc, h] = d
                queue[tail] = (pr * width + pc) * 4 + h
                tail += 1
