"""Atomic file output: write beside the target, fsync, rename into place; never a half file."""

import contextlib
import os


def fsync_directory(directory):
    """Fsync a directory so a rename in it survives a power cut (where the platform allows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_output(path):
    """Yield ``path + ".tmp"``; on success make it durable and rename it over ``path``.

    Whatever the writer is (h5py, pickle, matplotlib, Pillow, open()), a reader sees either
    the old file or the complete new one, and an error leaves the old file untouched. The
    temporary name is fixed, so a write cut off by a crash (a killed run's checkpoint) is
    replaced by the next write instead of leaving litter; the writer creates the file, so it
    gets ordinary permissions.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = path + ".tmp"
    if os.path.exists(temporary):
        os.remove(temporary)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_directory(folder)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
