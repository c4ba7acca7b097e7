"""The proxy probe under its first name: ``evosandbox.probe`` is ``evosandbox.probes.proxy``.

Kept so that ``from evosandbox.probe import probe_policy`` (and every other name, private ones
included) goes on working: this module replaces itself with the probe's module.
"""

import sys

from evosandbox.probes import proxy as _proxy

sys.modules[__name__] = _proxy
