"""Allow ``python -m evosandbox``."""

from evosandbox.cli import entry_point

entry_point()
