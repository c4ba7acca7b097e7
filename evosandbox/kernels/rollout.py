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
    POLICY_ORACLE,
    POLICY_RANDOM,
    POLICY_RANDOM_DOOR,
    POLICY_WALL_FOLLOWER,
    POLICY_WSLS,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_WALL,
)
from evosandbox.kernels._jit import jit, prange
from evosandbox.kernels.levels import (
    action_distances_kernel,
    door_value,
    episode_start,
    generate_level_kernel,
    payout_draw,
    redraw_seed,
)
from evosandbox.kernels.observe import observe
from evosandbox.kernels.policies import (
    door_targets,
    network_step,
    pick_door,
    seek_action,
    target_mask,
    wall_follower_action,
)
from evosandbox.kernels.rng import derive_seed, new_state, next_below


@jit
def _choose_targets(policy_kind, grid, state, paying, memory_color, memory_won, episode, reset_state, targets):
    """Mark this episode's target doors of a door-choosing scripted policy; return its colour memory.

    oracle: the paying colour's doors; random-door: one door drawn now; wsls: the colour of
    the last episode's door when it paid (win-stay), else a door of another colour (lose-shift),
    a drawn door when it remembers none (first episode, or state reset between episodes).
    """
    width = grid.shape[1]
    if policy_kind == POLICY_ORACLE:
        door_targets(grid, paying, targets)
        return paying
    if policy_kind == POLICY_WSLS and memory_color != 0 and not (reset_state and episode > 0):
        if memory_won:
            door_targets(grid, memory_color, targets)
            return memory_color
        cell = pick_door(grid, state, memory_color)
        if cell < 0:
            cell = pick_door(grid, state, 0)
    else:
        cell = pick_door(grid, state, 0)
    targets[:, :] = False
    if cell < 0:
        return 0
    color = grid[cell // width, cell % width, 1]
    if policy_kind == POLICY_WSLS:
        door_targets(grid, color, targets)
    else:
        targets[cell // width, cell % width] = True
    return color


@jit
def _network_inputs(
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
    action_input_base,
    last_action,
):
    """Fill ``active`` with the network's active inputs (view, then the previous action); return their count."""
    count = observe(
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
    )
    if action_input_base >= 0 and last_action >= 0:
        active[count] = action_input_base + last_action
        count += 1
    return count


@jit(parallel=True)
def rollout_kernel(
    # level generation
    height,
    width,
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
    # episode rules
    max_steps,
    episodes,
    reset_state,
    redraw_layout,
    door_reward,
    step_cost,
    # payout: per lifetime (L,) colour ids (0: every door pays), the reward of another door, the
    # paying door's probability; the colours the reward *input* is computed with (the permuted
    # ablation gives another lifetime's) and whether that input is zeroed
    paying_colors,
    other_door_reward,
    pay_probability,
    feedback_colors,
    zero_reward_input,
    # observation
    view_offsets,
    view_radius,
    los_cells,
    los_length,
    type_radius,
    color_radius,
    action_input_base,
    reward_index,
    # seeds
    level_seeds,
    seed,
    # policy; think_steps: network steps on each episode's first observation, actions discarded
    policy_kind,
    policy_color,
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
    think_steps,
    # outputs (P, L, K)
    entered_tile,
    entered_color,
    steps_out,
    returns_out,
    # recording (zero-sized unless recording)
    record,
    grids_out,
    positions_out,
    headings_out,
    actions_out,
    rewards_out,
    hidden_out,
):
    """Play ``episodes`` episodes in each of L levels for each of P policies, in parallel."""
    population = entered_tile.shape[0]
    lifetimes = level_seeds.shape[0]
    hidden_size = hidden_bias.shape[1]
    outputs = output_bias.shape[1]
    cells = view_radius.shape[0]
    seeks_doors = policy_kind == POLICY_ORACLE or policy_kind == POLICY_RANDOM_DOOR or policy_kind == POLICY_WSLS
    for item in prange(population * lifetimes):
        p = item // lifetimes
        lifetime = item % lifetimes
        grid = np.empty((height, width, 2), dtype=np.uint8)
        first_row, first_col, first_heading, _, _ = generate_level_kernel(
            grid,
            level_seeds[lifetime],
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
        )
        if record and p == 0:
            grids_out[lifetime] = grid
        distances = np.empty((height, width, 4), dtype=np.int32)
        targets = np.zeros((height, width), dtype=np.bool_)
        if policy_kind == POLICY_DOOR_SEEKER or policy_kind == POLICY_COLOR_SEEKER:
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
        paying = paying_colors[lifetime]
        feedback = feedback_colors[lifetime]
        memory_color = 0
        memory_won = False
        for episode in range(episodes):
            if redraw_layout and episode > 0:
                row, col, heading, _, _ = generate_level_kernel(
                    grid,
                    redraw_seed(level_seeds[lifetime], episode),
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
                )
                if policy_kind == POLICY_DOOR_SEEKER or policy_kind == POLICY_COLOR_SEEKER:
                    target_mask(grid, 1 if policy_kind == POLICY_DOOR_SEEKER else 2, policy_color, targets)
                    action_distances_kernel(grid, targets, distances)
            else:
                row, col, heading = episode_start(
                    grid, level_seeds[lifetime], episode, first_row, first_col, first_heading, every_door
                )
            if reset_state and episode > 0:
                hidden[:] = 0.0
            state = new_state(derive_seed(derive_seed(derive_seed(seed, p), lifetime), episode))
            if seeks_doors:
                memory_color = _choose_targets(
                    policy_kind, grid, state, paying, memory_color, memory_won, episode, reset_state, targets
                )
                action_distances_kernel(grid, targets, distances)
            draw = payout_draw(level_seeds[lifetime], episode) if paying != 0 else 0.0
            pending_forward = False
            tile_hit = TILE_EMPTY
            color_hit = 0
            total = 0.0
            steps = 0
            if record:
                positions_out[p, lifetime, episode, 0, 0] = row
                positions_out[p, lifetime, episode, 0, 1] = col
                headings_out[p, lifetime, episode, 0] = heading
            if policy_kind == POLICY_NETWORK and think_steps > 0:
                count = _network_inputs(
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
                    action_input_base,
                    last_action,
                )
                for _ in range(think_steps):
                    network_step(
                        input_weights,
                        hidden_bias,
                        recurrent_weights,
                        output_weights,
                        output_bias,
                        p,
                        active,
                        count,
                        reward_index,
                        last_reward,
                        hidden,
                        pre,
                        logits,
                    )
            for t in range(max_steps):
                if policy_kind == POLICY_NETWORK:
                    count = _network_inputs(
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
                        action_input_base,
                        last_action,
                    )
                    action = network_step(
                        input_weights,
                        hidden_bias,
                        recurrent_weights,
                        output_weights,
                        output_bias,
                        p,
                        active,
                        count,
                        reward_index,
                        last_reward,
                        hidden,
                        pre,
                        logits,
                    )
                elif policy_kind == POLICY_RANDOM:
                    action = next_below(state, 3)
                elif policy_kind == POLICY_WALL_FOLLOWER:
                    action, pending_forward = wall_follower_action(grid, row, col, heading, pending_forward)
                else:
                    action = seek_action(grid, distances, row, col, heading, state)
                reward = -step_cost
                input_reward = reward
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
                            reward += door_value(
                                color_hit, paying, door_reward, other_door_reward, pay_probability, draw
                            )
                            input_reward += door_value(
                                color_hit, feedback, door_reward, other_door_reward, pay_probability, draw
                            )
                total += reward
                steps = t + 1
                last_action = action
                last_reward = np.float32(0.0) if zero_reward_input else np.float32(input_reward)
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
            # What wsls remembers: the colour it chose, and whether its door paid (as its reward input says).
            memory_won = tile_hit == TILE_DOOR and not zero_reward_input and input_reward + step_cost > 0.0
            entered_tile[p, lifetime, episode] = tile_hit
            entered_color[p, lifetime, episode] = color_hit
            steps_out[p, lifetime, episode] = steps
            returns_out[p, lifetime, episode] = total
