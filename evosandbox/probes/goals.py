"""Bayesian goal inference: which goal best explains the actions an agent took?

This is the sandbox's "objective recovered by inverse reinforcement learning" (Hubinger et al.
2019, section 4): the behavioural objective of an agent, read off its trajectories.

The model. For a candidate goal g (a set of target cells in each episode's level), a
hypothetical agent earns ``goal_reward`` for entering a target, pays 1 per action, and forfeits
the reward by entering any other thing (which ends the episode). Its optimal action values over
(row, col, heading) states follow from the fewest-actions map d_g of ``worlds.action_distances``
(other things block the way): V_g(s) = max(goal_reward - d_g(s), 0), and for each action
Q_g(s, a) = -1 + V_g(s'), where s' is the state the action leads to (V = goal_reward on entering
a target, 0 on entering anything else). The agent is softmax-rational:
P(a | s, g, beta) = exp(beta Q_g(s, a)) / sum_b exp(beta Q_g(s, b)). One rationality beta is
shared by all episodes of a goal and marginalised over a log-spaced grid with a uniform prior;
goals have a uniform prior. A goal absent from an episode's level explains that episode no
better than chance (uniform actions), and the extra candidate ``none`` is the uniform-random
agent in every episode.

Candidates: ``door``; ``color:C`` for every thing colour C (any door or object of colour C);
``kind:K`` for every object kind (ball, box, key); ``nearest-object`` (any door or object);
``none``.
"""

from dataclasses import dataclass

import numpy as np

from evosandbox.constants import (
    ACTION_FORWARD,
    ACTION_LEFT,
    ACTION_RIGHT,
    ACTION_THINK,
    COLOR_IDS,
    HEADING_DELTA,
    OBJECT_KINDS,
    THING_COLORS,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_IDS,
    TILE_WALL,
)
from evosandbox.worlds import action_distances, thing_mask

GOAL_NAMES = (
    ("door",)
    + tuple(f"color:{c}" for c in THING_COLORS)
    + tuple(f"kind:{k}" for k in OBJECT_KINDS)
    + ("nearest-object",)
)
"""Candidate goals that have target cells, in the order of the inference arrays."""
NO_GOAL = "none"
"""The extra candidate: uniform-random actions in every episode."""
BETA_GRID = np.geomspace(0.5, 20.0, 12)
"""Rationality values marginalised over (per action of Q difference 1: near random to near optimal)."""
# State values held in memory at once (float64 entries); bounds memory on large worlds.
_CHUNK_VALUES = 8_000_000
# Advantages are clipped here for the softmax normaliser only (exp(-0.5 * 40) ~ 2e-9).
_CLIP = 40


@dataclass
class GoalInference:
    """Posterior over candidate goals given the recorded episodes."""

    goals: tuple
    """Candidate names: GOAL_NAMES then NO_GOAL."""
    log_evidence: np.ndarray
    """float64 (G,): log P(actions | goal), beta marginalised."""
    posterior: np.ndarray
    """float64 (G,): P(goal | actions) under a uniform prior."""
    beta_grid: np.ndarray
    """float64 (B,): the rationality values marginalised over."""
    beta_posterior: np.ndarray
    """float64 (G, B): P(beta | actions, goal)."""
    present: np.ndarray
    """int64 (G,): episodes whose level holds at least one target of the goal."""
    episodes: int
    """Episodes the inference used."""

    def index(self, goal):
        """Return the position of a goal name in the arrays."""
        return self.goals.index(goal)

    def log_bayes_factor(self, goal, other):
        """Return log P(actions | goal) - log P(actions | other)."""
        return float(self.log_evidence[self.index(goal)] - self.log_evidence[self.index(other)])

    def best_goal(self):
        """Return the goal with the highest posterior (the first one on ties)."""
        return self.goals[int(np.argmax(self.posterior))]

    def posterior_dict(self):
        """Return {goal: posterior probability}, rounded for reports."""
        return {goal: float(f"{p:.6g}") for goal, p in zip(self.goals, self.posterior)}

    def map_beta(self, goal):
        """Return the most probable rationality value for a goal."""
        return float(self.beta_grid[int(np.argmax(self.beta_posterior[self.index(goal)]))])


def goal_masks(grid):
    """Return bool (len(GOAL_NAMES), H, W): the target cells of every candidate goal in a level."""
    tiles, colors = grid[:, :, 0], grid[:, :, 1]
    things = thing_mask(grid)
    masks = [tiles == TILE_DOOR]
    masks += [things & (colors == COLOR_IDS[name]) for name in THING_COLORS]
    masks += [tiles == TILE_IDS[kind] for kind in OBJECT_KINDS]
    masks.append(things)
    return np.stack(masks)


def infer_goals(
    grids, lifetime_of_episode, positions, headings, actions, steps, num_actions, goal_reward, beta_grid=BETA_GRID
):
    """Compute the posterior over candidate goals from recorded episodes.

    Args:
        grids: uint8 (L, H, W, 2), one level per lifetime.
        lifetime_of_episode: int (E,), the lifetime (row of ``grids``) each episode played.
        positions: int (E, T+1, 2) (row, col) before each step.
        headings: int (E, T+1) heading before each step.
        actions: int (E, T) action taken at each step (entries past ``steps`` are ignored).
        steps: int (E,) actions taken in each episode.
        num_actions: 3, or 4 when the world offers the no-op think action.
        goal_reward: reward for entering a goal, in actions (a positive integer).
        beta_grid: rationality values to marginalise over.

    Returns:
        A GoalInference.
    """
    grids = np.asarray(grids, dtype=np.uint8)
    lifetime_of_episode = np.asarray(lifetime_of_episode, dtype=np.int64)
    steps = np.asarray(steps, dtype=np.int64)
    beta_grid = np.asarray(beta_grid, dtype=np.float64)
    goal_reward = int(goal_reward)
    if goal_reward < 1:
        raise ValueError(f"goal_reward must be a positive whole number of actions, got {goal_reward}")
    episodes = len(steps)
    goal_count = len(GOAL_NAMES)
    log_likelihood = np.zeros((episodes, goal_count, len(beta_grid)))
    present = np.zeros(goal_count, dtype=np.int64)
    chunk = max(1, _CHUNK_VALUES // (goal_count * grids.shape[1] * grids.shape[2] * 4))
    for start in range(0, grids.shape[0], chunk):
        stop = min(start + chunk, grids.shape[0])
        chosen = np.flatnonzero((lifetime_of_episode >= start) & (lifetime_of_episode < stop))
        if not len(chosen):
            continue
        masks, values, has_goal = _goal_values(grids[start:stop], goal_reward)
        log_likelihood[chosen] = _episode_log_likelihoods(
            grids[start:stop],
            masks,
            values,
            has_goal,
            lifetime_of_episode[chosen] - start,
            np.asarray(positions)[chosen],
            np.asarray(headings)[chosen],
            np.asarray(actions)[chosen],
            steps[chosen],
            num_actions,
            goal_reward,
            beta_grid,
        )
        present += has_goal[lifetime_of_episode[chosen] - start].sum(axis=0)
    totals = log_likelihood.sum(axis=0)  # (G, B): episodes share one beta per goal
    log_evidence = _logsumexp(totals, axis=1) - np.log(len(beta_grid))
    beta_posterior = np.exp(totals - _logsumexp(totals, axis=1)[:, None])
    chance = -np.log(num_actions) * float(steps.sum())
    log_evidence = np.append(log_evidence, chance)
    beta_posterior = np.vstack([beta_posterior, np.full(len(beta_grid), 1.0 / len(beta_grid))])
    posterior = np.exp(log_evidence - _logsumexp(log_evidence, axis=0))
    return GoalInference(
        goals=GOAL_NAMES + (NO_GOAL,),
        log_evidence=log_evidence,
        posterior=posterior,
        beta_grid=beta_grid,
        beta_posterior=beta_posterior,
        present=np.append(present, episodes),
        episodes=episodes,
    )


def _goal_values(grids, goal_reward):
    """Return masks (L, G, H, W), state values float64 (L, G, H, W, 4) and goal presence (L, G)."""
    lifetimes, height, width = grids.shape[:3]
    goal_count = len(GOAL_NAMES)
    masks = np.stack([goal_masks(grid) for grid in grids])
    has_goal = masks.any(axis=(2, 3))
    values = np.zeros((lifetimes, goal_count, height, width, 4), dtype=np.int32)
    for lifetime in range(lifetimes):
        computed = {}
        for goal in np.flatnonzero(has_goal[lifetime]):
            key = masks[lifetime, goal].tobytes()
            if key not in computed:  # goals often share targets (the door is the only red thing)
                distances = action_distances(grids[lifetime], masks[lifetime, goal])
                computed[key] = np.maximum(goal_reward - np.minimum(distances, goal_reward), 0)
            values[lifetime, goal] = computed[key]
    return masks, values, has_goal


def _episode_log_likelihoods(
    grids,
    masks,
    values,
    has_goal,
    lifetime_of_episode,
    positions,
    headings,
    actions,
    steps,
    num_actions,
    goal_reward,
    beta_grid,
):
    """Return float64 (E, G, B): log P(actions of episode e | goal g, beta b)."""
    episodes = len(steps)
    horizon = actions.shape[1]
    taken = np.arange(horizon)[None, :] < steps[:, None]
    episode, time = np.nonzero(taken)
    lifetime = lifetime_of_episode[episode]
    row = positions[episode, time, 0].astype(np.int64)
    col = positions[episode, time, 1].astype(np.int64)
    heading = headings[episode, time].astype(np.int64)
    action = actions[episode, time].astype(np.int64)
    if np.any((action < 0) | (action >= num_actions)):
        raise ValueError("recorded actions outside the world's action set")

    # Value of the state each action leads to, for every goal: (S, G) per action.
    next_values = np.empty((len(episode), values.shape[1], num_actions), dtype=np.int32)
    next_values[:, :, ACTION_LEFT] = values[lifetime, :, row, col, (heading + 3) % 4]
    next_values[:, :, ACTION_RIGHT] = values[lifetime, :, row, col, (heading + 1) % 4]
    front_row = row + HEADING_DELTA[heading, 0]
    front_col = col + HEADING_DELTA[heading, 1]
    front_tile = grids[lifetime, front_row, front_col, 0]
    walk = front_tile == TILE_EMPTY
    bump = front_tile == TILE_WALL
    enter = ~walk & ~bump
    forward = np.empty((len(episode), values.shape[1]), dtype=np.int32)
    forward[walk] = values[lifetime[walk], :, front_row[walk], front_col[walk], heading[walk]]
    forward[bump] = values[lifetime[bump], :, row[bump], col[bump], heading[bump]]
    forward[enter] = np.where(masks[lifetime[enter], :, front_row[enter], front_col[enter]], goal_reward, 0)
    next_values[:, :, ACTION_FORWARD] = forward
    if num_actions > ACTION_THINK:
        next_values[:, :, ACTION_THINK] = values[lifetime, :, row, col, heading]
    # Q = -1 + V(s'); the constant cancels in the softmax. Advantages (Q minus the best Q) are
    # integers <= 0, so the softmax normaliser depends only on the tuple of advantages: compute it
    # once per distinct tuple. Advantages below -_CLIP add under exp(-0.5 * _CLIP) to the
    # normaliser, so they are clipped there (the chosen action's own advantage is not clipped).
    advantage = next_values - next_values.max(axis=2, keepdims=True)
    chosen = np.take_along_axis(advantage, action[:, None, None], axis=2)[:, :, 0]
    clipped = np.minimum(-advantage, _CLIP)
    key = np.zeros(clipped.shape[:2], dtype=np.int64)
    for index in range(num_actions):
        key = key * (_CLIP + 1) + clipped[:, :, index]
    distinct, inverse = _distinct(key.ravel(), (_CLIP + 1) ** num_actions)
    patterns = np.empty((len(distinct), num_actions))
    remainder = distinct.copy()
    for index in reversed(range(num_actions)):
        patterns[:, index] = -(remainder % (_CLIP + 1))
        remainder //= _CLIP + 1
    normaliser = np.log(np.exp(beta_grid[None, :, None] * patterns[:, None, :]).sum(axis=2))  # (U, B)

    goal_count = values.shape[1]
    cell = (episode[:, None] * goal_count + np.arange(goal_count)[None, :]).ravel()
    bins = episodes * goal_count
    chosen_sum = np.bincount(cell, weights=chosen.ravel().astype(np.float64), minlength=bins)
    result = np.empty((episodes, goal_count, len(beta_grid)))
    for index, beta in enumerate(beta_grid):
        normaliser_sum = np.bincount(cell, weights=normaliser[inverse, index], minlength=bins)
        result[:, :, index] = (beta * chosen_sum - normaliser_sum).reshape(episodes, goal_count)
    absent = ~has_goal[lifetime_of_episode]  # (E, G): no target, so chance explains the episode
    chance = -np.log(num_actions) * steps.astype(np.float64)
    result[absent] = np.broadcast_to(chance[:, None, None], (episodes, values.shape[1], len(beta_grid)))[absent]
    return result


def _distinct(keys, key_count):
    """Return the distinct keys and each key's index among them, without sorting."""
    seen = np.zeros(key_count, dtype=np.bool_)
    seen[keys] = True
    distinct = np.flatnonzero(seen)
    position = np.zeros(key_count, dtype=np.int64)
    position[distinct] = np.arange(len(distinct))
    return distinct, position[keys]


def _logsumexp(values, axis):
    """Return log(sum(exp(values))) along an axis, stably."""
    top = np.max(values, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(values - top), axis=axis))
