"""Numba kernels: the only place with @jit. Kernels take raw arrays and scalars, never configs."""
