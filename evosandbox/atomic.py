"""Atomic file output: write beside the target, fsync, rename into place; never a half file."""

import contextlib
import os

from evosandbox.errors import UsageError


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


def check_output_path(path, overwrite, extensions=None, field="path", force_hint="overwrite=True"):
    """Raise UsageError unless ``path`` can be written: allowed extension, existing folder, and no file yet unless overwrite.

    Args:
        path: the file a command or library call would write.
        overwrite: whether an existing file may be replaced.
        extensions: allowed extensions (lower case, with the dot), or None for any.
        field: what the error line names (the CLI passes its flag, e.g. ``--export``).
        force_hint: how the user allows replacing (the CLI passes ``--force``).
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extensions is not None and extension not in extensions:
        raise UsageError(f"{path}: unknown extension {extension or '(none)'!r}, expected {' or '.join(extensions)}", field=field)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{path}: folder {folder} does not exist", field=field)
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory", field=field)
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"{path} already exists; pass {force_hint} to replace it", field=field)
