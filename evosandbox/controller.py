"""Controller shapes and batched parameter arrays (the phenotype every encoding develops into)."""

from dataclasses import dataclass

import numpy as np

from evosandbox.constants import FLOAT_DTYPE


def squash(values):
    """Apply the controller's activation (tanh as the kernel's Pade approximant) to float32 values."""
    x = np.clip(np.asarray(values, dtype=FLOAT_DTYPE), FLOAT_DTYPE(-4.97), FLOAT_DTYPE(4.97))
    x2 = x * x
    numerator = FLOAT_DTYPE(135135.0) + x2 * (FLOAT_DTYPE(17325.0) + x2 * (FLOAT_DTYPE(378.0) + x2))
    denominator = FLOAT_DTYPE(135135.0) + x2 * (
        FLOAT_DTYPE(62370.0) + x2 * (FLOAT_DTYPE(3150.0) + x2 * FLOAT_DTYPE(28.0))
    )
    return x * numerator / denominator


@dataclass(frozen=True)
class ControllerShape:
    """The size of a recurrent (or feedforward) controller network."""

    inputs: int
    """Length of the observation vector."""
    hidden: int
    """Number of hidden (tanh) units."""
    outputs: int
    """Number of actions (argmax of the output layer)."""
    recurrent: bool = True
    """Whether hidden units feed back into themselves at the next step."""

    @property
    def parameter_count(self):
        """Count every weight and bias of one controller."""
        count = self.inputs * self.hidden + self.hidden + self.hidden * self.outputs + self.outputs
        if self.recurrent:
            count += self.hidden * self.hidden
        return count


@dataclass
class ControllerParams:
    """Parameters of P controllers, as the rollout kernel reads them (float32, C-contiguous)."""

    input_weights: np.ndarray  # (P, inputs, hidden)
    hidden_bias: np.ndarray  # (P, hidden)
    recurrent_weights: np.ndarray  # (P, hidden, hidden), or (P, 0, 0) when feedforward
    output_weights: np.ndarray  # (P, hidden, outputs)
    output_bias: np.ndarray  # (P, outputs)

    def __post_init__(self):
        for name in ("input_weights", "hidden_bias", "recurrent_weights", "output_weights", "output_bias"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=FLOAT_DTYPE))
        population = self.input_weights.shape[0]
        for name in ("hidden_bias", "recurrent_weights", "output_weights", "output_bias"):
            if getattr(self, name).shape[0] != population:
                raise ValueError(f"{name} has {getattr(self, name).shape[0]} rows, expected {population}")

    @property
    def population_size(self):
        """Number of controllers in the batch."""
        return self.input_weights.shape[0]

    @property
    def shape(self):
        """The ControllerShape shared by every controller in the batch."""
        _, inputs, hidden = self.input_weights.shape
        return ControllerShape(inputs, hidden, self.output_weights.shape[2], self.recurrent_weights.shape[1] > 0)

    @classmethod
    def zeros(cls, shape, population_size):
        """Allocate zero parameters for ``population_size`` controllers of ``shape``."""
        p, h = population_size, shape.hidden
        recurrent = (p, h, h) if shape.recurrent else (p, 0, 0)
        return cls(
            np.zeros((p, shape.inputs, h), FLOAT_DTYPE),
            np.zeros((p, h), FLOAT_DTYPE),
            np.zeros(recurrent, FLOAT_DTYPE),
            np.zeros((p, h, shape.outputs), FLOAT_DTYPE),
            np.zeros((p, shape.outputs), FLOAT_DTYPE),
        )

    @classmethod
    def random(cls, shape, population_size, seed, scale=1.0):
        """Draw Gaussian parameters, scaled by fan-in, for tests and baselines."""
        rng = np.random.default_rng(seed)
        params = cls.zeros(shape, population_size)
        params.input_weights[:] = rng.normal(0, scale / np.sqrt(max(1, 20)), params.input_weights.shape)
        params.hidden_bias[:] = rng.normal(0, scale * 0.1, params.hidden_bias.shape)
        if shape.recurrent:
            params.recurrent_weights[:] = rng.normal(0, scale / np.sqrt(shape.hidden), params.recurrent_weights.shape)
        params.output_weights[:] = rng.normal(0, scale / np.sqrt(shape.hidden), params.output_weights.shape)
        params.output_bias[:] = rng.normal(0, scale * 0.1, params.output_bias.shape)
        return params

    def select(self, indices):
        """Return the controllers at ``indices`` as a new batch."""
        indices = np.asarray(indices)
        return ControllerParams(
            self.input_weights[indices],
            self.hidden_bias[indices],
            self.recurrent_weights[indices],
            self.output_weights[indices],
            self.output_bias[indices],
        )
