"""What the mesa-optimizer probes share: their level seeds, success of an episode, intervals."""

import numpy as np

from evosandbox.constants import TILE_DOOR
from evosandbox.controller import ControllerParams
from evosandbox.probes.base import Metric
from evosandbox.seeding import PURPOSES, derive_seeds, seed_sequence
from evosandbox.stats import bootstrap_interval, wilson_interval
from evosandbox.worlds import paying_colors

PERMUTATION_VARIANT = 100
"""Seed variant of the learning probe's permutation of lifetimes (levels use variants 0-6)."""
BOOTSTRAP_RESAMPLES = 2000
"""Bootstrap resamples of every interval that is not a rate."""


def probe_seeds(seed, count, variant=0):
    """Return the uint64 level seeds a mesa probe plays (the same for the agent and every control).

    The ``mesa`` purpose of evosandbox.seeding, plus a variant per probe and level size.
    """
    return derive_seeds(PURPOSES["mesa"] + variant, seed, count)


def probe_generator(seed, variant):
    """Return a numpy Generator for a mesa probe's other draws (``variant`` apart from the levels')."""
    return np.random.default_rng(seed_sequence(PURPOSES["mesa"] + variant, seed))


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
    count = samples.shape[0]
    if count == 0:
        return Metric(name, float("nan"), float("nan"), float("nan"), 0)
    if statistic is None and samples.ndim == 1:
        value = float(np.mean(samples))
        if np.all(samples == samples[0]):
            return Metric(name, value, value, value, count)
        low, high = _bootstrap_mean_interval(samples, seed)
        return Metric(name, value, low, high, count)
    statistic = statistic or (lambda values: float(np.mean(values, axis=0)))
    value = float(statistic(samples))
    if np.all(samples == samples[:1]):
        return Metric(name, value, value, value, count)
    low, high = bootstrap_interval(samples, statistic, resamples=BOOTSTRAP_RESAMPLES, seed=seed)
    return Metric(name, value, low, high, count)


def _bootstrap_mean_interval(samples, seed):
    """Return ``stats.bootstrap_interval(samples, np.mean, ...)`` with the resampled means taken in one call.

    The same generator draws the same resample indices; only the loop over resamples is gone
    (the learning probe takes eight such intervals per individual).
    """
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, samples.shape[0], size=(BOOTSTRAP_RESAMPLES, samples.shape[0]))
    means = samples[indices].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def above_zero(metric):
    """Return whether a metric's 95% interval lies above zero."""
    return bool(metric.low > 0.0)


def format_metric(metric, percent=False):
    """Format a metric as ``value [low, high]``."""
    if percent:
        return f"{metric.value:6.1%} [{metric.low:.1%}, {metric.high:.1%}]"
    return f"{metric.value:+.3f} [{metric.low:+.3f}, {metric.high:+.3f}]"
