"""Agent-steps per second of the rollout kernel, against Farama MiniGrid when it is installed.

Measures (a) the random policy and (b) the default recurrent controller (32 hidden units),
population 256 x 16 episodes on the red-door training world, on 1 thread and on all threads,
each the best of several repetitions after a warm-up (so compile time is excluded).

    python benchmarks/throughput.py [--json] [--repeats N]
"""

import argparse
import json
import os
import sys
import time

import numba
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from evosandbox.config import load_world  # noqa: E402
from evosandbox.controller import ControllerParams  # noqa: E402
from evosandbox.simulate import level_seeds_for, parse_policy, rollout  # noqa: E402
from evosandbox.worlds import controller_shape  # noqa: E402

POPULATION, EPISODES, HIDDEN = 256, 16, 32


def best_rate(function, repeats):
    """Return the best steps/second of ``function`` (which returns a step count) over repeats."""
    function()  # warm-up: compile or load the cache
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        steps = function()
        best = max(best, steps / (time.perf_counter() - start))
    return best


def minigrid_rate(seconds=3.0):
    """Return MiniGrid's random-policy steps per second, or None when it is not installed."""
    try:
        import gymnasium
        import minigrid  # noqa: F401
    except ImportError:
        return None
    env = gymnasium.make("MiniGrid-Empty-8x8-v0")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(3)))
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def measure(repeats):
    """Run every measurement and return the figures as a dict."""
    spec = load_world(os.path.join(ROOT, "worlds", "red-doors-train.toml"))
    params = ControllerParams.random(controller_shape(spec, HIDDEN, True), POPULATION, seed=0)
    seeds = level_seeds_for(0, EPISODES)
    random_seeds = level_seeds_for(0, POPULATION * EPISODES)
    random_policy = parse_policy("random")

    def controller():
        return int(rollout(spec, params, seeds, 0).steps.sum())

    def random():
        return int(rollout(spec, random_policy, random_seeds, 0).steps.sum())

    threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(1)
    controller_1 = best_rate(controller, repeats)
    random_1 = best_rate(random, repeats)
    numba.set_num_threads(threads)
    controller_all = best_rate(controller, repeats)
    random_all = best_rate(random, repeats)
    minigrid = minigrid_rate()
    return {
        "threads": threads,
        "random_steps_per_s": random_all,
        "random_steps_per_s_1thread": random_1,
        "controller_steps_per_s": controller_all,
        "controller_steps_per_s_1thread": controller_1,
        "thread_scaling": controller_all / controller_1,
        "minigrid_steps_per_s": minigrid,
        "ratio_vs_minigrid": controller_all / minigrid if minigrid else None,
    }


def main():
    """Parse flags, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    figures = measure(args.repeats)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"population {POPULATION} x {EPISODES} episodes, red-doors-train, {figures['threads']} threads")
    print(
        f"random policy        {figures['random_steps_per_s']:>14,.0f} agent-steps/s  (1 thread {figures['random_steps_per_s_1thread']:,.0f})"
    )
    print(
        f"recurrent controller {figures['controller_steps_per_s']:>14,.0f} agent-steps/s  (1 thread {figures['controller_steps_per_s_1thread']:,.0f})"
    )
    print(f"thread scaling       {figures['thread_scaling']:>14.2f}x")
    if figures["minigrid_steps_per_s"]:
        print(f"MiniGrid random      {figures['minigrid_steps_per_s']:>14,.0f} steps/s")
        print(f"controller / MiniGrid{figures['ratio_vs_minigrid']:>14.0f}x")
    else:
        print("MiniGrid not installed: no comparison (pip install --no-deps minigrid gymnasium)")


if __name__ == "__main__":
    main()
