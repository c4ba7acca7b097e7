"""The one jit wrapper every kernel uses: numba with an on-disk cache, or plain Python.

Set ``EVOSANDBOX_NO_JIT=1`` (or run under coverage) to get the plain-Python functions,
which are also the references the tests compare the compiled kernels against.
"""

import functools
import hashlib
import os
import re
import sys

import numba

_DISABLED = os.environ.get("EVOSANDBOX_NO_JIT", "") not in ("", "0") or "coverage" in sys.modules
_HERE = os.path.dirname(os.path.abspath(__file__))
_IMPORT = re.compile(r"from evosandbox\.kernels\.(\w+) import")
_CACHE_ROOT = os.path.join(os.path.expanduser(os.environ.get("XDG_CACHE_HOME", "~/.cache")), "evosandbox", "numba")


@functools.lru_cache(maxsize=None)
def _dependency_digest(module):
    """Hash a kernel module's source with every kernel module it imports, transitively."""
    seen, stack, digest = set(), [module], hashlib.sha256()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        path = os.path.join(_HERE, f"{name}.py")
        if not os.path.exists(path):
            continue
        with open(path, "rb") as handle:
            source = handle.read()
        digest.update(name.encode() + source)
        stack.extend(_IMPORT.findall(source.decode("utf-8")))
    with open(os.path.join(os.path.dirname(_HERE), "constants.py"), "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def jit(function=None, *, parallel=False, **options):
    """Compile ``function`` with numba (nopython, cache=True), or return it unchanged when disabled."""

    def wrap(func):
        if _DISABLED:
            func.py_func = func
            return func
        # Numba invalidates a cached kernel only when its own file changes, not when a kernel
        # it inlines from another file does; keying the cache folder on the module and all
        # kernel modules it imports makes a stale compiled kernel impossible. The folder is
        # read when the dispatcher is created, so it is set per kernel here. An explicit
        # NUMBA_CACHE_DIR from the user wins.
        if not os.environ.get("NUMBA_CACHE_DIR"):
            module = func.__module__.rsplit(".", 1)[-1]
            numba.config.CACHE_DIR = os.path.join(_CACHE_ROOT, _dependency_digest(module))
        return numba.njit(cache=True, parallel=parallel, nogil=True, **options)(func)

    return wrap(function) if function is not None else wrap


prange = numba.prange
