"""A test helper: the real evaluator of a config, recording what each score call played and returned."""

import numpy as np

from evosandbox.evolution.loop import build_evaluator


class RecordingEvaluator:
    """The real evaluator of a config, recording the level seeds and the returns of every call."""

    def __init__(self, config):
        """Build the config's evaluator."""
        self.inner = build_evaluator(config)
        self.training_seeds = []
        self.returns = []

    def __getattr__(self, name):
        """Delegate everything else to the real evaluator."""
        return getattr(self.inner, name)

    def score(self, genomes, world, level_seeds, seed, **extra):
        """Score for real; keep the levels and the returns."""
        self.training_seeds.append(np.array(level_seeds, dtype=np.uint64))
        scores = self.inner.score(genomes, world, level_seeds, seed, **extra)
        self.returns.append(np.array(scores.fitness, dtype=np.float64))
        return scores
