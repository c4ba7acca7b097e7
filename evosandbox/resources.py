"""How much memory the machine has, and a refusal (one line, with the figures) before a job that cannot fit."""

import os

from evosandbox.errors import UsageError

# Below this a job is not checked: reading the figure would cost more than it saves.
_UNCHECKED_BYTES = 256 << 20


def available_memory():
    """Return the bytes of memory the machine can give a new job now (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(needed, what, advice="ask for less"):
    """Raise UsageError when ``what`` needs more than the memory available, before anything is allocated.

    Args:
        needed: the bytes the job will allocate (a lower bound: the arrays it must hold at once).
        what: the job, e.g. "a rollout of 1,000,000,000 episodes".
        advice: what the user can change, e.g. "use fewer --episodes".
    """
    if needed < _UNCHECKED_BYTES:
        return
    available = available_memory()
    if available is not None and needed > available:
        raise UsageError(
            f"{what} needs about {format_bytes(needed)} of memory, this machine has {format_bytes(available)} available; {advice}"
        )


def format_bytes(count):
    """Return a byte count as a short figure: 512 B, 3.2 MB, 41 GB, 7.5 TB."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            value = count / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{int(count)} B"
