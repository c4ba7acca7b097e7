"""Errors that the CLI turns into one clear line: bad input (exit 2) and faults of the machine (exit 1)."""

import os
import re


class InputError(Exception):
    """Bad input a user can fix: a file, a field in it, and what is wrong."""

    def __init__(self, path, field, message):
        self.path = str(path) if path is not None else None
        self.field = field
        self.message = message
        super().__init__(self.line())

    def line(self):
        """Return the one-line description: ``FILE: field: message``."""
        parts = [p for p in (self.path, self.field) if p]
        return ": ".join(parts + [self.message])


class ConfigError(InputError):
    """A TOML spec (world, genome preset, experiment config) is malformed or impossible."""


class FileFormatError(InputError):
    """An HDF5 file is missing, corrupt, foreign, or of an unsupported schema version."""


class UsageError(InputError):
    """A command-line flag or argument combination is wrong."""

    def __init__(self, message, field=None):
        super().__init__(None, field, message)


# HDF5 reports a failed system call inside its message: "filename = '...', ... errno = 28, ...".
_HDF5_FILENAME = re.compile(r"filename = '([^']*)'")
_HDF5_ERRNO = re.compile(r"errno = (\d+)")


def environment_fault(error):
    """Return one line naming the path and the cause when ``error`` is the machine's fault, else None.

    Faults of the environment, not of the input: a folder that cannot be written, a full disk,
    an output path that is a folder, no memory left. h5py raises them as OSError or
    RuntimeError with the system error number inside HDF5's message.
    """
    if isinstance(error, MemoryError):
        detail = str(error) or "an allocation failed"
        return f"out of memory ({detail}); use a smaller population, fewer levels or fewer episodes"
    if not isinstance(error, (OSError, RuntimeError)):
        return None
    text = str(error)
    number = error.errno if isinstance(error, OSError) and error.errno else None
    if number is None:
        found = _HDF5_ERRNO.search(text)
        number = int(found.group(1)) if found else None
    if not number:
        return None
    path = error.filename if isinstance(error, OSError) and error.filename is not None else None
    if path is None:
        found = _HDF5_FILENAME.search(text)
        path = found.group(1) if found else "?"
    from evosandbox.atomic import target_of

    return f"{target_of(os.fspath(path))}: {os.strerror(number)}"


def damaged_file(error):
    """Return one line naming the file and object when h5py raised ``error`` reading a damaged file, else None.

    HDF5 checks its metadata and (in run files) every dataset's checksum; a failed check
    surfaces from h5py as an OSError without an errno, a RuntimeError, a KeyError or a
    ValueError raised inside h5py itself. The file and the object are those of the innermost
    h5py object on the way down. Readers that know the field raise FileFormatError themselves;
    this catches every other read, so a damaged file never ends in a traceback.
    """
    import traceback

    if not isinstance(error, (OSError, RuntimeError, KeyError, ValueError)):
        return None
    if isinstance(error, OSError) and error.errno:
        return None  # a fault of the machine (environment_fault)
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    if not frames or not _in_h5py(frames[-1].f_code.co_filename):
        return None
    detail = (str(error).strip("'\"").splitlines() or [type(error).__name__])[0][:160]
    for frame in reversed(frames):
        located = _h5py_location(frame.f_locals.get("self"))
        if located is not None:
            path, name = located
            return f"{path}: {name}: unreadable, the file is damaged ({detail})"
    # The reader closed the file on the way up (a with block): name it by the path our code held.
    for frame in reversed(frames):
        if f"{os.sep}evosandbox{os.sep}" not in frame.f_code.co_filename:
            continue
        for candidate in (getattr(frame.f_locals.get("self"), "path", None), frame.f_locals.get("path")):
            if isinstance(candidate, (str, os.PathLike)):
                return f"{os.fspath(candidate)}: unreadable, the file is damaged ({detail})"
    return None


def _in_h5py(filename):
    """Return whether a traceback frame's file belongs to h5py (its Python or its Cython modules)."""
    return filename.startswith("h5py/") or f"{os.sep}h5py{os.sep}" in filename


def _h5py_location(target):
    """Return (file name, object name) of an h5py object, group, dataset or attribute set, or None."""
    import h5py

    identifier = getattr(target, "_id", None) if isinstance(target, h5py.AttributeManager) else None
    if identifier is None and isinstance(target, h5py.HLObject):
        identifier = target.id
    if identifier is None:
        return None
    try:
        path = h5py.h5f.get_name(identifier).decode("utf-8", "replace")
        name = (h5py.h5i.get_name(identifier) or b"/").decode("utf-8", "replace").lstrip("/") or "/"
    except Exception:  # the object itself is the damaged part
        return None
    return path, (f"{name} (attributes)" if isinstance(target, h5py.AttributeManager) else name)
