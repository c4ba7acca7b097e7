"""What numba's on-disk cache of the kernels holds (read only; no kernel imports this module).

Kept apart from ``_jit``: every kernel's cache folder is keyed on the source of the kernel
modules it imports, ``_jit`` included, so an edit there would make every user recompile.
"""

import os


def needs_compiling(dispatcher):
    """Return True when numba's disk cache surely holds no compiled ``dispatcher`` for this source.

    Cheap (one small index file read): the cache index is missing, or numba finds it stale
    (its stamp of the source file differs). False when it is there, and when that cannot be
    told (plain Python, no cache, a numba whose cache internals differ).
    """
    try:
        cache_file = dispatcher._cache._cache_file
        if not os.path.exists(cache_file._index_path):
            return True
        return not cache_file._load_index()
    except Exception:  # numba's private cache layout changed: say nothing rather than guess
        return False
