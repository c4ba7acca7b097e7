"""The one derivation of seeds: (purpose, seed, indices) -> independent uint64 streams.

Every seeded draw of the sandbox that is not a user's own seed comes from
``numpy.random.SeedSequence([seed, PURPOSES[purpose], *indices])``: the purpose keeps streams
apart (training levels never coincide with validation, test or probe levels), the indices
pick one draw of a stream (a generation, a test world). The purpose ids are fixed: they are
the salts the streams had before this module existed, so run files, probe figures and README
tables made before it are reproduced bit for bit.

| purpose | seed | indices | used by |
| --- | --- | --- | --- |
| ``levels`` | any | - | ``simulate.level_seeds_for``: baselines, benchmarks, tests |
| ``variation`` | run seed | generation | the algorithm's ask (selection, mutation, noise) |
| ``training-levels`` | run seed | generation | the levels a generation plays |
| ``training-rollout`` | run seed | generation | a generation's rollout seed |
| ``training-pool`` | run seed | - | the fixed pool of ``[world] distinct_levels`` training levels |
| ``training-pool-sample`` | run seed | generation | which pool levels a generation plays (pool larger than ``levels``) |
| ``init`` | run seed | - | the algorithm's initial state |
| ``validation`` | validation seed | - (levels); 1 (rollout) | hall-of-fame validation |
| ``test`` | test seed | world (levels); world, 1 (rollout) | periodic test scoring |
| ``elite`` | run seed | generation (levels); generation, 1 (rollout) | re-scoring front-runners |
| ``probe`` | probe seed | - | probe and replay levels |
| ``mesa`` (+ variant) | probe seed | - | the mesa-optimizer probes' levels |
| ``diversity`` | diversity seed | generation | lineage's genome samples (no purpose id) |
"""

import numpy as np

from evosandbox.resources import check_memory

PURPOSES = {
    "levels": 0,
    "variation": 1,
    "training-levels": 2,
    "training-rollout": 3,
    "init": 5,
    "validation": 6,
    "test": 7,
    "elite": 8,
    "training-pool": 9,
    "training-pool-sample": 10,
    "probe": 0x50524F4245,  # "PROBE"
    "mesa": 0x4D455341,  # "MESA": the mesa-optimizer probes (probes/_episodes.py adds a variant)
    "diversity": None,  # lineage's samples were seeded by (seed, generation) alone; kept
}
"""Purpose name -> the id mixed into its seeds (None: no id, kept from an older release)."""

_MASK = 0xFFFFFFFFFFFFFFFF
MAX_SEED = 2**63 - 1
"""The largest seed a user may give (a file's or a flag's): every consumer holds it as int64 or uint64."""


def seed_sequence(purpose, seed: int, *indices: int) -> np.random.SeedSequence:
    """Return the SeedSequence of (purpose, seed, indices).

    ``purpose`` is a name from PURPOSES, or an integer id (a salt) for a stream a caller
    derives from one of them (the mesa probes' variants: ``PURPOSES["mesa"] + k``).
    """
    if isinstance(purpose, (int, np.integer)) and not isinstance(purpose, bool):
        purpose_id = int(purpose)
    elif purpose in PURPOSES:
        purpose_id = PURPOSES[purpose]
    else:
        raise KeyError(f"unknown seed purpose {purpose!r}, expected one of {', '.join(PURPOSES)}")
    words = [int(seed) & _MASK] + ([] if purpose_id is None else [purpose_id]) + [int(i) for i in indices]
    return np.random.SeedSequence(words)


def derive_seeds(purpose, seed: int, count: int, *indices: int) -> np.ndarray:
    """Return ``count`` uint64 seeds of (purpose, seed, indices), e.g. the level seeds of a generation."""
    # numpy draws them as twice as many uint32 words, then views them as uint64.
    check_memory(16 * int(count), f"{int(count):,} level seeds", "use fewer episodes or levels")
    return seed_sequence(purpose, seed, *indices).generate_state(int(count), np.uint64)


def derive_seed(purpose, seed: int, *indices: int) -> int:
    """Return one seed of (purpose, seed, indices) as a Python int (a rollout seed)."""
    return int(derive_seeds(purpose, seed, 1, *indices)[0])


def derive_generator(purpose, seed: int, *indices: int) -> np.random.Generator:
    """Return a numpy Generator of (purpose, seed, indices)."""
    return np.random.default_rng(seed_sequence(purpose, seed, *indices))
