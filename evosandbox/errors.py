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
