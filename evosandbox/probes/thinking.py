"""The thinking probe: does an agent do better when given time to think before it moves?

The protocol of Taufeeque et al. 2024 ("Planning in a recurrent neural network that plays
Sokoban"): before the first move of an episode the controller is stepped N times on its first
observation with the actions discarded (N in 0, 1, 2, 4, 8, 16), then it plays greedily on the
same levels. Their recurrent agent solves 4.6-7.6 points more levels with thinking steps; a
network without recurrence cannot change at all, so its effect is exactly 0, as is every
scripted policy's (nothing in them reads a state).

Reported on the world (training-size levels) and on a harder one (the world at 4x its area,
``worlds.scaled_world``): success by N with Wilson intervals; the planning effect
max over N of success(N) - success(0), with a bootstrap interval over levels (paired);
pacing, the share of episodes (at N = 0) that revisit a (cell, heading) before entering
anything (their agent paces to buy time; a think action also counts, since it stays put); and
where the world offers the think action, the share of actions that are ``think``.
"""

import numpy as np

from evosandbox.constants import ACTION_THINK
from evosandbox.errors import UsageError
from evosandbox.probes._episodes import format_metric, mean_metric, population_size, probe_seeds, rate_metric, successes
from evosandbox.probes.base import Metric, Probe, ProbeResult, register
from evosandbox.simulate import MAX_THINK_STEPS, rollout
from evosandbox.worlds import scaled_world

DEFAULT_THINK_STEPS = (0, 1, 2, 4, 8, 16)
"""Thinking steps of Taufeeque et al. 2024's figure."""
HARDER_AREA = 4
"""The harder levels: the world at this many times its area."""


def check_think_steps(steps):
    """Return sorted distinct thinking steps that start at 0; UsageError naming --think-steps otherwise."""
    steps = sorted({int(n) for n in steps})
    if not steps or steps[0] != 0:
        raise UsageError("must include 0 (the baseline the planning effect is measured against)", field="--think-steps")
    if steps[-1] > MAX_THINK_STEPS:
        raise UsageError(f"{steps[-1]} is out of range 0..{MAX_THINK_STEPS}", field="--think-steps")
    return tuple(steps)


def harder_world(world):
    """Return the harder world of the probe (4x the area), or None when the world cannot be scaled."""
    return None if world.generator == "ascii" else scaled_world(world, HARDER_AREA)


def revisits(positions, headings, steps, width):
    """Return bool (P, L, K): the episode stood twice in the same (cell, heading) before its end.

    The states counted are those an action was taken from (t < steps).
    """
    codes = (positions[..., 0].astype(np.int64) * width + positions[..., 1]) * 4 + headings
    codes = codes[..., :-1]
    t = np.arange(codes.shape[-1])
    after = t >= steps[..., None]
    codes = np.sort(np.where(after, -1 - t, codes), axis=-1)  # distinct negatives never repeat
    return np.any(np.diff(codes, axis=-1) == 0, axis=-1)


def thinking_runs(policy, world, levels, seed, think_steps):
    """Return ({N: bool (P, L, K) successes}, pacing bool (P, L, K'), think-action share (P,) or None).

    Pacing and the think-action share come from a recorded rollout at N = 0; a world that
    re-draws its layout every episode cannot be recorded whole, so there they come from each
    lifetime's first episode (K' = 1), which is the same level and start as in the lifetime.
    """
    from dataclasses import replace

    seeds = probe_seeds(seed, levels, variant=1)
    hits = {steps: successes(rollout(world, policy, seeds, seed, think_steps=steps), world) for steps in think_steps}
    recorded_world = world
    if world.lifetime.redraw_layout and world.lifetime.episodes > 1:
        recorded_world = replace(world, lifetime=replace(world.lifetime, episodes=1))
    result = rollout(recorded_world, policy, seeds, seed, record=True)
    pacing = revisits(result.positions, result.headings, result.steps, world.width)
    think_share = None
    if world.think_action:
        acted = result.actions >= 0
        think_share = (result.actions == ACTION_THINK).sum(axis=(1, 2, 3)) / np.maximum(acted.sum(axis=(1, 2, 3)), 1)
    return hits, pacing, think_share


def planning_metric(name, hits, think_steps, p, seed):
    """Return max over N of success(N) - success(0) of individual ``p``, bootstrapped over levels."""
    baseline = hits[0][p].mean(axis=1)
    differences = (
        np.stack([hits[n][p].mean(axis=1) - baseline for n in think_steps[1:]], axis=1)
        if len(think_steps) > 1
        else np.zeros((baseline.shape[0], 1))
    )
    return mean_metric(name, differences, seed, statistic=lambda values: float(np.mean(values, axis=0).max()))


@register
class ThinkingProbe(Probe):
    """Success after N thinking steps, the planning effect and pacing, at two level sizes."""

    name = "thinking"
    think_steps = DEFAULT_THINK_STEPS
    """The N of the protocol; the command's --think-steps replaces them (0 must be one)."""

    def _sizes(self, world):
        """Return [(suffix, world)] of the sizes probed: the world, and its harder version."""
        harder = harder_world(world)
        return [("", world)] + ([("_harder", harder)] if harder is not None else [])

    def metric_names(self, world, train_world):
        """Return success by N, the planning effect and pacing per size (and the think-action share)."""
        names = []
        for suffix, _ in self._sizes(world):
            names += [f"success{suffix}_think_{n}" for n in check_think_steps(self.think_steps)]
            names += [f"planning_effect{suffix}", f"pacing{suffix}"]
        if world.think_action:
            names.append("think_action_rate")
        return tuple(names)

    def measure(self, policy, world, train_world, episodes, seed):
        """Play ``episodes`` levels per N and size; return one ProbeResult per individual."""
        think_steps = check_think_steps(self.think_steps)
        runs = [
            (suffix, spec, *thinking_runs(policy, spec, int(episodes), seed, think_steps))
            for suffix, spec in self._sizes(world)
        ]
        results = []
        for p in range(population_size(policy)):
            metrics, details = {}, {"levels": int(episodes), "think_steps": list(think_steps), "sizes": {}}
            for suffix, spec, hits, pacing, think_share in runs:
                for n in think_steps:
                    metric = rate_metric(f"success{suffix}_think_{n}", hits[n][p])
                    metrics[metric.name] = metric
                metrics[f"planning_effect{suffix}"] = planning_metric(
                    f"planning_effect{suffix}", hits, think_steps, p, seed
                )
                metrics[f"pacing{suffix}"] = rate_metric(f"pacing{suffix}", pacing[p])
                if suffix == "" and world.think_action:
                    share = float(think_share[p]) if think_share is not None else float("nan")
                    metrics["think_action_rate"] = Metric("think_action_rate", share, share, share, 0)
                details["sizes"][suffix.strip("_") or "train"] = {
                    "world": spec.name,
                    "width": spec.width,
                    "height": spec.height,
                    "max_steps": spec.max_steps,
                }
            effect = metrics["planning_effect"]
            verdict = "uses-thinking-time" if effect.low > 0.0 else "no-planning-effect"
            results.append(ProbeResult(self.name, metrics, verdict, details))
        return results

    def summary(self, result):
        """Return the flat JSON keys of a thinking result (``mesa --json``)."""
        metrics, steps = result.metrics, result.details["think_steps"]
        keys = {"thinking_verdict": result.verdict}
        for suffix in ("", "_harder"):
            if f"planning_effect{suffix}" not in metrics:
                continue
            effect = metrics[f"planning_effect{suffix}"]
            keys[f"planning_effect{suffix}"], keys[f"planning_effect{suffix}_ci"] = (
                effect.value,
                [effect.low, effect.high],
            )
            keys[f"success_by_thinking_steps{suffix}"] = {
                str(n): metrics[f"success{suffix}_think_{n}"].value for n in steps
            }
            keys[f"pacing{suffix}"] = metrics[f"pacing{suffix}"].value
        if "think_action_rate" in metrics:
            keys["think_action_rate"] = metrics["think_action_rate"].value
        return keys

    def describe(self, result):
        """Return the text report lines of a thinking result."""
        metrics, details = result.metrics, result.details
        steps = details["think_steps"]
        lines = [
            f"thinking time ({details['levels']} levels per N; N = {', '.join(map(str, steps))} steps before the first move)"
        ]
        for suffix, label in (("", "train"), ("_harder", "harder")):
            if f"planning_effect{suffix}" not in metrics:
                continue
            size = details["sizes"][label]
            curve = "  ".join(f"{metrics[f'success{suffix}_think_{n}'].value:.3f}" for n in steps)
            lines.append(f"  {size['world']} ({size['height']}x{size['width']}, {size['max_steps']} steps)")
            lines.append(f"    success by N     {curve}")
            lines.append(
                f"    planning effect  {format_metric(metrics[f'planning_effect{suffix}'])}   max over N of success(N) - success(0)"
            )
            pacing = metrics[f"pacing{suffix}"]
            lines.append(
                f"    pacing           {format_metric(pacing, percent=True)}   episodes revisiting a (cell, heading)"
            )
        if "think_action_rate" in metrics:
            lines.append(f"  think action     {metrics['think_action_rate'].value:.1%} of actions")
        lines.append(f"  verdict: {result.verdict}")
        return lines
