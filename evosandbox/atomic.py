"""Atomic file output: write beside the target, fsync, rename into place; never a half file."""

import contextlib
import os
import tempfile


def _umask():
    """Return the process umask without changing it for longer than a call."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; on success make it durable and rename it into place.

    Whatever the writer is (h5py, matplotlib, Pillow, open()), a reader sees either the old
    file or the complete new one, and an error or a crash leaves the old file untouched. The
    new file gets the permissions a plain ``open`` would give it.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(descriptor)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
