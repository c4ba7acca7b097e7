"""Run policies in worlds: the public wrapper over the batched rollout kernel."""

import time
from dataclasses import dataclass, field

import numpy as np

from evosandbox.constants import (
    COLOR_IDS,
    FLOAT_DTYPE,
    POLICY_COLOR_SEEKER,
    POLICY_DOOR_SEEKER,
    POLICY_NETWORK,
    POLICY_ORACLE,
    POLICY_RANDOM,
    POLICY_RANDOM_DOOR,
    POLICY_WALL_FOLLOWER,
    POLICY_WSLS,
    THING_COLORS,
)
from evosandbox.controller import ControllerParams
from evosandbox.errors import ConfigError, UsageError
from evosandbox.kernels.rollout import rollout_kernel
from evosandbox.resources import check_memory
from evosandbox.seeding import derive_seeds
from evosandbox.worlds import compile_world, level_arguments, observation_size, paying_colors

POLICY_NAMES = ("door-seeker", "color-seeker:COLOR", "random", "oracle", "random-door", "wsls", "wall-follower")
SCRIPTED_KINDS = {
    "door-seeker": POLICY_DOOR_SEEKER,
    "color-seeker": POLICY_COLOR_SEEKER,
    "random": POLICY_RANDOM,
    "oracle": POLICY_ORACLE,  # knows the lifetime's paying colour: the ceiling of a which-door world
    "random-door": POLICY_RANDOM_DOOR,  # a shortest path to a door drawn per episode: no learning
    "wsls": POLICY_WSLS,  # win-stay, lose-shift over door colours: a minimal learner
    "wall-follower": POLICY_WALL_FOLLOWER,  # the right-hand rule: a control-type maze heuristic
}
"""Scripted policy names and their kernel ids (every kind but color-seeker takes no argument)."""
MAX_THINK_STEPS = 1000
"""Most thinking steps a rollout accepts."""


@dataclass(frozen=True)
class ScriptedPolicy:
    """A baseline policy with privileged access to the level (shortest paths by true tile)."""

    kind: str
    """A key of SCRIPTED_KINDS: door-seeker, color-seeker, random, oracle, random-door, wsls, wall-follower."""
    color: str = ""
    """Target colour of a color-seeker."""

    @property
    def name(self):
        """The policy as written on the command line."""
        return f"{self.kind}:{self.color}" if self.color else self.kind


def parse_policy(text):
    """Parse a scripted policy name (``door-seeker``, ``color-seeker:COLOR``, ``wsls``, ...) into a ScriptedPolicy."""
    kind, _, color = text.partition(":")
    if kind in SCRIPTED_KINDS and kind != "color-seeker" and not color:
        return ScriptedPolicy(kind)
    if kind == "color-seeker":
        if color not in THING_COLORS:
            raise UsageError(
                f"unknown colour {color!r} in {text!r}, expected one of {', '.join(THING_COLORS)}", "--policy"
            )
        return ScriptedPolicy(kind, color)
    raise UsageError(f"unknown policy {text!r}, expected one of {', '.join(POLICY_NAMES)}", "--policy")


@dataclass
class Rollout:
    """Outcomes of P policies x L lifetimes x K episodes, and trajectories when recorded."""

    entered_tile: np.ndarray  # (P, L, K) uint8; 0 (empty) means timeout
    entered_color: np.ndarray  # (P, L, K) uint8
    steps: np.ndarray  # (P, L, K) int32
    returns: np.ndarray  # (P, L, K) float32
    level_seeds: np.ndarray  # (L,) uint64
    seed: int
    grids: np.ndarray = field(default=None)  # (L, H, W, 2) uint8
    positions: np.ndarray = field(default=None)  # (P, L, K, T+1, 2) int16, final cell repeated after the end
    headings: np.ndarray = field(default=None)  # (P, L, K, T+1) int8
    actions: np.ndarray = field(default=None)  # (P, L, K, T) int8, -1 after the end
    rewards: np.ndarray = field(default=None)  # (P, L, K, T) float32
    hidden: np.ndarray = field(default=None)  # (P, L, K, T, hidden) float32
    kernel_seconds: float = 0.0  # wall time of the rollout kernel call alone


def _policy_arrays(spec, policy):
    """Return (kind, colour, weight arrays...) for the kernel."""
    if isinstance(policy, ControllerParams):
        expected = observation_size(spec)
        if policy.input_weights.shape[1] != expected:
            raise ValueError(
                f"controller takes {policy.input_weights.shape[1]} inputs, world {spec.name} gives {expected}"
            )
        if policy.output_bias.shape[1] != spec.num_actions:
            raise ValueError(
                f"controller has {policy.output_bias.shape[1]} outputs, world {spec.name} has {spec.num_actions} actions"
            )
        return (
            POLICY_NETWORK,
            0,
            policy.input_weights,
            policy.hidden_bias,
            policy.recurrent_weights,
            policy.output_weights,
            policy.output_bias,
        )
    if isinstance(policy, str):
        policy = parse_policy(policy)
    kind = SCRIPTED_KINDS[policy.kind]
    color = COLOR_IDS[policy.color] if policy.color else 0
    empty3 = np.zeros((1, 0, 0), FLOAT_DTYPE)
    empty2 = np.zeros((1, 0), FLOAT_DTYPE)
    return (
        kind,
        color,
        empty3,
        empty2,
        empty3,
        np.zeros((1, 0, spec.num_actions), FLOAT_DTYPE),
        np.zeros((1, spec.num_actions), FLOAT_DTYPE),
    )


def level_seeds_for(seed, count, salt=0):
    """Derive ``count`` level seeds from an integer seed (and a salt: a ``seeding`` purpose id)."""
    return derive_seeds(int(salt), seed, count)


def rollout(
    spec, policy, level_seeds, seed=0, record=False, *, think_steps=0, zero_reward_input=False, feedback_colors=None
):
    """Run a policy (ControllerParams batch or ScriptedPolicy) on the levels of ``level_seeds``.

    Args:
        spec: the WorldSpec to play.
        policy: ControllerParams for P networks, or a ScriptedPolicy / policy string (P = 1).
        level_seeds: uint64 (L,), one level (lifetime) per seed, shared by every individual.
        seed: seeds the random policy's draws (per individual, lifetime and episode).
        record: also return grids and per-step trajectories.
        think_steps: step a network this many times on each episode's first observation, its
            actions discarded, before it plays (Taufeeque et al. 2024); no effect on scripted policies.
        zero_reward_input: feed 0 as the last-reward input (and to wsls) instead of the reward.
        feedback_colors: uint8 (L,) paying colours the reward *input* is computed with instead of
            each lifetime's own (the permuted-reward ablation); returns still use the own colour.

    Returns:
        A Rollout with (P, L, K) outcome arrays.
    """
    result, recording = play(
        spec,
        policy,
        level_seeds,
        seed,
        record,
        think_steps=think_steps,
        zero_reward_input=zero_reward_input,
        feedback_colors=feedback_colors,
    )
    if record:
        grids, positions, headings, actions, rewards, hidden = recording
        _hold_final_state(positions, headings, hidden, result.steps)
        result.grids, result.positions, result.headings = grids, positions, headings
        result.actions, result.rewards, result.hidden = actions, rewards, hidden
    return result


def play(
    spec, policy, level_seeds, seed=0, record=False, *, think_steps=0, zero_reward_input=False, feedback_colors=None
):
    """Call the rollout kernel once: return (Rollout, recording).

    ``recording`` is (grids, positions, headings, actions, rewards, hidden) as the kernel wrote
    them (a trajectory stops at its episode's last step) when ``record``, else None. The
    keyword arguments are the manipulations of ``rollout``.
    """
    arrays = compile_world(spec)
    level_seeds = np.ascontiguousarray(level_seeds, dtype=np.uint64)
    if level_seeds.ndim != 1:
        raise ValueError("level_seeds must be one-dimensional")
    if record and spec.lifetime.redraw_layout and spec.lifetime.episodes > 1:
        raise ConfigError(
            spec.path,
            "lifetime.redraw_layout",
            "recording trajectories (replays, pacing) keeps one level per lifetime; this world re-draws it every episode",
        )
    if not 0 <= int(think_steps) <= MAX_THINK_STEPS:
        raise UsageError(f"thinking steps must be within 0..{MAX_THINK_STEPS}, got {think_steps}", field="think_steps")
    paying = paying_colors(spec, level_seeds)
    feedback = paying if feedback_colors is None else np.ascontiguousarray(feedback_colors, dtype=np.uint8)
    if feedback.shape != paying.shape:
        raise ValueError("feedback_colors must hold one colour per level seed")
    kind, color, w_in, b_h, w_rec, w_out, b_out = _policy_arrays(spec, policy)
    population, lifetimes, episodes = w_in.shape[0], level_seeds.shape[0], spec.lifetime.episodes
    check_rollout_memory(spec, policy, lifetimes, record)
    shape = (population, lifetimes, episodes)
    entered_tile = np.zeros(shape, np.uint8)
    entered_color = np.zeros(shape, np.uint8)
    steps = np.zeros(shape, np.int32)
    returns = np.zeros(shape, np.float32)
    steps_max = spec.max_steps if record else 0
    hidden_size = b_h.shape[1] if record else 0
    n_rec = lifetimes if record else 0
    grids = np.zeros((n_rec, arrays.height, arrays.width, 2), np.uint8)
    recshape = (population, lifetimes, episodes) if record else (0, 0, 0)
    positions = np.zeros(recshape + (steps_max + 1, 2), np.int16)
    headings = np.zeros(recshape + (steps_max + 1,), np.int8)
    actions = np.full(recshape + (steps_max,), -1, np.int8)
    rewards = np.zeros(recshape + (steps_max,), np.float32)
    hidden = np.zeros(recshape + (steps_max, hidden_size), np.float32)
    obs = spec.observation
    started = time.perf_counter()
    rollout_kernel(
        arrays.height,
        arrays.width,
        *level_arguments(arrays),
        spec.max_steps,
        episodes,
        spec.lifetime.reset_state,
        spec.lifetime.redraw_layout,
        np.float32(spec.rewards.door),
        np.float32(spec.rewards.step_cost),
        paying,
        np.float32(spec.payout.other_door),
        np.float64(spec.payout.probability),
        feedback,
        bool(zero_reward_input),
        arrays.view_offsets,
        arrays.view_radius,
        arrays.los_cells,
        arrays.los_length,
        obs.type_radius,
        obs.color_radius,
        arrays.action_input_base,
        arrays.reward_index,
        level_seeds,
        np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF),
        kind,
        color,
        w_in,
        b_h,
        w_rec,
        w_out,
        b_out,
        int(think_steps),
        entered_tile,
        entered_color,
        steps,
        returns,
        record,
        grids,
        positions,
        headings,
        actions,
        rewards,
        hidden,
    )
    result = Rollout(
        entered_tile,
        entered_color,
        steps,
        returns,
        level_seeds,
        int(seed),
        kernel_seconds=time.perf_counter() - started,
    )
    recording = (grids, positions, headings, actions, rewards, hidden) if record else None
    return result, recording


def check_rollout_memory(spec, policy, lifetimes, record=False):
    """Raise UsageError, with the figures, when a rollout of ``lifetimes`` levels cannot fit in memory.

    Callers that draw the level seeds themselves call it first, so that nothing big is allocated.
    """
    individuals, hidden_size = (
        (policy.population_size, policy.hidden_bias.shape[1]) if isinstance(policy, ControllerParams) else (1, 0)
    )
    episodes = individuals * int(lifetimes) * spec.lifetime.episodes
    needed = int(lifetimes) * 16 + episodes * (1 + 1 + 4 + 4)  # level seeds; entered tile and colour, steps, return
    if record:
        steps = spec.max_steps
        needed += int(lifetimes) * spec.height * spec.width * 2
        needed += episodes * ((steps + 1) * (2 * 2 + 1) + steps * (1 + 4 + 4 * hidden_size))
    check_memory(
        needed,
        f"a rollout of {episodes:,} episodes{' with trajectories' if record else ''}",
        "use fewer episodes, levels or individuals",
    )


def _hold_final_state(positions, headings, hidden, steps):
    """Repeat each episode's final position, heading and hidden state after it ended."""
    total = positions.shape[3] - 1
    t = np.arange(total + 1)
    index = np.minimum(t[None, None, None, :], steps[..., None])
    positions[:] = np.take_along_axis(positions, index[..., None].repeat(2, axis=-1), axis=3)
    headings[:] = np.take_along_axis(headings, index, axis=3)
    if hidden.shape[-1] and total:
        last = np.maximum(steps - 1, 0)
        step_index = np.minimum(np.arange(total)[None, None, None, :], last[..., None])
        hidden[:] = np.take_along_axis(hidden, step_index[..., None].repeat(hidden.shape[-1], axis=-1), axis=3)
