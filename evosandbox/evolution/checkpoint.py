"""Checkpoints: the run state pickled atomically after every generation, and read back on resume.

Genomes are not pickled: every genome the state holds (parents, hall of fame, champion)
belongs to an individual already committed to the run file, so the checkpoint keeps ids and
``restore_genomes`` reads the rows back. A direct-encoding checkpoint stays a few kB. What an
algorithm's state keeps is the state's own business (``AlgorithmState.without_genomes``).

Checkpoints written before the evolution package (version 1: a flat ``AlgorithmConfig`` and a
DEAP Logbook, classes pickled under ``evosandbox.evolve``) still load: ``evosandbox.evolve``
re-exports the classes, and ``read_checkpoint`` turns the old parameters into the algorithm's.
"""

import copy
import os
import pickle
from dataclasses import dataclass

import numpy as np
from deap import tools

from evosandbox import __version__
from evosandbox.atomic import atomic_output
from evosandbox.errors import FileFormatError
from evosandbox.evolution.algorithms import AlgorithmParameters, convert_parameters, individuals
from evosandbox.evolution.experiment import ExperimentConfig

CHECKPOINT_FILE = "checkpoint.pkl"
CHECKPOINT_FORMAT = "evosandbox-checkpoint"
CHECKPOINT_VERSION = 3
"""3: test scores cached per probe; 2: per-algorithm parameters, no Logbook; 1: the release
before the evolution package. All three are read."""
READABLE_VERSIONS = (1, 2, 3)


@dataclass
class RunState:
    """Everything a checkpoint holds."""

    config: ExperimentConfig
    generation: int
    algorithm_state: object
    """The algorithm's state (an AlgorithmState: PopulationState, CmaState, EsState, ...)."""
    hall_of_fame: object
    """deap.tools.HallOfFame (in a checkpoint: (id, origin, fitness values) per member)."""
    validated: dict
    """origin id -> (validation fitness, door rate, proxy rate)."""
    tested: dict
    """(origin id, world index, probe) -> {metric: (value, low, high, count)}."""
    champion: tuple
    """(origin id, genome float32) or (-1, None)."""
    next_id: int
    random_state: object
    elapsed: float
    individual_count: int
    header_created: str
    last_tests: tuple = ()


class LegacyAlgorithmConfig:
    """The flat [algorithm] parameters of a version-1 checkpoint (unpickled, then converted)."""


def write_checkpoint(path, state):
    """Pickle the run state to a temporary file, fsync it and move it over ``path``."""
    write_checkpoint_bytes(path, checkpoint_bytes(state))


def checkpoint_bytes(state):
    """Return the pickled checkpoint of ``state`` (what write_checkpoint writes)."""
    return pickle_checkpoint(checkpoint_payload(state))


def checkpoint_payload(state):
    """Return what a checkpoint of ``state`` pickles, taken now.

    It shares no container the loop changes in place with ``state`` (the validated and tested
    tables are copied), so while the algorithm's state stays as it is
    (``AlgorithmState.checkpoint_later``), pickling it later gives the bytes of pickling it now.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "software_version": __version__,
        "state": _without_genomes(state),
        "numpy_random_state": np.random.get_state(),
    }


def pickle_checkpoint(payload):
    """Return the checkpoint bytes of a ``checkpoint_payload``."""
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def write_checkpoint_bytes(path, data):
    """Write pickled checkpoint bytes to a temporary file, fsync it and move it over ``path``."""
    with atomic_output(path) as temporary, open(temporary, "wb") as handle:
        handle.write(data)


def _without_genomes(state):
    """Return a shallow copy of the run state with genome arrays replaced by their ids."""
    stripped = copy.copy(state)
    stripped.algorithm_state = state.algorithm_state.without_genomes()
    stripped.hall_of_fame = [
        (int(member.id), int(member.origin), tuple(member.fitness.values)) for member in state.hall_of_fame
    ]
    stripped.champion = (state.champion[0], None)
    stripped.validated, stripped.tested = dict(state.validated), dict(state.tested)
    return stripped


def restore_genomes(state, genomes):
    """Fill a checkpoint's state with its genomes read from the run file.

    Args:
        state: the state read_checkpoint returned.
        genomes: the run file's ``/genomes`` dataset (rows are individual ids), or anything
            indexable by a sorted id list with a ``shape``.
    Returns:
        The state, with the algorithm's, the hall of fame's and the champion's genomes in place.
    """
    needed = set(state.algorithm_state.genome_ids())
    needed.update(record[0] for record in state.hall_of_fame)
    if state.champion[0] >= 0:
        needed.add(state.champion[0])
    order = sorted(needed)
    rows = dict(zip(order, genomes[order])) if order else {}
    state.algorithm_state = state.algorithm_state.with_genomes(rows, genomes.shape[1])
    hall_of_fame = tools.HallOfFame(state.config.algorithm.hall_of_fame, similar=np.array_equal)
    # Inserting worst first rebuilds DEAP's order, ties included.
    for individual, origin, values in reversed(state.hall_of_fame):
        genome = rows[individual][None]
        member = individuals(genome, np.asarray([values]), id=[individual], origin=[origin])[0]
        hall_of_fame.insert(member)
    state.hall_of_fame = hall_of_fame
    if state.champion[0] >= 0:
        state.champion = (state.champion[0], np.array(rows[state.champion[0]], np.float32))
    return state


def read_checkpoint(path):
    """Load a checkpoint (genomes still to restore), or raise FileFormatError naming what is wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            raise FileFormatError(folder, None, "no such run folder")
        raise FileFormatError(path, None, "no such file; this folder holds no resumable run")
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError) as error:
        raise FileFormatError(path, None, f"corrupt checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise FileFormatError(path, "format", "not an evosandbox checkpoint")
    if payload.get("version") not in READABLE_VERSIONS:
        raise FileFormatError(
            path,
            "version",
            f"unsupported checkpoint version {payload.get('version')!r}, "
            f"this build reads {', '.join(map(str, READABLE_VERSIONS))}",
        )
    np.random.set_state(payload["numpy_random_state"])
    return _upgrade(payload["state"], payload["version"])


def checkpoint_generation(path):
    """Return the generation a checkpoint would resume at, or None when it cannot be read (no side effects)."""
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
        return int(payload["state"].generation)
    except Exception:  # a stub, a foreign file: the caller treats it as unknown
        return None


def _upgrade(state, version):
    """Bring an older state to the current classes (per-algorithm parameters, no Logbook, probe metrics)."""
    from evosandbox.probes.proxy import rate_metrics

    if version < 3:
        # Versions 1 and 2 cached (door, proxy, other, timeout, episodes) per (champion, world);
        # version 1 counted the proxy in "other" too (the /tests other_rate bug): count it once.
        tested = {}
        for (champion, world), (door, proxy, other, timeout, episodes) in state.tested.items():
            other = other - proxy if version == 1 else other
            metrics = rate_metrics((door, proxy, other, timeout), episodes)
            tested[(champion, world, "proxy")] = {
                name: (m.value, m.low, m.high, m.count) for name, m in metrics.items()
            }
        state.tested = tested
    if version >= 2:
        return state
    state.__dict__.pop("logbook", None)
    if not isinstance(state.config.algorithm, AlgorithmParameters):
        # dataclasses.replace would run __init__ on a frozen instance unpickled from an older
        # class; set the attribute the way unpickling does.
        config = copy.copy(state.config)
        object.__setattr__(config, "algorithm", convert_parameters(state.config.algorithm))
        state.config = config
    return state
