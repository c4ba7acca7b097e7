"""Probes: protocols that measure what an agent pursues and whether it is an optimizer.

Every probe follows the interface of ``evosandbox.probes.base``: a batch of controllers (or a
scripted policy) and a world in, named metrics with 95% intervals out. A new probe is one
module here, one ``@register`` line and a test.
"""

from evosandbox.probes.base import Metric, Probe, ProbeResult, get_probe, probe_names, register

__all__ = ["Metric", "Probe", "ProbeResult", "get_probe", "probe_names", "register"]
