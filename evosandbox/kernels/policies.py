"""The controller's forward pass and the scripted baseline policies, as kernel functions."""

import numpy as np

from evosandbox.constants import (
    ACTION_FORWARD,
    ACTION_LEFT,
    ACTION_RIGHT,
    HEADING_DELTA,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_KEY,
    TILE_WALL,
)
from evosandbox.kernels._jit import jit
from evosandbox.kernels.levels import UNREACHABLE
from evosandbox.kernels.rng import next_below

_CLAMP = np.float32(4.97)


@jit(inline="always")
def squash(x):
    """Return tanh(x) as a [7/6] Pade approximant (|error| < 1e-4), cheap and vectorisable.

    Clamping at 4.97 keeps it within [-1, 1]; it is the controller's activation everywhere,
    so compiled kernels and plain-Python references compute the same float32 values.
    """
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    numerator = np.float32(135135.0) + x2 * (np.float32(17325.0) + x2 * (np.float32(378.0) + x2))
    denominator = np.float32(135135.0) + x2 * (np.float32(62370.0) + x2 * (np.float32(3150.0) + x2 * np.float32(28.0)))
    return x * numerator / denominator


@jit
def network_step(
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
    individual,
    active,
    active_count,
    reward_index,
    reward_value,
    hidden,
    pre,
    logits,
):
    """Advance controller ``individual`` of a batch by one step; update ``hidden``, return the argmax action.

    The input is one-hot, so the input layer gathers the rows of the active inputs instead of
    multiplying a mostly-zero vector (``reward_index`` >= 0 adds the one real-valued input).
    """
    p = individual
    size = hidden.shape[0]
    for k in range(size):
        pre[k] = hidden_bias[p, k]
    weights = input_weights[p]
    for n in range(active_count):
        row = weights[active[n]]
        for k in range(size):
            pre[k] += row[k]
    if reward_index >= 0:
        for k in range(size):
            pre[k] += reward_value * input_weights[p, reward_index, k]
    if recurrent_weights.shape[1] > 0:
        recurrent = recurrent_weights[p]
        for j in range(size):
            value = hidden[j]
            row = recurrent[j]
            for k in range(size):
                pre[k] += value * row[k]
    for k in range(size):
        hidden[k] = squash(pre[k])
    outputs = logits.shape[0]
    for a in range(outputs):
        logits[a] = output_bias[p, a]
    for k in range(size):
        value = hidden[k]
        for a in range(outputs):
            logits[a] += value * output_weights[p, k, a]
    best = 0
    for a in range(1, outputs):
        if logits[a] > logits[best]:
            best = a
    return best


@jit
def target_mask(grid, kind, color, out):
    """Mark target cells: doors (kind 1) or things of ``color`` (kind 2); return how many."""
    height, width = grid.shape[0], grid.shape[1]
    count = 0
    for r in range(height):
        for c in range(width):
            tile = grid[r, c, 0]
            hit = False
            if kind == 1:
                hit = tile == TILE_DOOR
            elif tile >= TILE_DOOR and tile <= TILE_KEY:
                hit = grid[r, c, 1] == color
            out[r, c] = hit
            if hit:
                count += 1
    return count


@jit
def seek_action(grid, distances, row, col, heading, state):
    """Take the action that most shortens the path to a target; move randomly when none is reachable."""
    if distances[row, col, heading] >= UNREACHABLE:
        return next_below(state, 3)
    if distances[row, col, heading] == 1:
        return ACTION_FORWARD
    best_action = ACTION_FORWARD
    best = UNREACHABLE
    nr, nc = row + HEADING_DELTA[heading, 0], col + HEADING_DELTA[heading, 1]
    if grid[nr, nc, 0] == TILE_EMPTY:
        best = distances[nr, nc, heading]
    left = distances[row, col, (heading + 3) % 4]
    if left < best:
        best, best_action = left, ACTION_LEFT
    right = distances[row, col, (heading + 1) % 4]
    if right < best:
        best, best_action = right, ACTION_RIGHT
    return best_action


@jit
def door_targets(grid, color, out):
    """Mark the doors of ``color`` (0: every door) in ``out``; return how many."""
    height, width = grid.shape[0], grid.shape[1]
    count = 0
    for r in range(height):
        for c in range(width):
            hit = grid[r, c, 0] == TILE_DOOR and (color == 0 or grid[r, c, 1] == color)
            out[r, c] = hit
            if hit:
                count += 1
    return count


@jit
def pick_door(grid, state, exclude_color):
    """Return the flat cell of a door drawn uniformly among those not of ``exclude_color``; -1 if none."""
    height, width = grid.shape[0], grid.shape[1]
    doors = np.empty(height * width, dtype=np.int64)
    count = 0
    for r in range(height):
        for c in range(width):
            if grid[r, c, 0] == TILE_DOOR and (exclude_color == 0 or grid[r, c, 1] != exclude_color):
                doors[count] = r * width + c
                count += 1
    if count == 0:
        return -1
    return doors[next_below(state, count)]


@jit
def wall_follower_action(grid, row, col, heading, pending_forward):
    """Return (action, pending_forward) of the right-hand rule: keep a wall on the right.

    Enter a door ahead; after turning right, step forward (``pending_forward``) so the turn is
    not repeated in place; else turn right where the right is open, go ahead where the front
    is, and turn left in a dead end. It solves every perfect maze, slowly.
    """
    ahead_r, ahead_c = row + HEADING_DELTA[heading, 0], col + HEADING_DELTA[heading, 1]
    ahead = grid[ahead_r, ahead_c, 0]
    if ahead == TILE_DOOR or (pending_forward and ahead != TILE_WALL):
        return ACTION_FORWARD, False
    right = (heading + 1) % 4
    right_tile = grid[row + HEADING_DELTA[right, 0], col + HEADING_DELTA[right, 1], 0]
    if right_tile == TILE_EMPTY or right_tile == TILE_DOOR:
        return ACTION_RIGHT, True
    if ahead == TILE_EMPTY:
        return ACTION_FORWARD, False
    return ACTION_LEFT, False
