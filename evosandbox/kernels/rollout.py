"""The batched rollout kernel: every individual x lifetime in parallel, the controller inside."""

import numpy as np

from evosandbox.constants import (
    ACTION_FORWARD,
    ACTION_LEFT,
    ACTION_RIGHT,
    HEADING_DELTA,
    POLICY_COLOR_SEEKER,
    POLICY_DOOR_SEEKER,
    POLICY_NETWORK,
    POLICY_RANDOM,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_WALL,
)
from evosandbox.kernels._jit import jit, prange
from evosandbox.kernels.levels import action_distances_kernel, episode_start, generate_level_kernel
from evosandbox.kernels.observe import observe
from evosandbox.kernels.policies import network_step, seek_action, target_mask
from evosandbox.kernels.rng import derive_seed, new_state, next_below



@jit(parallel=True)
def rollout_kernel(
    # level generation
    height, width, generator, rooms_rows, rooms_cols, base_grid, fixed_door_cells, fixed_start,
    cumulative_weights, thing_tiles, thing_masks, thing_counts,
    # episode rules
    max_steps, episodes, reset_state, door_reward, step_cost,
    # observation
    view_offsets, view_radius, los_cells, los_length, type_radius, color_radius,
    action_input_base, reward_index,
    # seeds
    level_seeds, seed,
    # policy
    policy_kind, policy_color, input_weights, hidden_bias, recurrent_weights, output_weights, output_bias,
    # outputs (P, L, K)
    entered_tile, entered_color, steps_out, returns_out,
    # recording (zero-sized unless recording)
    record, grids_out, positions_out, headings_out, actions_out, rewards_out, hidden_out,
):
    """Play ``episodes`` episodes in each of L levels for each of P policies, in parallel."""
    population = entered_tile.shape[0]
    lifetimes = level_seeds.shape[0]
    hidden_size = hidden_bias.shape[1]
    outputs = output_bias.shape[1]
    cells = view_radius.shape[0]
    for item in prange(population * lifetimes):
        p = item // lifetimes
        lifetime = item % lifetimes
        grid = np.empty((height, width, 2), dtype=np.uint8)
        first_row, first_col, first_heading, _, _ = generate_level_kernel(
            grid, level_seeds[lifetime], generator, rooms_rows, rooms_cols, base_grid, fixed_door_cells,
            fixed_start, cumulative_weights, thing_tiles, thing_masks, thing_counts,
        )
        if record and p == 0:
            grids_out[lifetime] = grid
        distances = np.empty((height, width, 4), dtype=np.int32)
        if policy_kind == POLICY_DOOR_SEEKER or policy_kind == POLICY_COLOR_SEEKER:
            targets = np.zeros((height, width), dtype=np.bool_)
            target_mask(grid, 1 if policy_kind == POLICY_DOOR_SEEKER else 2, policy_color, targets)
            action_distances_kernel(grid, targets, distances)
        hidden = np.zeros(hidden_size, dtype=np.float32)
        pre = np.empty(hidden_size, dtype=np.float32)
        logits = np.empty(outputs, dtype=np.float32)
        active = np.empty(2 * cells + 1, dtype=np.int64)
        view_tiles = np.empty(cells, dtype=np.uint8)
        view_colors = np.empty(cells, dtype=np.uint8)
        last_action = -1
        last_reward = np.float32(0.0)
        for episode in range(episodes):
            row, col, heading = episode_start(
                grid, level_seeds[lifetime], episode, first_row, first_col, first_heading
            )
            if reset_state and episode > 0:
                hidden[:] = 0.0
            state = new_state(derive_seed(derive_seed(derive_seed(seed, p), lifetime), episode))
            tile_hit = TILE_EMPTY
            color_hit = 0
            total = 0.0
            steps = 0
            if record:
                positions_out[p, lifetime, episode, 0, 0] = row
                positions_out[p, lifetime, episode, 0, 1] = col
                headings_out[p, lifetime, episode, 0] = heading
            for t in range(max_steps):
                if policy_kind == POLICY_NETWORK:
                    count = observe(grid, row, col, heading, view_offsets, view_radius, los_cells, los_length,
                                    type_radius, color_radius, view_tiles, view_colors, active)
                    if action_input_base >= 0 and last_action >= 0:
                        active[count] = action_input_base + last_action
                        count += 1
                    action = network_step(
                        input_weights, hidden_bias, recurrent_weights, output_weights, output_bias, p,
                        active, count, reward_index, last_reward, hidden, pre, logits,
                    )
                elif policy_kind == POLICY_RANDOM:
                    action = next_below(state, 3)
                else:
                    action = seek_action(grid, distances, row, col, heading, state)
                reward = -step_cost
                if action == ACTION_LEFT:
                    heading = (heading + 3) % 4
                elif action == ACTION_RIGHT:
                    heading = (heading + 1) % 4
                elif action == ACTION_FORWARD:
                    nr, nc = row + HEADING_DELTA[heading, 0], col + HEADING_DELTA[heading, 1]
                    tile = grid[nr, nc, 0]
                    if tile == TILE_EMPTY:
                        row, col = nr, nc
                    elif tile != TILE_WALL:
                        tile_hit = tile
                        color_hit = grid[nr, nc, 1]
                        if tile == TILE_DOOR:
                            reward += door_reward
                total += reward
                steps = t + 1
                last_action = action
                last_reward = np.float32(reward)
                if record:
                    positions_out[p, lifetime, episode, t + 1, 0] = row
                    positions_out[p, lifetime, episode, t + 1, 1] = col
                    headings_out[p, lifetime, episode, t + 1] = heading
                    actions_out[p, lifetime, episode, t] = action
                    rewards_out[p, lifetime, episode, t] = reward
                    for k in range(hidden_size):
                        hidden_out[p, lifetime, episode, t, k] = hidden[k]
                if tile_hit != TILE_EMPTY:
                    break
            entered_tile[p, lifetime, episode] = tile_hit
            entered_color[p, lifetime, episode] = color_hit
            steps_out[p, lifetime, episode] = steps
            returns_out[p, lifetime, episode] = total
