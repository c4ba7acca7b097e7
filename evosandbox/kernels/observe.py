"""Egocentric observation: which one-hot inputs are active for an agent at (row, col, heading).

The view geometry (offsets per heading, radius and line-of-sight cells per view cell) is
precomputed once per world by ``evosandbox.worlds.view_tables`` and passed in raw.
"""

import numpy as np

from evosandbox.constants import COLOR_GREY, OBSERVATION_CHANNELS, OBSERVATION_TILE_CHANNELS, TILE_WALL
from evosandbox.kernels._jit import jit


@jit
def observe(
    grid,
    row,
    col,
    heading,
    view_offsets,
    view_radius,
    los_cells,
    los_length,
    type_radius,
    color_radius,
    view_tiles,
    view_colors,
    active,
):
    """Write the active observation input indices into ``active``; return how many.

    ``view_tiles``/``view_colors`` are scratch arrays of length V*V that receive the tiles and
    colours under the view (cells off the grid read as grey wall).
    """
    height, width = grid.shape[0], grid.shape[1]
    cells = view_offsets.shape[1]
    for v in range(cells):
        r = row + view_offsets[heading, v, 0]
        c = col + view_offsets[heading, v, 1]
        if 0 <= r < height and 0 <= c < width:
            view_tiles[v] = grid[r, c, 0]
            view_colors[v] = grid[r, c, 1]
        else:
            view_tiles[v] = TILE_WALL
            view_colors[v] = COLOR_GREY
    count = 0
    for v in range(cells):
        radius = view_radius[v]
        if radius > type_radius and (radius > color_radius or view_colors[v] == 0):
            continue  # nothing this cell could show is in range: skip the line-of-sight walk
        visible = True
        for k in range(los_length[v]):
            if view_tiles[los_cells[v, k]] == TILE_WALL:
                visible = False
                break
        if not visible:
            continue
        if radius <= type_radius:
            active[count] = v * OBSERVATION_CHANNELS + np.int64(view_tiles[v])
            count += 1
        color = np.int64(view_colors[v])
        if radius <= color_radius and color != 0:
            active[count] = v * OBSERVATION_CHANNELS + OBSERVATION_TILE_CHANNELS + color - 1
            count += 1
    return count
