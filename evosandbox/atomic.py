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


_TEMPORARY_SUFFIX = ".evosandbox.tmp"


def temporary_path(path):
    """Return the name ``atomic_output`` writes ``path`` through: ``.NAME.evosandbox.tmp`` beside it."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f".{name}{_TEMPORARY_SUFFIX}")


def target_of(path):
    """Return the file a temporary name stands for (error lines name the user's file), else ``path``."""
    folder, name = os.path.split(path)
    if name.startswith(".") and name.endswith(_TEMPORARY_SUFFIX):
        return os.path.join(folder, name[1 : -len(_TEMPORARY_SUFFIX)])
    return path


@contextlib.contextmanager
def atomic_output(path):
    """Yield ``temporary_path(path)``; on success make it durable and rename it over ``path``.

    Whatever the writer is (h5py, pickle, matplotlib, Pillow, open()), a reader sees either
    the old file or the complete new one, and an error leaves the old file untouched. The
    temporary name is fixed, so a write cut off by a crash (a killed run's checkpoint) is
    replaced by the next write instead of leaving litter; it is hidden and marked as ours, so
    it is never a user's own file (``NAME.tmp``); the writer creates the file, so it gets
    ordinary permissions.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = temporary_path(path)
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
        raise UsageError(
            f"{path}: unknown extension {extension or '(none)'!r}, expected {' or '.join(extensions)}", field=field
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{path}: folder {folder} does not exist", field=field)
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory", field=field)
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"{path} already exists; pass {force_hint} to replace it", field=field)


def check_distinct_paths(outputs, inputs=()):
    """Raise UsageError when two outputs, or an output and an input, are the same file.

    Args:
        outputs: (flag, path) pairs a command would write; a None path is skipped.
        inputs: (what, path) pairs it reads, e.g. ``("the run file", ".../run.h5")``.
    """
    seen = {}
    for what, path in inputs:
        if path:
            seen.setdefault(_file_identity(path), f"is {what}, which this command reads")
    for flag, path in outputs:
        if not path:
            continue
        key = _file_identity(path)
        if key in seen:
            raise UsageError(f"{path} {seen[key]}; name another file", field=flag)
        seen[key] = f"is also where {flag} goes; give each output its own file"


def _file_identity(path):
    """Return what makes two paths the same file: device and inode when it exists, else the resolved path."""
    path = os.fspath(path)
    try:
        status = os.stat(path)
    except OSError:
        return ("path", os.path.normcase(os.path.realpath(path)))
    return ("inode", status.st_dev, status.st_ino)
