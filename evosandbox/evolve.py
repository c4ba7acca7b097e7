"""The public evolution API under its first name: ``from evosandbox import evolve`` keeps working.

Everything lives in ``evosandbox.evolution`` (see its docstring for the module map). The names
below also let checkpoints written before that package unpickle: they pickled these classes
as ``evosandbox.evolve.NAME``.
"""

from evosandbox.evolution import *  # noqa: F401,F403
from evosandbox.evolution.algorithms.base import _rebuild_genome  # noqa: F401 (old pickles)
from evosandbox.evolution.checkpoint import LegacyAlgorithmConfig as AlgorithmConfig  # noqa: F401 (old pickles)
from evosandbox.evolution.checkpoint import RunState as _RunState  # noqa: F401 (old pickles)
