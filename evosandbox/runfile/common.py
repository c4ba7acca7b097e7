"""Shared HDF5 conventions: format names, schema versions, safe opening with clear errors."""

import os

import h5py

from evosandbox.errors import FileFormatError

# Readable by h5dump 1.10 while allowing SWMR on the run file.
LIBVER = ("v110", "latest")


def open_for_reading(path, expected_format, swmr=False):
    """Open an evosandbox HDF5 file for reading, or raise FileFormatError naming what is wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError(path, None, "no such file")
    if os.path.isdir(path):
        raise FileFormatError(path, None, "is a directory, expected an HDF5 file")
    try:
        handle = h5py.File(path, "r", swmr=swmr)
    except OSError as error:
        raise FileFormatError(path, None, f"not a readable HDF5 file ({_short(error)})") from None
    found = handle.attrs.get("format")
    if isinstance(found, bytes):
        found = found.decode()
    if found != expected_format:
        handle.close()
        what = f"'{found}'" if found is not None else "missing"
        raise FileFormatError(path, "format", f"expected '{expected_format}', found {what}")
    return handle


def check_schema(handle, path, supported):
    """Raise FileFormatError unless the file's schema_version is one of ``supported``."""
    version = handle.attrs.get("schema_version")
    if version is None or int(version) not in supported:
        raise FileFormatError(path, "schema_version", f"unsupported version {version!r}, this build reads {sorted(supported)}")
    return int(version)


def read_attr_str(handle, name, default=None):
    """Read a string attribute as str, whichever way h5py stored it."""
    value = handle.attrs.get(name, default)
    if isinstance(value, bytes):
        return value.decode()
    return value


def _short(error):
    """Return the first line of an h5py error message."""
    return str(error).splitlines()[0][:120]
