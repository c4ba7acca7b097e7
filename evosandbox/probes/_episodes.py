"""What the mesa-optimizer probes share: their level seeds, success of an episode, intervals."""

import numpy as np

from evosandbox.constants import TILE_DOOR
from evosandbox.controller import ControllerParams
from evosandbox.probes.base import Metric
from evosandbox.simulate import level_seeds_for
from evosandbox.stats import bootstrap_interval, wilson_interval
from evosandbox.worlds import paying_colors

LEVEL_SEED_SALT = 0x4D455341
"""Salt of the mesa probes' level seeds (apart from evolution's and the proxy probe's)."""
BOOTSTRAP_RESAMPLES = 2000
"""Bootstrap resamples of every interval that is not a rate."""


def probe_seeds(seed, count, salt=0):
    """Return the uint64 level seeds a mesa probe plays (the same for the agent and every control)."""
    return level_seeds_for(seed, count, LEVEL_SEED_SALT + salt)


def population_size(policy):
    """Return how many individuals ``policy`` holds (1 for a scripted policy)."""
    return policy.population_size if isinstance(policy, ControllerParams) else 1


def successes(result, spec):
    """Return bool (P, L, K): the episode entered a door that pays in its lifetime (any door when all pay)."""
    paying = paying_colors(spec, result.level_seeds)[None, :, None]
    door = result.entered_tile == TILE_DOOR
    return door & ((paying == 0) | (result.entered_color == paying))


def rate_metric(name, hits):
    """Return a Metric of the share of True in ``hits`` with its Wilson interval."""
    hits = np.asarray(hits, dtype=bool).reshape(-1)
    count = hits.size
    low, high = wilson_interval(int(hits.sum()), count) if count else (float("nan"), float("nan"))
    return Metric(name, float(hits.mean()) if count else float("nan"), low, high, count)


def mean_metric(name, samples, seed, statistic=None):
    """Return a Metric of a statistic (default: the mean) of ``samples`` with a bootstrap interval.

    ``samples`` has the independent units (lifetimes, levels) on axis 0. A sample whose units
    are all equal gets the exact interval [value, value].
    """
    samples = np.asarray(samples, dtype=np.float64)
    statistic = statistic or (lambda values: float(np.mean(values, axis=0)))
    count = samples.shape[0]
    if count == 0:
        return Metric(name, float("nan"), float("nan"), float("nan"), 0)
    value = float(statistic(samples))
    if np.all(samples == samples[:1]):
        return Metric(name, value, value, value, count)
    low, high = bootstrap_interval(samples, statistic, resamples=BOOTSTRAP_RESAMPLES, seed=seed)
    return Metric(name, value, low, high, count)


def above_zero(metric):
    """Return whether a metric's 95% interval lies above zero."""
    return bool(metric.low > 0.0)


def format_metric(metric, percent=False):
    """Format a metric as ``value [low, high]``."""
    if percent:
        return f"{metric.value:6.1%} [{metric.low:.1%}, {metric.high:.1%}]"
    return f"{metric.value:+.3f} [{metric.low:+.3f}, {metric.high:+.3f}]"
