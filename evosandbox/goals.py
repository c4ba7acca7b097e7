"""Goal inference under its first name: ``evosandbox.goals`` is ``evosandbox.probes.goals``."""

import sys

from evosandbox.probes import goals as _goals

sys.modules[__name__] = _goals
