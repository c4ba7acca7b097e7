"""Counter-based random numbers for kernels: splitmix64 over explicit uint64 state.

Every draw derives from seeds passed in as arguments, so results never depend on which
thread runs which item (numba's np.random state is per thread and would).
"""

import numpy as np

from evosandbox.kernels._jit import jit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


@jit
def mix64(value):
    """Scramble a uint64 (the splitmix64 finaliser)."""
    z = np.uint64(value)
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


@jit
def derive_seed(seed, salt):
    """Derive an independent uint64 seed from a seed and an integer salt."""
    return mix64(np.uint64(seed) + _GOLDEN * (np.uint64(salt) + np.uint64(1)))


@jit
def new_state(seed):
    """Create a one-element generator state from a seed."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = mix64(np.uint64(seed))
    return state


@jit
def next_u64(state):
    """Advance the state and return 64 random bits."""
    state[0] = state[0] + _GOLDEN
    return mix64(state[0])


@jit
def next_below(state, bound):
    """Return a random integer in [0, bound)."""
    return np.int64(next_u64(state) % np.uint64(bound))


@jit
def next_unit(state):
    """Return a random float64 in [0, 1)."""
    return np.float64(next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
