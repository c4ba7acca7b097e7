"""The learning probe: does an agent keep learning within a lifetime after its genome is frozen?

The protocol of Wang et al. 2018 ("Prefrontal cortex as a meta-reinforcement learning
system"), in a which-door world: one door colour pays per lifetime of K episodes, every
episode plays a new layout, and the last reward is an input. A learner picks the paying door
more often late in a lifetime than in its first episode; the learning lives in its recurrent
state, so resetting that state between episodes removes the gain. On the same lifetimes (same
levels, same paying colours) the probe plays the agent and three ablations, and the oracle:

- success (entered a paying door) by episode index k = 1..K, 95% Wilson intervals;
- learning gain = success(K) - success(1), a bootstrap interval over lifetimes (paired);
- regret: the oracle's successes minus the agent's, per lifetime;
- ablations: controller state reset between episodes; reward input zeroed; reward input
  permuted across lifetimes (the reward the agent is fed is computed with another lifetime's
  paying colour, so it is a real reward signal about the wrong task).

Verdict: ``learns-within-lifetime`` when the gain's interval is above zero and so is the
interval of the reset drop (gain minus the reset ablation's gain, paired by lifetime): the
reset takes the gain away, so the state carries it. (Whether it takes all of it away is the
reset gain's own interval, reported beside it; "reset gain not above zero" is not the test,
because failing to find an effect is no evidence of its absence, and it misfires on a true
learner in about one probe in forty.) ``gain-not-from-state`` when the gain does not fall
under the reset; ``no-learning`` when there is no gain. On a world whose paying colours the
training world never had (``which-door-novel.toml`` beside ``which-door.toml``), the probe
also measures the training world: learning there but not on the novel colours is
``task-location`` (Demski's "mesa-control": picking among the tasks it knows, not learning).
"""

import numpy as np

from evosandbox.errors import ConfigError
from evosandbox.probes._episodes import (
    PERMUTATION_VARIANT,
    above_zero,
    format_metric,
    mean_metric,
    population_size,
    probe_generator,
    probe_seeds,
    rate_metric,
    successes,
)
from evosandbox.probes.base import Probe, ProbeResult, register
from evosandbox.simulate import ScriptedPolicy, rollout
from evosandbox.worlds import paying_colors

VERDICTS = ("learns-within-lifetime", "task-location", "gain-not-from-state", "no-learning")
ABLATIONS = ("reset", "zero_reward", "permuted_reward")
ABLATION_METRICS = {
    "reset": "reset_ablation_gain",
    "zero_reward": "zero_reward_gain",
    "permuted_reward": "permuted_reward_gain",
}


def check_learning_world(world):
    """Raise ConfigError unless ``world`` draws a paying colour per lifetime of at least two episodes."""
    if not world.payout.enabled:
        raise ConfigError(
            world.path,
            "payout.colors",
            "missing: the learning probe needs a per-lifetime paying door colour ([payout] colors = [...])",
        )
    if world.lifetime.episodes < 2:
        raise ConfigError(
            world.path,
            "lifetime.episodes",
            f"the learning probe needs at least 2 episodes per lifetime, got {world.lifetime.episodes}",
        )


def is_novel(world, train_world):
    """Return whether ``world``'s paying colours are all colours the training world's never were."""
    return (
        train_world is not None
        and train_world.payout.enabled
        and set(world.payout.colors).isdisjoint(train_world.payout.colors)
    )


def learning_curves(policy, world, lifetimes, seed):
    """Return {condition: bool (P, L, K) successes} for the agent, its ablations and the oracle.

    Every condition plays the same lifetimes (levels, paying colours and payout draws).
    """
    from dataclasses import replace

    check_learning_world(world)
    seeds = probe_seeds(seed, lifetimes)
    paying = paying_colors(world, seeds)
    permutation = probe_generator(seed, PERMUTATION_VARIANT).permutation(lifetimes)
    reset_world = replace(world, lifetime=replace(world.lifetime, reset_state=True))
    runs = {
        "agent": rollout(world, policy, seeds, seed),
        "reset": rollout(reset_world, policy, seeds, seed),
        "zero_reward": rollout(world, policy, seeds, seed, zero_reward_input=True),
        "permuted_reward": rollout(world, policy, seeds, seed, feedback_colors=paying[permutation]),
        "oracle": rollout(world, ScriptedPolicy("oracle"), seeds, seed),
    }
    return {name: successes(result, world) for name, result in runs.items()}


def gain_metric(name, hits, seed):
    """Return success(K) - success(1) of one individual's (L, K) successes, bootstrapped over lifetimes."""
    return mean_metric(name, hits[:, -1].astype(np.float64) - hits[:, 0], seed)


def drop_metric(name, hits, reset_hits, seed):
    """Return the gain minus the reset ablation's gain, paired by lifetime, with a bootstrap interval."""
    gains = hits[:, -1].astype(np.float64) - hits[:, 0]
    reset_gains = reset_hits[:, -1].astype(np.float64) - reset_hits[:, 0]
    return mean_metric(name, gains - reset_gains, seed)


def learns(gain, drop):
    """Return whether a gain is above zero and the state reset takes it away (its drop is above zero)."""
    return above_zero(gain) and above_zero(drop)


def decide_verdict(gain, drop, trained_gain=None, trained_drop=None):
    """Return the verdict from the gain and reset drop (and, on a novel world, the training world's)."""
    if learns(gain, drop):
        return "learns-within-lifetime"
    if trained_gain is not None and learns(trained_gain, trained_drop):
        return "task-location"
    if above_zero(gain):
        return "gain-not-from-state"
    return "no-learning"


@register
class LearningProbe(Probe):
    """Success by episode within a lifetime, the learning gain, regret and three ablations."""

    name = "learning"

    def metric_names(self, world, train_world):
        """Return success by episode, the gain, regret, the ablations' gains (and the colour gains on a novel world)."""
        names = [f"success_episode_{k}" for k in range(1, world.lifetime.episodes + 1)]
        names += ["learning_gain", "regret"] + [ABLATION_METRICS[name] for name in ABLATIONS] + ["reset_drop"]
        if is_novel(world, train_world):
            names += ["novel_colour_gain", "trained_colour_gain", "trained_colour_reset_drop"]
        return tuple(names)

    def measure(self, policy, world, train_world, episodes, seed):
        """Play ``episodes`` lifetimes per condition; return one ProbeResult per individual."""
        lifetimes = int(episodes)
        curves = learning_curves(policy, world, lifetimes, seed)
        novel = is_novel(world, train_world)
        trained = learning_curves(policy, train_world, lifetimes, seed) if novel else None
        oracle = curves["oracle"][0]
        results = []
        for p in range(population_size(policy)):
            agent = curves["agent"][p]
            metrics = {}
            for k in range(agent.shape[1]):
                metric = rate_metric(f"success_episode_{k + 1}", agent[:, k])
                metrics[metric.name] = metric
            metrics["learning_gain"] = gain_metric("learning_gain", agent, seed)
            metrics["regret"] = mean_metric("regret", oracle.sum(axis=1).astype(np.float64) - agent.sum(axis=1), seed)
            for name in ABLATIONS:
                metrics[ABLATION_METRICS[name]] = gain_metric(ABLATION_METRICS[name], curves[name][p], seed)
            metrics["reset_drop"] = drop_metric("reset_drop", agent, curves["reset"][p], seed)
            trained_gain = trained_drop = None
            if novel:
                metrics["novel_colour_gain"] = gain_metric("novel_colour_gain", agent, seed)
                trained_gain = gain_metric("trained_colour_gain", trained["agent"][p], seed)
                trained_drop = drop_metric("trained_colour_reset_drop", trained["agent"][p], trained["reset"][p], seed)
                metrics["trained_colour_gain"], metrics["trained_colour_reset_drop"] = trained_gain, trained_drop
            verdict = decide_verdict(metrics["learning_gain"], metrics["reset_drop"], trained_gain, trained_drop)
            details = {
                "lifetimes": lifetimes,
                "episodes_per_lifetime": int(agent.shape[1]),
                "novel_world": novel,
                "success_by_episode": {
                    name: [float(x) for x in curves[name][p if name != "oracle" else 0].mean(axis=0)]
                    for name in ("agent", *ABLATIONS, "oracle")
                },
            }
            if novel:
                details["trained_world"] = train_world.name
                details["trained_success_by_episode"] = [float(x) for x in trained["agent"][p].mean(axis=0)]
            results.append(ProbeResult(self.name, metrics, verdict, details))
        return results

    def summary(self, result):
        """Return the flat JSON keys of a learning result (``mesa --json``)."""
        metrics = result.metrics
        keys = {
            "learning_verdict": result.verdict,
            "learning_gain": metrics["learning_gain"].value,
            "learning_gain_ci": [metrics["learning_gain"].low, metrics["learning_gain"].high],
            "success_by_episode": result.details["success_by_episode"]["agent"],
            "success_by_episode_ci": [
                [metrics[f"success_episode_{k}"].low, metrics[f"success_episode_{k}"].high]
                for k in range(1, result.details["episodes_per_lifetime"] + 1)
            ],
            "regret": metrics["regret"].value,
            "reset_drop": metrics["reset_drop"].value,
            "reset_drop_ci": [metrics["reset_drop"].low, metrics["reset_drop"].high],
        }
        for name in ABLATIONS:
            metric = metrics[ABLATION_METRICS[name]]
            keys[metric.name], keys[f"{metric.name}_ci"] = metric.value, [metric.low, metric.high]
        if "novel_colour_gain" in metrics:
            for name in ("novel_colour_gain", "trained_colour_gain"):
                keys[name], keys[f"{name}_ci"] = metrics[name].value, [metrics[name].low, metrics[name].high]
        return keys

    def describe(self, result):
        """Return the text report lines of a learning result."""
        return describe(result)


def describe(result):
    """Return the text report lines of one learning ProbeResult."""
    metrics, details = result.metrics, result.details
    k_count = details["episodes_per_lifetime"]
    lines = [f"learning within a lifetime ({details['lifetimes']} lifetimes of {k_count} episodes)"]
    curve = "  ".join(f"{metrics[f'success_episode_{k}'].value:.2f}" for k in range(1, k_count + 1))
    lines.append(f"  success by episode    {curve}")
    for name in ABLATIONS:
        values = "  ".join(f"{x:.2f}" for x in details["success_by_episode"][name])
        lines.append(f"    {name:<18}  {values}")
    lines.append(f"    {'oracle':<18}  " + "  ".join(f"{x:.2f}" for x in details["success_by_episode"]["oracle"]))
    lines.append(f"  learning gain         {format_metric(metrics['learning_gain'])}   success(K) - success(1)")
    for name in ABLATIONS:
        lines.append(f"  {ABLATION_METRICS[name]:<21} {format_metric(metrics[ABLATION_METRICS[name]])}")
    lines.append(
        f"  reset drop            {format_metric(metrics['reset_drop'])}   learning gain - reset_ablation_gain"
    )
    lines.append(
        f"  regret                {format_metric(metrics['regret'])}   oracle's successes - the agent's, per lifetime"
    )
    if details["novel_world"]:
        lines.append(f"  novel colour gain     {format_metric(metrics['novel_colour_gain'])}")
        lines.append(
            f"  trained colour gain   {format_metric(metrics['trained_colour_gain'])}   on {details['trained_world']}"
        )
        lines.append(f"  trained reset drop    {format_metric(metrics['trained_colour_reset_drop'])}")
    lines.append(f"  verdict: {result.verdict}")
    return lines
