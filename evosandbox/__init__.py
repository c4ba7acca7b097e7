"""evosandbox: evolve gridworld agents and measure whether they pursue the goal or a proxy."""

__version__ = "0.1.0"
