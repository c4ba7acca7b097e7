"""One writer per run folder: an OS lock on the folder itself, held for the run's lifetime.

The lock is ``flock`` on the folder's own descriptor, so it adds no file to the folder and
the kernel drops it when the holder exits, however it dies (no stale lock after a kill).
"""

import contextlib
import fcntl
import os

from evosandbox.errors import UsageError


@contextlib.contextmanager
def hold_run_folder(run_dir, field="--out"):
    """Hold the run folder's lock while the block runs; raise UsageError naming the holder if another process has it.

    Args:
        run_dir: an existing run folder.
        field: the flag the error line names (``--out`` or ``--resume``).
    """
    descriptor = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(descriptor)
            who = f"process {holder}" if holder else "another process"
            raise UsageError(
                f"{run_dir} is in use: {who} is writing this run; wait for it to finish or stop it", field
            ) from None
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def _lock_holder(descriptor):
    """Return the process id holding an flock on the file behind ``descriptor`` (Linux /proc/locks), or None."""
    status = os.fstat(descriptor)
    wanted = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii") as handle:
            for line in handle:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF" (blocked waiters carry "->")
                if len(fields) >= 6 and fields[1] == "FLOCK" and "->" not in fields and fields[5] == wanted:
                    return int(fields[4])
    except (OSError, ValueError):
        return None
    return None
