"""The probe interface: registry, metrics with intervals, and the shared interval estimators."""

import math

import numpy as np
import pytest

from evosandbox.probes.base import Metric, Probe, ProbeResult, register
from evosandbox.stats import bootstrap_interval


def test_metric_to_dict_maps_non_finite_to_none():
    """A NaN metric (nothing measured) serialises as None, never as an invalid JSON NaN."""
    assert Metric("gain", float("nan"), float("nan"), 1.0, 3).to_dict() == {
        "value": None,
        "low": None,
        "high": 1.0,
        "count": 3,
    }


def test_register_refuses_duplicate_names():
    """Two probes cannot share a registry name."""

    class First(Probe):
        name = "interface-test-duplicate"

    register(First)

    class Second(Probe):
        name = "interface-test-duplicate"

    with pytest.raises(ValueError):
        register(Second)


def test_probe_result_value_and_dict():
    """A result exposes its metrics by name and as JSON-ready dicts."""
    result = ProbeResult("x", {"rate": Metric("rate", 0.5, 0.4, 0.6, 100)}, verdict="yes")
    assert result.value("rate") == 0.5
    assert result.to_dict()["metrics"]["rate"]["count"] == 100


def test_bootstrap_interval_is_seeded_and_covers_the_mean():
    """Same seed, same interval; the interval of a sample's mean contains the sample mean."""
    samples = np.random.default_rng(3).normal(size=200)
    first, second = bootstrap_interval(samples, seed=7), bootstrap_interval(samples, seed=7)
    assert first == second
    assert first[0] < samples.mean() < first[1]
    assert all(math.isnan(value) for value in bootstrap_interval(np.array([])))
