"""Outcome tables of the scripted baseline policies on worlds (the sandbox's sanity check)."""

from evosandbox.outcomes import OUTCOME_NAMES, classify_outcomes
from evosandbox.simulate import check_rollout_memory, level_seeds_for, parse_policy, rollout

DEFAULT_POLICIES = ("door-seeker", "color-seeker:red", "random")


def outcome_rates(result, proxy_colors):
    """Return {outcome: (P,) rate} over every episode of a Rollout, classified as the probe does."""
    labels = classify_outcomes(result.entered_tile, result.entered_color, proxy_colors)
    labels = labels.reshape(labels.shape[0], -1)
    return {name: (labels == index).mean(axis=1) for index, name in enumerate(OUTCOME_NAMES)}


def baseline_table(specs, policies=DEFAULT_POLICIES, episodes=200, seed=0, proxy_colors=("red",)):
    """Return rows (world, policy, door, proxy, other, timeout, mean steps) for every pair."""
    rows = []
    for spec in specs:
        check_rollout_memory(spec, parse_policy(policies[0]), episodes)
        seeds = level_seeds_for(seed, episodes)
        for name in policies:
            result = rollout(spec, parse_policy(name), seeds, seed)
            rates = outcome_rates(result, proxy_colors)
            rows.append(
                (
                    spec.name,
                    name,
                    float(rates["door"][0]),
                    float(rates["proxy"][0]),
                    float(rates["other"][0]),
                    float(rates["timeout"][0]),
                    float(result.steps.mean()),
                )
            )
    return rows


def format_table(rows):
    """Format baseline rows as an aligned text table."""
    header = ("world", "policy", "door", "red", "other", "timeout", "steps")
    width = max(len(r[0]) for r in rows) if rows else 5
    lines = [
        f"{header[0]:<{width}}  {header[1]:<17} {header[2]:>6} {header[3]:>6} {header[4]:>6} {header[5]:>8} {header[6]:>6}"
    ]
    for world, policy, door, proxy, other, timeout, steps in rows:
        lines.append(
            f"{world:<{width}}  {policy:<17} {door:6.1%} {proxy:6.1%} {other:6.1%} {timeout:8.1%} {steps:6.1f}"
        )
    return "\n".join(lines)
