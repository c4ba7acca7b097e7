"""Digests of a run file's science (genomes, lineage, fitness, statistics), for bit-identity checks.

Timings, timestamps and the file's layout are left out: two runs of the same config must give
the same digests whatever writes them, and a refactor that keeps behaviour keeps them all.
"""

import hashlib
import json

import numpy as np

from evosandbox.runfile.run_read import RunReader

# What a run decides: every individual's genome, parents, operator, fitness and outcomes.
INDIVIDUAL_COLUMNS = ("id", "generation", "parent_1", "parent_2", "operator", "fitness", "outcomes")
# Per-generation statistics written by the clock, not by the science.
TIMING_COLUMNS = {"wall_time", "evaluations_per_s"}
# /tests columns whose meaning is fixed (other_rate was fixed by the house issue: not compared).
TEST_COLUMNS = ("id", "generation", "world", "door_rate", "proxy_rate", "episodes")


def _digest(values):
    """Return the sha256 of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(values)
    hasher = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    hasher.update(array.tobytes())
    return hasher.hexdigest()


def run_digests(path):
    """Return {column: sha256} over a run file's genomes, individuals, generations and tests."""
    with RunReader(path) as reader:
        digests = {"genomes": _digest(reader.genome_rows(0, reader.individual_count))}
        for name in INDIVIDUAL_COLUMNS:
            digests[f"individuals/{name}"] = _digest(reader.column(name))
        for name, values in sorted(reader.generations().items()):
            if name not in TIMING_COLUMNS:
                digests[f"generations/{name}"] = _digest(values)
        tests = reader.tests()
        for name in TEST_COLUMNS:
            if name in tests:
                digests[f"tests/{name}"] = _digest(tests[name])
    return digests


def main(argv=None):
    """Print the digests of run files as JSON (python tests/run_digest.py RUN_DIR...)."""
    import sys

    paths = sys.argv[1:] if argv is None else argv
    print(json.dumps({path: run_digests(path) for path in paths}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
