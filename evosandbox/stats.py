"""Interval estimates shared by every probe and report: Wilson for rates, bootstrap otherwise."""

import numpy as np

Z_95 = 1.959963984540054
"""Standard normal quantile of a two-sided 95% interval."""


def wilson_interval(successes, trials, z=Z_95):
    """Return the Wilson score interval (low, high) of a binomial proportion.

    Args:
        successes: number of successes (a scalar or an array).
        trials: number of trials (> 0).
        z: normal quantile of the interval (1.96 for 95%).

    Returns:
        (low, high) as floats, or arrays when ``successes`` is an array.
    """
    successes = np.asarray(successes, dtype=np.float64)
    trials = float(trials)
    if trials <= 0:
        raise ValueError("trials must be positive")
    rate = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (rate + z * z / (2.0 * trials)) / denominator
    half = z * np.sqrt(rate * (1.0 - rate) / trials + z * z / (4.0 * trials * trials)) / denominator
    # Exact at the ends: no successes has lower bound 0, all successes upper bound 1.
    low = np.where(successes <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(successes >= trials, 1.0, np.clip(centre + half, 0.0, 1.0))
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def bootstrap_interval(samples, statistic=np.mean, resamples=2000, seed=0, level=0.95):
    """Return the percentile bootstrap interval (low, high) of ``statistic`` over ``samples``.

    Args:
        samples: array whose first axis indexes the independent units (lifetimes, seeds, ...).
        statistic: function of a resampled array (along axis 0) to a float.
        resamples: bootstrap resamples.
        seed: seeds the resampling (same seed, same interval).
        level: coverage of the interval.

    Returns:
        (low, high) as floats; (nan, nan) for an empty sample.
    """
    samples = np.asarray(samples)
    count = samples.shape[0] if samples.ndim else 0
    if count == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, count, size=(resamples, count))
    values = np.array([statistic(samples[row]) for row in indices], dtype=np.float64)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def first_reaching(rates, threshold, stored_dtype=np.float32):
    """Return the index of the first rate at or above ``threshold``, or None if none reaches it.

    Rates come from run files, stored as ``stored_dtype`` (float32): 180 of 200 levels is stored
    as 0.89999998, below the float64 0.9. Both sides are compared in the stored dtype, so a rate
    of exactly k / n counts as reaching k / n. Every "first generation at X%" figure uses this.
    """
    stored = np.asarray(rates, dtype=np.float64).astype(stored_dtype)
    reached = np.flatnonzero(stored >= stored_dtype(threshold))
    return int(reached[0]) if len(reached) else None
