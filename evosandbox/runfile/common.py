"""Shared HDF5 conventions: format names, schema versions, safe opening with clear errors."""

import ctypes
import functools
import io
import os
import struct

import h5py

from evosandbox.errors import FileFormatError

# Readable by h5dump 1.10 while allowing SWMR on the run file.
LIBVER = ("v110", "latest")
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# An SWMR reader retries a metadata block whose checksum fails, sleeping 1 ns, 2 ns, 4 ns, ...
# between attempts, 100 attempts by default: one flipped bit in a file's metadata then stalls
# the reader for longer than anyone waits. A writer's metadata write is one short pwrite, so 24
# attempts (at most about 10 ms of sleep in all) still ride out a concurrent write and fail a
# damaged block at once.
SWMR_READ_ATTEMPTS = 24


def open_for_reading(path, expected_format, swmr=False, cut_short=False):
    """Open an evosandbox HDF5 file for reading, or raise FileFormatError naming what is wrong.

    ``expected_format`` is one format name or a tuple of the names accepted. A file whose
    writer died without closing it is flagged "open for write"; it is opened as an SWMR
    reader, which reads everything that writer committed. A file cut short is refused, unless
    ``cut_short``: then it is read as if whole, the missing bytes as zeros, and
    ``check_read_whole`` tells afterwards whether anything read came from them (a writer
    stopped by a full disk leaves a file whose committed part is whole).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError(path, None, "no such file")
    if os.path.isdir(path):
        raise FileFormatError(path, None, "is a directory, expected an HDF5 file")
    try:
        check_not_truncated(path)
        source = path
    except FileFormatError:
        if not cut_short:
            raise
        source = _CutFile(path)
    try:
        handle = _open(source, swmr) if source is path else h5py.File(source, "r")
    except OSError as error:
        raise FileFormatError(path, None, f"not a readable HDF5 file ({_short(error)})") from None
    if source is not path:
        handle._cut_source = source  # for check_read_whole
    expected = (expected_format,) if isinstance(expected_format, str) else tuple(expected_format)
    try:
        found = read_attr_str(handle, "format")
    except (KeyError, OSError, RuntimeError, ValueError) as error:  # HDF5's checks of a damaged header
        handle.close()
        detail = _short(error).strip("'\"")
        raise FileFormatError(path, None, f"not a readable HDF5 file, it is damaged ({detail})") from None
    if found not in expected:
        try:
            check_read_whole(handle, path, "its format attribute")  # a small file cut in its header
        finally:
            handle.close()
        what = f"'{found}'" if found is not None else "missing"
        names = " or ".join(f"'{name}'" for name in expected)
        raise FileFormatError(path, "format", f"expected {names}, found {what}")
    return handle


def _open(path, swmr):
    """Open with h5py; retry as an SWMR reader when a crashed writer left the file marked open."""
    try:
        return open_swmr(path) if swmr else h5py.File(path, "r")
    except OSError as error:
        if swmr or "already open for write" not in str(error):
            raise
        return open_swmr(path)


def open_swmr(path):
    """Open ``path`` as an SWMR reader whose metadata retries are bounded (SWMR_READ_ATTEMPTS)."""
    access = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    set_attempts = _metadata_read_attempts_setter()
    if set_attempts is not None:
        set_attempts(access.id, SWMR_READ_ATTEMPTS)
    flags = h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=access))


@functools.lru_cache(maxsize=1)
def _metadata_read_attempts_setter():
    """Return H5Pset_metadata_read_attempts of the HDF5 library h5py loaded (h5py does not wrap it), or None."""
    try:
        with open("/proc/self/maps") as maps:
            libraries = sorted(
                {
                    line.split()[-1]
                    for line in maps
                    if os.path.basename(line.split()[-1]).startswith("libhdf5") and "_hl" not in line
                }
            )
    except OSError:  # not Linux: the library's default retries stay
        return None
    for library in libraries:
        try:
            setter = ctypes.CDLL(library).H5Pset_metadata_read_attempts
        except (OSError, AttributeError):
            continue
        setter.argtypes = (ctypes.c_int64, ctypes.c_uint)  # hid_t is 64 bits since HDF5 1.10
        setter.restype = ctypes.c_int
        return setter
    return None


def check_read_whole(handle, path, what, advice=""):
    """Raise FileFormatError when a file opened with ``cut_short`` gave ``what`` bytes it no longer has."""
    source = getattr(handle, "_cut_source", None)
    if source is not None and source.missing_reads:
        raise FileFormatError(
            path,
            None,
            f"truncated: {source.size:,} of {source.end:,} bytes, and {what} "
            f"need bytes from the missing part: it cannot be recovered{advice}",
        )


class _CutFile(io.RawIOBase):
    """A file cut short, read as if whole: bytes past its real end read as zeros and are counted."""

    def __init__(self, path):
        """Open ``path`` and find the end its HDF5 header records."""
        super().__init__()
        self.file = open(path, "rb")
        self.size = os.path.getsize(path)
        self.end = _recorded_end_of_file(self.file, self.size)
        self.position = 0
        self.missing_reads = 0

    def readable(self):
        """Return True."""
        return True

    def seekable(self):
        """Return True."""
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        """Move to ``offset`` (from the start, the current position or the recorded end)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.end}[whence]
        self.position = base + offset
        return self.position

    def tell(self):
        """Return the position."""
        return self.position

    def readinto(self, buffer):
        """Read real bytes where the file has them and zeros past its real end."""
        stop = min(self.position + len(buffer), self.end)
        if stop <= self.position:
            return 0
        real = max(0, min(stop, self.size) - self.position)
        if real:
            self.file.seek(self.position)
            buffer[:real] = self.file.read(real)
        if stop > self.size:
            self.missing_reads += 1
            buffer[real : stop - self.position] = bytes(stop - self.position - real)
        count = stop - self.position
        self.position = stop
        return count

    def close(self):
        """Close the underlying file."""
        self.file.close()
        super().close()


def check_not_truncated(path):
    """Raise FileFormatError when a file is shorter than the end-of-file its HDF5 superblock records.

    HDF5 makes this check itself, except for SWMR readers, which then read zeros past the cut
    (silently wrong genomes) or retry a damaged index for minutes. A writer extends the file
    to its recorded end at every flush, so only a file cut short (a full disk, a failed copy)
    fails this, apart from the first instant of a new file, before anything is committed.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            recorded = _recorded_end_of_file(handle, size)
    except OSError as error:
        raise FileFormatError(path, None, f"cannot read ({error.strerror or error})") from None
    if recorded is not None and size < recorded:
        raise FileFormatError(
            path,
            None,
            f"truncated: {size:,} bytes, but its HDF5 header records {recorded:,} "
            "(cut short by a full disk or an interrupted copy?)",
        )


def _recorded_end_of_file(handle, size):
    """Return the end-of-file address in the first HDF5 superblock of an open file, or None."""
    offset = 0
    while offset + 64 <= size:  # HDF5 looks for the superblock at 0, 512, 1024, 2048, ...
        handle.seek(offset)
        block = handle.read(64)
        if block[:8] == _SIGNATURE:
            version = block[8]
            if version in (0, 1):
                offset_size, first = block[13], (24 if version == 0 else 28)
            elif version in (2, 3):
                offset_size, first = block[9], 12
            else:
                return None
            code = {4: "<I", 8: "<Q"}.get(offset_size)
            if code is None:
                return None
            # Base address, then the free-space (v0/1) or extension (v2/3) address, then end of file.
            recorded = struct.unpack_from(code, block, first + 2 * offset_size)[0]
            return None if recorded == (1 << (8 * offset_size)) - 1 else recorded
        offset = 512 if offset == 0 else offset * 2
    return None


def check_schema(handle, path, supported):
    """Raise FileFormatError unless the file's schema_version is one of ``supported``."""
    version = handle.attrs.get("schema_version")
    if version is None or int(version) not in supported:
        raise FileFormatError(
            path, "schema_version", f"unsupported version {version!r}, this build reads {sorted(supported)}"
        )
    return int(version)


def read_attr_str(handle, name, default=None):
    """Read a string attribute as str, whichever way h5py stored it."""
    value = handle.attrs.get(name, default)
    if isinstance(value, bytes):
        return value.decode()
    return value


def _short(error, limit=160):
    """Return the first line of an h5py error message, shortened at a word boundary."""
    line = (str(error).splitlines() or [type(error).__name__])[0]
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + " ..."
