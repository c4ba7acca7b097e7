"""The probe interface: controllers (or a scripted policy) and a world in, named metrics out.

A probe is a measurement protocol written as code: fixed seeded levels, a manipulation (a
test world, an ablation, thinking steps), a metric and its control. Evolution's periodic test
scoring, ``lineage --reevaluate``, ``probe`` and sweeps all call probes through this interface,
so a metric a probe names is stored, plotted and tabulated without further plumbing.

Contract:
- ``Probe.metric_names(world, train_world)`` -> the names of the metrics ``measure`` returns for
  that world, fixed before anything runs (they become run-file columns).
- ``Probe.measure(policy, world, train_world, episodes, seed)`` -> one ``ProbeResult`` per
  individual of ``policy`` (a ``ControllerParams`` of P individuals, or a ``ScriptedPolicy``,
  P = 1). Every individual plays the same levels, derived from ``seed`` alone; the result does
  not depend on thread count or backend.
- ``Probe.measure_genomes(problem, genomes, ...)`` (added for evolution) measures genomes through
  an evaluator; by default it develops them and calls ``measure``.
- Each ``Metric`` carries its point value and a 95% interval (Wilson for rates, bootstrap
  otherwise; ``low == high == value`` only where the quantity is exact).
"""

import math
from dataclasses import dataclass, field

import numpy as np

_REGISTRY = {}


@dataclass(frozen=True)
class Metric:
    """One named measurement with its 95% interval."""

    name: str
    """Short snake_case name, unique within its probe (e.g. ``door_rate``)."""
    value: float
    """Point estimate."""
    low: float
    """Lower end of the 95% interval."""
    high: float
    """Upper end of the 95% interval."""
    count: int = 0
    """Sample size behind it (episodes, lifetimes, ...); 0 when not a sample statistic."""

    def to_dict(self) -> dict:
        """Return the metric as a JSON-ready dict (NaN becomes None)."""

        def clean(number):
            """Map NaN and infinities to None."""
            return None if number is None or not math.isfinite(number) else float(number)

        return {"value": clean(self.value), "low": clean(self.low), "high": clean(self.high), "count": int(self.count)}


@dataclass
class ProbeResult:
    """What one probe measured on one individual (or one scripted policy)."""

    probe: str
    """Registry name of the probe."""
    metrics: dict[str, Metric]
    """Metrics by name, in the order of ``Probe.metric_names``."""
    verdict: str = ""
    """The probe's one-word conclusion where it draws one (e.g. ``pseudo-aligned``)."""
    details: dict = field(default_factory=dict)
    """JSON-ready extras (per-episode curves, baselines, notes)."""

    def value(self, name: str) -> float:
        """Return the point value of one metric."""
        return self.metrics[name].value

    def to_dict(self) -> dict:
        """Return the result as a JSON-ready dict."""
        return {
            "probe": self.probe,
            "verdict": self.verdict,
            "metrics": {name: metric.to_dict() for name, metric in self.metrics.items()},
            "details": self.details,
        }


class Probe:
    """Base class of every probe; subclasses set ``name`` and implement the two methods."""

    name: str = ""
    """Registry name (``[test] probes = [...]`` and ``--probe`` use it)."""

    def metric_names(self, world, train_world) -> tuple[str, ...]:
        """Return the names of the metrics ``measure`` returns on this world."""
        raise NotImplementedError

    def measure(self, policy, world, train_world, episodes: int, seed: int) -> list[ProbeResult]:
        """Measure every individual of ``policy`` on ``world``; one result per individual."""
        raise NotImplementedError

    def measure_genomes(
        self, problem, genomes, world, train_world, episodes: int, seed: int, level_seeds=None
    ) -> list[ProbeResult]:
        """Measure genomes through an evaluator (evolution's test scoring calls this).

        By default the genomes are developed by the evaluator's encoding and ``measure`` plays
        its own levels of ``seed``; a probe that can play given ``level_seeds`` (the run's test
        levels) through ``problem.score`` overrides this (the proxy probe does).
        """
        genomes = np.ascontiguousarray(genomes, dtype=np.float32)
        return self.measure(problem.encoding.develop(genomes), world, train_world, episodes, seed)


def register(cls: type) -> type:
    """Add a Probe subclass to the registry under its ``name`` (a class decorator)."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"probe name {cls.name!r} is empty or already registered")
    _REGISTRY[cls.name] = cls
    return cls


def get_probe(name: str) -> Probe:
    """Return a new instance of the probe registered as ``name`` (KeyError if unknown)."""
    _load_builtin_probes()
    return _REGISTRY[name]()


def probe_names() -> tuple[str, ...]:
    """Return the names of every registered probe."""
    _load_builtin_probes()
    return tuple(_REGISTRY)


def _load_builtin_probes() -> None:
    """Import the shipped probe modules so that their ``@register`` lines run."""
    import importlib
    import pkgutil

    import evosandbox.probes as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("base",) and not module.name.startswith("_"):
            importlib.import_module(f"evosandbox.probes.{module.name}")
