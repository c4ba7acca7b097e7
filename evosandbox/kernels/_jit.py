"""The one jit wrapper every kernel uses: numba with an on-disk cache, or plain Python.

Set ``EVOSANDBOX_NO_JIT=1`` (or run under coverage) to get the plain-Python functions,
which are also the references the tests compare the compiled kernels against.
"""

import os
import sys

import numba

_DISABLED = os.environ.get("EVOSANDBOX_NO_JIT", "") not in ("", "0") or "coverage" in sys.modules


def jit(function=None, *, parallel=False, **options):
    """Compile ``function`` with numba (nopython, cache=True), or return it unchanged when disabled."""

    def wrap(func):
        if _DISABLED:
            func.py_func = func
            return func
        return numba.njit(cache=True, parallel=parallel, nogil=True, **options)(func)

    return wrap(function) if function is not None else wrap


prange = numba.prange
