"""Genomes rebuilt from seeds: the rebuild data of a schema-2 run file and its checked reader.

With ``[output] genomes = "seeds"`` (the default) a run file stores no genome rows. Every
genome is a deterministic function of the run seed, the algorithm's parameters and what the
file records per generation: the algorithm re-runs its own ``ask`` (and ``tell``, with the
recorded ranks in place of fitness) from the nearest keyframe, the way OpenAI's evolution
strategies and Uber's Deep GA store a genome as its seeds (Salimans et al. 2017; Such et al.
2017). Layout (docs/architecture.md), under ``/rebuild``:

- attributes: ``keyframe_every`` and the parameters the algorithm's rebuild reads;
- ``state_checksum`` uint64 (generations,): checksum of the algorithm state that bred
  generation g (0: a state without a keyframe form, such as an es before its first mean);
- ``genome_checksum`` uint64 (generations,): checksum of generation g's genome block (P, G);
- ``keyframes/generation`` int32 (K,) and ``keyframes/<array>`` (K, ...): the state that bred
  generation ``keyframes/generation[k]``, in the algorithm's own arrays;
- ``/individuals/rank`` int32 (N,): each individual's place in its generation by base
  fitness, best first, ties in row order (the stable sort the algorithms use), so a replayed
  update sees the order the run saw, whatever precision ``/individuals/fitness`` keeps.

Every rebuilt state and genome block is compared with its checksum: corrupt or missing data
is one FileFormatError naming the file and the dataset, never a wrong genome.
"""

import collections
import hashlib
from dataclasses import dataclass, field

import numpy as np

from evosandbox.errors import FileFormatError

GENOME_STORAGES = ("seeds", "full")
DEFAULT_KEYFRAME_EVERY = 20
_KEPT_STATES = 8
"""Checked states a RebuildSource keeps (``remember_state``)."""


def checksum(*arrays):
    """Return a 64-bit checksum (BLAKE2b) of arrays' dtypes, shapes and bytes, as a Python int."""
    digest = hashlib.blake2b(digest_size=8)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return int.from_bytes(digest.digest(), "little")


def state_checksum(keyframe):
    """Return the checksum of a keyframe dict (name -> array, in name order), 0 for None."""
    if keyframe is None:
        return 0
    return checksum(*(keyframe[name] for name in sorted(keyframe)))


def ranks(base_fitness):
    """Return int32 (N,): each row's place by base fitness, best first, ties in row order."""
    order = np.argsort(-np.asarray(base_fitness, np.float64), kind="stable")
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank


@dataclass
class RebuildLayout:
    """What an algorithm records so that its genomes can be rebuilt (created with the file)."""

    keyframe_arrays: dict
    """Keyframe array name -> (shape, dtype) of one keyframe's array."""
    attributes: dict = field(default_factory=dict)
    """Parameters the rebuild reads (stored as /rebuild attributes)."""
    keyframe_every: int = DEFAULT_KEYFRAME_EVERY
    """A keyframe of the state every this many generations (generation 0 needs none)."""
    individual_columns: dict = field(default_factory=dict)
    """Extra per-individual columns under /rebuild/individuals: name -> dtype."""


@dataclass
class RebuildRecord:
    """One generation's rebuild rows."""

    rank: np.ndarray
    """int32 (P,) ``ranks`` of the generation's base fitness."""
    state: dict = None
    """The keyframe arrays of the state that bred the generation (None: it has none); the
    writer stores their checksum, and the arrays too when ``keyframe`` is set."""
    keyframe: bool = False
    """Whether this generation stores its state as a keyframe."""
    columns: dict = field(default_factory=dict)
    """Values of the layout's per-individual columns, name -> (P,)."""


def rebuild_record(algorithm, state, offspring, base_fitness, generation, keyframe_every):
    """Return the RebuildRecord of one generation (call it before ``tell``, which may change ``state``).

    Args:
        algorithm: the Algorithm: ``keyframe(state)`` gives the state's arrays (copies, or
            None when it has none), ``replays`` says whether its rebuild replays states (then
            every generation's state is checksummed, else only keyframes are stored), and
            ``rebuild_columns(offspring)`` its per-individual columns.
        state: the state that bred the generation.
        offspring: the generation's Offspring.
        base_fitness: (P,) the generation's base fitness as the algorithm was told it.
        generation: the generation number.
        keyframe_every: store the keyframe when ``generation`` is a positive multiple of it.
    """
    due = generation > 0 and generation % int(keyframe_every) == 0
    arrays = algorithm.keyframe(state) if due or getattr(algorithm, "replays", True) else None
    return RebuildRecord(
        ranks(base_fitness), arrays, due and arrays is not None, dict(algorithm.rebuild_columns(offspring))
    )


class RebuildSource:
    """The rebuild data of one run file, read and checked for an algorithm's rebuild.

    Args:
        handle: the open h5py run file.
        path: its path (for error messages).
        committed_generations: generations a reader may trust.
        bounds: int64 (generations + 1,) first id of each generation.
    """

    def __init__(self, handle, path, committed_generations, bounds):
        """Check that the rebuild datasets exist and cover the committed generations."""
        self.handle = handle
        self.path = path
        self._states = collections.OrderedDict()
        self.generations = int(committed_generations)
        self.bounds = np.asarray(bounds, np.int64)
        for name in (
            "rebuild/state_checksum",
            "rebuild/genome_checksum",
            "rebuild/keyframes/generation",
            "individuals/rank",
        ):
            dataset = self._dataset(name)
            rows = self.bounds[self.generations] if name == "individuals/rank" else self.generations
            if name != "rebuild/keyframes/generation" and dataset.shape[0] < rows:
                raise FileFormatError(path, name, f"{dataset.shape[0]} rows, expected {rows} (truncated rebuild data)")
        self.attributes = {key: _plain(value) for key, value in self._group("rebuild").attrs.items()}
        self.seed = int(handle.attrs["seed"])
        self.population_size = int(handle.attrs.get("population_size", 0))
        self.genome_length = int(handle["genomes"].shape[1])
        self._state_checksums = self._read("rebuild/state_checksum", slice(0, self.generations)).astype(np.uint64)
        self._genome_checksums = self._read("rebuild/genome_checksum", slice(0, self.generations)).astype(np.uint64)
        self._cache = {}
        keyframe_generations = self._read("rebuild/keyframes/generation")
        self._keyframes = {
            int(g): row for row, g in enumerate(keyframe_generations.tolist()) if 0 <= g < self.generations
        }

    def cached(self, key, make):
        """Return ``make()``, made once per source (an algorithm built from the file, its founders)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def keyframe_before(self, generation):
        """Return (g, arrays) of the latest keyframe at or before ``generation``, checked; (0, None) if none.

        A state ``remember_state`` kept counts as a keyframe; a keyframe read is kept so.
        """
        earlier = [g for g in (*self._keyframes, *self._states) if g <= generation]
        if not earlier:
            return 0, None
        kept = max(earlier)
        if kept in self._states:
            self._states.move_to_end(kept)
            return kept, self._states[kept]
        row = self._keyframes[kept]
        group = self._group("rebuild/keyframes")
        arrays = {name: self._read(f"rebuild/keyframes/{name}", row) for name in group if name != "generation"}
        if state_checksum(arrays) != int(self._state_checksums[kept]):
            raise FileFormatError(
                self.path,
                "rebuild/keyframes",
                f"keyframe of generation {kept} does not match /rebuild/state_checksum (corrupt)",
            )
        self.remember_state(kept, arrays)
        return kept, arrays

    def remember_state(self, generation, arrays):
        """Keep the keyframe arrays of a checked state that bred ``generation`` (the last few kept).

        A replay then starts there instead of at the file's keyframe before it: a keyframe read
        is not read and checked again, and the state after the founders (which a keyframe
        interval's first generations all start from) is not made again. The arrays are only
        read: ``from_keyframe`` copies them.
        """
        self._states[int(generation)] = arrays
        self._states.move_to_end(int(generation))
        while len(self._states) > _KEPT_STATES:
            self._states.popitem(last=False)

    def check_state(self, generation, keyframe):
        """Raise FileFormatError unless a rebuilt state's keyframe arrays match generation's checksum."""
        expected = int(self._state_checksums[generation])
        if keyframe is not None and expected and state_checksum(keyframe) != expected:
            raise FileFormatError(
                self.path,
                "rebuild/state_checksum",
                f"the state rebuilt for generation {generation} does not match its checksum "
                "(corrupt /individuals/rank, /rebuild data or seed)",
            )

    def check_genomes(self, generation, genomes):
        """Raise FileFormatError unless a rebuilt generation's genome block matches its checksum."""
        if checksum(np.asarray(genomes, np.float32)) != int(self._genome_checksums[generation]):
            raise FileFormatError(
                self.path,
                "rebuild/genome_checksum",
                f"the genomes rebuilt for generation {generation} do not match their checksum "
                "(corrupt rebuild data, or a build whose random streams differ)",
            )

    def individual_column(self, name, generation):
        """Return one generation's rows of a /rebuild/individuals column."""
        return self._read(
            f"rebuild/individuals/{name}", slice(int(self.bounds[generation]), int(self.bounds[generation + 1]))
        )

    def keyframe_index(self):
        """Return {generation: keyframe row} of the committed keyframes."""
        return dict(self._keyframes)

    def keyframe_rows(self, name, row, selection):
        """Return ``selection`` of keyframe ``row``'s array ``name`` (unchecked: the caller checks what it builds)."""
        return self._read(f"rebuild/keyframes/{name}", (row, selection))

    def individual_rows(self, name, ids):
        """Return the rows ``ids`` (sorted, unique) of an /individuals or /rebuild/individuals column."""
        dataset = name if name.startswith(("individuals/", "rebuild/")) else f"individuals/{name}"
        ids = np.asarray(ids, np.int64)
        if not len(ids):
            return self._read(dataset, slice(0, 0))
        return self._read(dataset, ids.tolist() if len(ids) > 1 else slice(int(ids[0]), int(ids[0]) + 1))

    def check_individuals(self, ids, genomes):
        """Raise FileFormatError unless each genome matches its /rebuild/individuals/genome_checksum."""
        expected = self.individual_rows("rebuild/individuals/genome_checksum", ids).astype(np.uint64)
        for individual, genome, value in zip(ids, genomes, expected):
            if checksum(np.asarray(genome, np.float32)) != int(value):
                raise FileFormatError(
                    self.path,
                    "rebuild/individuals/genome_checksum",
                    f"the genome rebuilt for individual {int(individual)} does not match its checksum "
                    "(corrupt rebuild data, or a build whose random streams differ)",
                )

    def rank_span(self, start, stop):
        """Return int32: the recorded ranks of generations start..stop - 1, in one read."""
        return self._read("individuals/rank", slice(int(self.bounds[start]), int(self.bounds[stop])))

    def rank(self, generation):
        """Return int32 (P,) the recorded ranks of one generation's individuals."""
        return self._read("individuals/rank", slice(int(self.bounds[generation]), int(self.bounds[generation + 1])))

    def column(self, name, generation):
        """Return one generation's rows of an /individuals column."""
        return self._read(f"individuals/{name}", slice(int(self.bounds[generation]), int(self.bounds[generation + 1])))

    def specs(self):
        """Return (training WorldSpec, GenomeSpec) from the texts stored in the file."""
        from evosandbox.runfile.run_read import parse_run_specs

        return parse_run_specs(self.handle, self.path)

    def _group(self, name):
        """Return a group or raise FileFormatError naming it."""
        group = self.handle.get(name)
        if group is None or not hasattr(group, "keys"):
            raise FileFormatError(self.path, name, "missing group (rebuild data)")
        return group

    def _dataset(self, name):
        """Return a dataset or raise FileFormatError naming it."""
        # Looked up afresh each time: with h5py 3.16 / HDF5 2.0, reads through a dataset object
        # kept open after a point selection on it (individual_rows) returned the fill value.
        dataset = self.handle.get(name)
        if dataset is None or not hasattr(dataset, "shape"):
            raise FileFormatError(self.path, name, "missing dataset (rebuild data)")
        return dataset

    def _read(self, name, selection=()):
        """Read a dataset selection, turning a failed read into FileFormatError."""
        try:
            return self._dataset(name)[selection]
        except (OSError, RuntimeError, ValueError, TypeError) as error:
            raise FileFormatError(self.path, name, f"unreadable ({str(error).splitlines()[0][:120]})") from None


def rebuild_genomes(source, algorithm_name, ids):
    """Return float32 (len(ids), G): the genomes of ``ids`` rebuilt by their algorithm.

    The algorithm's registered rebuild (``evosandbox.evolution.algorithms``) returns them
    checked: against its generations' genome checksums (``from_generations``) or its own.
    """
    ids = np.asarray(ids, np.int64).reshape(-1)
    if not len(ids):
        return np.empty((0, source.genome_length), np.float32)
    return rebuilder(algorithm_name, source.path)(source, ids)


def from_generations(source, ids, generations):
    """Return the genomes of ``ids`` from ``generations(source, rising list)``, which yields whole
    generations (generation, (P, G) genomes); each is checked against its genome checksum."""
    result = np.empty((len(ids), source.genome_length), np.float32)
    generation_of = np.searchsorted(source.bounds, ids, side="right") - 1
    for generation, genomes in generations(source, np.unique(generation_of).tolist()):
        source.check_genomes(generation, genomes)
        rows = np.flatnonzero(generation_of == generation)
        result[rows] = genomes[ids[rows] - source.bounds[generation]]
    return result


def replay_generations(algorithm, source, generations, generator_for, initial_generator):
    """Yield (generation, genomes) for rising ``generations`` by re-running ``ask`` and ``tell``.

    For an algorithm whose next state depends on its state, the generation's random generator
    and the order of the fitness alone (es, CMA-ES): from the nearest keyframe (or
    ``init``), each generation is asked again and told the recorded ranks as fitness (-rank,
    so the same stable sort finds the same order). An algorithm with
    ``replay(state, generator, first id, rank) -> next state`` (es) steps through the
    generations before the wanted one without making their genomes (None: it cannot, and
    ask and tell do it). Every state met is checked against its checksum before it breeds.

    Args:
        algorithm: an Algorithm with ``keyframe(state)`` and ``from_keyframe(arrays)``.
        source: the RebuildSource.
        generations: the generations wanted, rising.
        generator_for: generation -> the numpy Generator its ask received.
        initial_generator: the Generator ``init`` received.
    """
    position, state = None, None
    last = generations[-1] if generations else -1
    replay = getattr(algorithm, "replay", None)
    for wanted in generations:
        start, arrays = source.keyframe_before(wanted)
        if position is None or position > wanted or start > position:
            state = algorithm.from_keyframe(arrays) if arrays is not None else algorithm.init(initial_generator)
            position = start
        # The ranks of every generation replayed on the way, in one read.
        span_start, span_ranks = position, source.rank_span(position, wanted)
        while True:
            source.check_state(position, algorithm.keyframe(state))
            generator = generator_for(position)
            if position < wanted and replay is not None:
                low, high = source.bounds[position : position + 2] - source.bounds[span_start]
                advanced = replay(state, generator, int(source.bounds[position]), span_ranks[low:high])
                if advanced is not None:  # the state's next one, its genomes never made
                    state, position = advanced, position + 1
                    continue
                generator = generator_for(position)  # the replay may have drawn from it
            offspring = algorithm.ask(state, generator)
            if position == wanted:
                yield position, offspring.genomes
                if wanted == last:
                    return
            ids = np.arange(source.bounds[position], source.bounds[position + 1], dtype=np.int64)
            rank = source.rank(position)
            if len(rank) != len(offspring.genomes):
                raise FileFormatError(
                    source.path,
                    "individuals/rank",
                    f"generation {position} has {len(rank)} rows, its ask made {len(offspring.genomes)}",
                )
            state = algorithm.tell(state, offspring, ids, -rank.astype(np.float64)[:, None])
            position += 1
            if position == 1 and position < source.generations:  # after the founders: checked, kept
                arrays = algorithm.keyframe(state)
                if arrays is not None:
                    source.check_state(position, arrays)
                    source.remember_state(position, arrays)
            if position > wanted:
                break


_REBUILDERS = {}


def register_rebuilder(algorithm_name, function):
    """Register ``function(source, ids) -> float32 (len(ids), G)``, checked genomes, for an algorithm."""
    _REBUILDERS[algorithm_name] = function


def rebuilder(algorithm_name, path=None):
    """Return the rebuild function of an algorithm, or raise FileFormatError when there is none."""
    if algorithm_name not in _REBUILDERS:
        _register_algorithms()
    if algorithm_name not in _REBUILDERS:
        raise FileFormatError(
            path, "algorithm", f"this build cannot rebuild genomes of algorithm {algorithm_name!r} from seeds"
        )
    return _REBUILDERS[algorithm_name]


def _register_algorithms():
    """Let the evolution package register its algorithms' rebuilds (imported late: it sits above)."""
    import importlib

    for module in ("evosandbox.evolution.algorithms", "evosandbox.evolve"):
        try:
            register = getattr(importlib.import_module(module), "register_rebuilders", None)
        except ImportError:
            continue
        if register is not None:
            register()
            return


def _plain(value):
    """Return an HDF5 attribute as a plain Python value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
