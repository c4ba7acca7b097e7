"""Write RUN_DIR/run.h5: create it, append one generation at a time under SWMR, salvage it.

The layout is the one fixed in docs/architecture.md (schema_version 2; version 1 files, the
same layout with every genome row stored, still read and salvage). Every dataset is
created before SWMR is switched on; each generation is one append of every column, one
flush, then ``/generations/done`` is bumped and flushed again, so a reader following the
live file (``h5py.File(path, "r", swmr=True)``) never trusts a half-written generation.
A run that crashed is salvaged by copying its committed prefix into a fresh file and
replacing the old one atomically.
"""

import datetime
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import h5py
import numpy as np

from evosandbox import __version__
from evosandbox.atomic import atomic_output
from evosandbox.errors import FileFormatError
from evosandbox.runfile.common import LIBVER, check_read_whole, check_schema, open_for_reading, read_attr_str
from evosandbox.runfile.rebuild import GENOME_STORAGES, RebuildLayout, checksum, state_checksum

RUN_FORMAT = "evosandbox-run"
RUN_SCHEMA_VERSION = 2
READABLE_SCHEMAS = frozenset({1, 2})
OPERATOR_NAMES = ("init", "mutation", "crossover", "crossover+mutation", "copy", "cma", "es")
(
    OPERATOR_INIT,
    OPERATOR_MUTATION,
    OPERATOR_CROSSOVER,
    OPERATOR_CROSSOVER_MUTATION,
    OPERATOR_COPY,
    OPERATOR_CMA,
    OPERATOR_ES,
) = range(7)

# Genome chunks are (population size, about 256 genes; a width that divides the genome when
# one exists, so no chunk is stored half empty). Optionally byte-shuffled and deflated at level
# 1: once a run has converged, a chunk's rows (copies and children of a few parents, differing
# in a few genes) repeat each other within deflate's 32 kB window and a direct-encoding run
# shrinks 10-20 fold; shuffling (the bytes of each float grouped by significance) about doubles
# the ratio of a diverse population and makes deflate 2-3 times faster. On random genomes it
# still costs about 1 s per 80 MB, so it is off by default. Shuffle and deflate are standard
# filters every HDF5 1.10 tool reads.
_GENOME_CHUNK_COLUMNS = 256
_GENOME_DEFLATE_LEVEL = 1
GENOME_COMPRESSIONS = ("none", "gzip")
_GENERATION_CHUNK_ROWS = 256
_TEST_CHUNK_ROWS = 64
_STRING = h5py.string_dtype()
# Under genomes = "seeds" the lineage columns are most of the file: byte-shuffled and deflated
# they shrink several fold (ids count up, parents repeat within a generation).
_COLUMN_COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
_KEYFRAME_CHUNK_ROWS = 1
# Only the latest checkpoint is kept, so a run file missing committed rows cannot go back to an
# earlier generation; but a run is a function of its config and seed.
_REEVOLVE = "; the same config and seed evolve the identical run again (evolve CONFIG --out RUN_DIR --force)"
# Every dataset but /genomes carries HDF5's Fletcher32 checksum filter, so a flipped bit in a
# champion id, a parent column or a fitness is a read error, never a quietly different value.
# /genomes keeps unfiltered chunks (a reader of one genome then reads one row, not its whole
# chunk); each of its rows is checked against /individuals/genome_checksum instead.
_CHECKSUMMED = {"fletcher32": True}
GENOME_CHECKSUM = "individuals/genome_checksum"
"""uint32 (N,): the low 32 bits of each /genomes row's checksum (rebuild.checksum), in files with
genomes = "full" (4 bytes keep a run file within its genome + 64 bytes per individual)."""

# Columns of /individuals besides the 2-D fitness and outcomes (name, dtype).
_INDIVIDUAL_COLUMNS = (
    ("id", np.int64),
    ("generation", np.int32),
    ("parent_1", np.int64),
    ("parent_2", np.int64),
    ("operator", np.uint8),
)
# Columns of /generations besides the 2-D test rates (name, dtype).
_GENERATION_COLUMNS = (
    ("generation", np.int32),
    ("individual_count", np.int64),
    ("best_fitness", np.float32),
    ("mean_fitness", np.float32),
    ("champion_id", np.int64),
    ("validation_door_rate", np.float32),
    ("evaluations_per_s", np.float32),
    ("wall_time", np.float64),
)
OTHER_EXCLUDES_PROXY = "other_rate_excludes_proxy"
"""Attribute of /tests: set when other_rate counts only non-proxy things (files before it
counted the proxy in other_rate too; readers subtract proxy_rate for them)."""
_TEST_KEY_COLUMNS = (("id", np.int64), ("generation", np.int32), ("world", np.int32), ("episodes", np.int32))
PROXY_RATES = ("door_rate", "proxy_rate", "other_rate", "timeout_rate")
"""The proxy probe's metrics: their /tests columns keep the names schema 1 gave them."""
DEFAULT_TEST_METRICS = tuple(column for name in PROXY_RATES for column in (name, f"{name}.low", f"{name}.high"))
TEST_METRICS_ATTRIBUTE = "metrics"
"""Attribute of /tests: its metric columns (float32), in order; absent: schema 1's four rates."""


def test_column(probe, metric):
    """Return the /tests column of a probe's metric: ``probe.metric`` (the proxy probe: ``metric``)."""
    return metric if probe == "proxy" and metric in PROXY_RATES else f"{probe}.{metric}"


def _test_columns(metrics):
    """Return (name, dtype) of every /tests column: the keys, then the float32 metric columns."""
    return _TEST_KEY_COLUMNS + tuple((name, np.float32) for name in metrics)


@dataclass
class RunHeader:
    """What a run file records once, at creation."""

    seed: int
    """Run seed."""
    population_size: int
    """Individuals evaluated per generation (the chunk rows)."""
    genome_length: int
    """Genes per genome (columns of /genomes)."""
    objectives: tuple
    """Names of the fitness columns, base objective first."""
    weights: tuple
    """+1 to maximise, -1 to minimise, one per objective."""
    config_text: str = ""
    """The resolved experiment config (TOML text)."""
    train_world_text: str = ""
    """The training world's TOML text."""
    genome_preset_text: str = ""
    """The genome preset's TOML text."""
    test_world_texts: tuple = ()
    """TOML texts of the test worlds."""
    test_world_names: tuple = ()
    """Names of the test worlds, parallel to the texts."""
    attributes: dict = field(default_factory=dict)
    """Extra root attributes (encoding, compression_ratio, ...)."""
    genome_compression: str = "none"
    """none, or gzip (deflate level 1) for /genomes."""
    created: str = ""
    """ISO creation time; filled in by create when empty."""
    genome_storage: str = "full"
    """full: every genome row in /genomes; seeds: none, rebuilt from /rebuild (rebuild_layout)."""
    rebuild_layout: RebuildLayout = None
    """What the algorithm records for rebuilds (required with genome_storage = "seeds")."""
    test_metrics: tuple = DEFAULT_TEST_METRICS
    """The /tests metric columns (``test_column`` names, each with .low and .high)."""


@dataclass
class GenerationRecord:
    """One generation's rows: its individuals, its summary row and its test scorings."""

    ids: np.ndarray
    generation: int
    parent_1: np.ndarray
    parent_2: np.ndarray
    operator: np.ndarray
    fitness: np.ndarray  # (P, F)
    outcomes: np.ndarray  # (P, 3)
    genomes: np.ndarray  # (P, G)
    best_fitness: float
    mean_fitness: float
    champion_id: int
    validation_door_rate: float
    evaluations_per_s: float
    wall_time: float
    test_door_rate: np.ndarray  # (W,), NaN when not scored
    test_proxy_rate: np.ndarray  # (W,)
    tests: dict = field(default_factory=dict)  # column name -> (T,) array, T rows for /tests
    rebuild: object = None  # rebuild.RebuildRecord, with genome_storage = "seeds"


class RunWriter:
    """Append generations to a run file opened for SWMR writing."""

    def __init__(self, handle, path):
        """Wrap an open run file whose datasets all exist."""
        self.handle = handle
        self.path = path
        # Dataset objects looked up once: a lookup costs more than many of the appends.
        self._individuals = _datasets(handle["individuals"])
        self._generations = _datasets(handle["generations"])
        self._tests = _datasets(handle["tests"])
        self._rebuild = _datasets(handle["rebuild"]) if "rebuild" in handle else {}
        self._genomes = handle["genomes"]
        self._done = handle["generations/done"]
        self._pool = None
        self.genome_storage = read_attr_str(handle, "genome_storage", "full")

    @classmethod
    def create(cls, path, header):
        """Create a new run file and open it for SWMR appends.

        Args:
            path: where to write ``run.h5`` (an existing file is replaced).
            header: a RunHeader.
        Returns:
            A RunWriter positioned at generation 0.
        """
        path = os.fspath(path)
        handle = _create_file(path, header)
        handle.swmr_mode = True
        return cls(handle, path)

    @classmethod
    def salvage(cls, path, generations, config_text=None):
        """Cut a run file back to its first ``generations`` committed generations and reopen it.

        The committed prefix is read with ``swmr=True`` (which also works on a file whose
        writer was killed), copied into a fresh file next to it, and moved over the original.
        A file cut short (a full disk stopped the writer) is repaired when every byte of the
        kept prefix is still there, and refused (FileFormatError) when any is missing.

        Args:
            path: the run file.
            generations: committed generations to keep (from the checkpoint).
            config_text: a replacement for the stored config (a resumed run may be extended).
        Returns:
            A RunWriter positioned after the kept generations.
        """
        path = os.fspath(path)
        what = f"the checkpoint's {generations} generations"
        with atomic_output(path) as temporary:
            with open_for_reading(path, RUN_FORMAT, swmr=True, cut_short=True) as source:
                try:
                    check_schema(source, path, READABLE_SCHEMAS)
                    done = int(source["generations/done"][0])
                    if done < generations:
                        raise FileFormatError(
                            path,
                            "generations/done",
                            f"holds {done} committed generations, the checkpoint needs {generations}",
                        )
                    header = read_header(source, path)
                    if config_text is not None:
                        header.config_text = config_text
                    handle = _create_file(temporary, header)
                    try:
                        _copy_prefix(source, handle, generations)
                    finally:
                        handle.close()
                except Exception:
                    check_read_whole(source, path, what, _REEVOLVE)  # the real cause
                    raise
                check_read_whole(source, path, what, _REEVOLVE)
        handle = h5py.File(path, "a", libver=LIBVER)
        handle.swmr_mode = True
        return cls(handle, path)

    @property
    def committed_generations(self):
        """Return how many generations are committed."""
        return int(self._done[0])

    @property
    def individual_count(self):
        """Return how many individuals are committed."""
        return self._individuals["id"].shape[0]

    def append(self, record):
        """Append one generation, flush it, then mark it committed and flush again."""
        start = self._individuals["id"].shape[0]
        count = len(record.ids)
        stop = start + count
        generation_column = np.full(count, record.generation, np.int32)
        values = {
            "id": record.ids,
            "generation": generation_column,
            "parent_1": record.parent_1,
            "parent_2": record.parent_2,
            "operator": record.operator,
            "fitness": record.fitness,
            "outcomes": record.outcomes,
        }
        for name, value in values.items():
            _append_rows(self._individuals[name], start, stop, value)
        if self.genome_storage == "seeds":
            self._append_rebuild(start, stop, record)
        else:
            self._append_genomes(start, stop, record.genomes)
            if GENOME_CHECKSUM in self.handle:
                dataset = self.handle[GENOME_CHECKSUM]
                _append_rows(dataset, start, stop, row_checksums(record.genomes, dataset.dtype))

        row = self._generations["generation"].shape[0]
        summary = {
            "generation": record.generation,
            "individual_count": stop,
            "best_fitness": record.best_fitness,
            "mean_fitness": record.mean_fitness,
            "champion_id": record.champion_id,
            "validation_door_rate": record.validation_door_rate,
            "evaluations_per_s": record.evaluations_per_s,
            "wall_time": record.wall_time,
        }
        for name, _ in _GENERATION_COLUMNS:
            _append_rows(self._generations[name], row, row + 1, np.asarray([summary[name]]))
        _append_rows(self._generations["test_door_rate"], row, row + 1, np.asarray(record.test_door_rate)[None])
        _append_rows(self._generations["test_proxy_rate"], row, row + 1, np.asarray(record.test_proxy_rate)[None])

        if record.tests:
            test_start = self._tests["id"].shape[0]
            test_count = len(record.tests["id"])
            for name, dataset in self._tests.items():
                values = record.tests.get(name)
                if values is None:  # a metric column the row has no value for
                    values = np.full(test_count, np.nan, dataset.dtype)
                _append_rows(dataset, test_start, test_start + test_count, values)
        self.handle.flush()
        self._done[0] = row + 1
        self._done.flush()
        self.handle.flush()

    def _append_rebuild(self, start, stop, record):
        """Append a generation's rebuild rows: ranks, checksums and a keyframe when due."""
        rebuild = record.rebuild
        if rebuild is None:
            raise ValueError("a run file with genomes = 'seeds' needs each generation's rebuild record")
        _append_rows(self._individuals["rank"], start, stop, rebuild.rank)
        for name, values in rebuild.columns.items():
            _append_rows(self._rebuild[f"individuals/{name}"], start, stop, values)
        if "individuals/genome_checksum" in self._rebuild:
            # Algorithms that rebuild single lines of descent check each genome on its own.
            _append_rows(self._rebuild["individuals/genome_checksum"], start, stop, row_checksums(record.genomes))
        state_checksums = self._rebuild["state_checksum"]
        row = state_checksums.shape[0]
        _append_rows(state_checksums, row, row + 1, np.asarray([state_checksum(rebuild.state)], np.uint64))
        block = np.ascontiguousarray(record.genomes, dtype=np.float32)
        _append_rows(self._rebuild["genome_checksum"], row, row + 1, np.asarray([checksum(block)], np.uint64))
        if rebuild.keyframe and rebuild.state is not None:
            generations = self._rebuild["keyframes/generation"]
            index = generations.shape[0]
            _append_rows(generations, index, index + 1, np.asarray([record.generation], np.int32))
            for name, value in rebuild.state.items():
                _append_rows(self._rebuild[f"keyframes/{name}"], index, index + 1, np.asarray(value)[None])

    def _append_genomes(self, start, stop, genomes):
        """Append genome rows; deflated whole chunk rows go in as chunks compressed on all cores."""
        dataset = self._genomes
        chunk_rows, chunk_columns = dataset.chunks
        genomes = np.asarray(genomes)
        whole = (
            stop - start == chunk_rows
            and start % chunk_rows == 0
            and genomes.dtype == dataset.dtype
            and genomes.shape == (chunk_rows, dataset.shape[1])
            and not dataset.fletcher32
            and dataset.compression == "gzip"
            and dataset.scaleoffset is None
        )
        if not whole:
            _append_rows(dataset, start, stop, genomes)
            return
        # HDF5 would gather each (rows, columns) chunk out of the row-major block, then filter
        # it, on one core; the same chunks (shuffled and deflated at the filter's level, as
        # HDF5's filters store them) are made here on a thread per core (numpy copies and zlib
        # release the GIL) and stored as they are.
        level = dataset.compression_opts
        shuffle = bool(dataset.shuffle)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
        dataset.resize(stop, axis=0)
        offsets = range(0, dataset.shape[1], chunk_columns)
        chunks = self._pool.map(lambda column: _chunk_bytes(genomes, column, chunk_columns, level, shuffle), offsets)
        for column, data in zip(offsets, chunks):
            dataset.id.write_direct_chunk((start, column), data)

    def close(self):
        """Flush and close the file."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self.handle.id.valid:
            self.handle.flush()
            self.handle.close()

    def __enter__(self):
        """Return the writer."""
        return self

    def __exit__(self, *exc):
        """Close the file."""
        self.close()


TEXT_CHECKSUM = "checksum"
"""Attribute (uint64) of each text dataset (config, train_world, genome_preset, test_worlds with
its names) and of /individuals (its objective and operator names): text_checksum of the strings,
which HDF5 keeps in its global heap, the one part of a file its own checksums do not cover."""


def text_checksum(*texts):
    """Return the checksum of strings (str or UTF-8 bytes), in order, as uint64."""
    return np.uint64(checksum(*(np.frombuffer(_as_bytes(text), np.uint8) for text in texts)))


def checked_texts(holder, path, field, texts):
    """Return stored strings as str after checking them against ``holder``'s TEXT_CHECKSUM attribute.

    Files written before the attribute existed have nothing to check against.

    Raises:
        FileFormatError: the strings do not match their checksum, or are not UTF-8.
    """
    texts = [_as_bytes(text) for text in texts]
    expected = holder.attrs.get(TEXT_CHECKSUM)
    if expected is not None and text_checksum(*texts) != np.uint64(expected):
        raise FileFormatError(path, field, "does not match its checksum (corrupt file)")
    try:
        return [text.decode("utf-8") for text in texts]
    except UnicodeDecodeError as error:
        raise FileFormatError(
            path, field, f"not UTF-8 text ({error.reason} at byte {error.start}; corrupt file)"
        ) from None


def stored_test_worlds(handle, path):
    """Return (texts, names) of a run file's test worlds, checked (names None when the file has none)."""
    dataset = handle["test_worlds"]
    texts = list(np.atleast_1d(dataset[()]))
    names = dataset.attrs.get("names")
    stored = list(np.atleast_1d(names)) if names is not None else []
    values = checked_texts(dataset, path, "test_worlds", texts + stored)
    return tuple(values[: len(texts)]), (tuple(values[len(texts) :]) if names is not None else None)


def stored_individual_names(handle, path):
    """Return (objectives, operators) of a run file's /individuals attributes, checked (None when absent)."""
    individuals = handle["individuals"]
    objectives, operators = individuals.attrs.get("objectives"), individuals.attrs.get("operators")
    lists = [list(np.atleast_1d(value)) if value is not None else [] for value in (objectives, operators)]
    values = checked_texts(individuals, path, "individuals.attrs", lists[0] + lists[1])
    split = len(lists[0])
    return (
        tuple(values[:split]) if objectives is not None else None,
        tuple(values[split:]) if operators is not None else None,
    )


def row_checksums(genomes, dtype=np.uint64):
    """Return (n,) the checksum of each genome row as float32, kept to ``dtype``'s low bits (what readers compare)."""
    rows = np.ascontiguousarray(genomes, dtype=np.float32)
    return np.fromiter((checksum(row) for row in rows), np.uint64, len(rows)).astype(dtype)


def read_header(handle, path=None):
    """Read the RunHeader back from an open run file (``path`` names it in errors), its texts checked."""
    attributes = {}
    for name, value in handle.attrs.items():
        if name in (
            "format",
            "schema_version",
            "software_version",
            "created",
            "seed",
            "population_size",
            "genome_storage",
        ):
            continue
        attributes[name] = value.decode() if isinstance(value, bytes) else value
    individuals = handle["individuals"]
    path = path or handle.filename
    test_texts, test_names = stored_test_worlds(handle, path)
    objectives, _ = stored_individual_names(handle, path)
    storage = read_attr_str(handle, "genome_storage", "full")
    layout = None
    if storage == "seeds":
        rebuild = handle["rebuild"]
        arrays = {
            name: (dataset.shape[1:], dataset.dtype)
            for name, dataset in rebuild["keyframes"].items()
            if name != "generation"
        }
        parameters = {name: value for name, value in rebuild.attrs.items() if name != "keyframe_every"}
        columns = {name: dataset.dtype for name, dataset in rebuild["individuals"].items()}
        layout = RebuildLayout(arrays, parameters, int(rebuild.attrs["keyframe_every"]), columns)
    return RunHeader(
        seed=int(handle.attrs["seed"]),
        population_size=int(handle.attrs["population_size"]),
        genome_length=int(handle["genomes"].shape[1]),
        objectives=objectives,
        weights=tuple(float(w) for w in individuals.attrs["weights"]),
        config_text=_read_text(handle, "config", path),
        train_world_text=_read_text(handle, "train_world", path),
        genome_preset_text=_read_text(handle, "genome_preset", path),
        test_world_texts=test_texts,
        test_world_names=test_names or (),
        attributes=attributes,
        genome_compression="gzip" if handle["genomes"].compression == "gzip" else "none",
        created=read_attr_str(handle, "created", ""),
        genome_storage=storage,
        rebuild_layout=layout,
        test_metrics=_stored_test_metrics(handle["tests"]),
    )


def _stored_test_metrics(tests):
    """Return the /tests metric columns a file declares (schema 1 and early schema 2: the four rates)."""
    if TEST_METRICS_ATTRIBUTE in tests.attrs:
        return tuple(_as_str(name) for name in tests.attrs[TEST_METRICS_ATTRIBUTE])
    return DEFAULT_TEST_METRICS


def _create_file(path, header):
    """Create every group and dataset of an empty run file (before SWMR is switched on)."""
    population = int(header.population_size)
    genome_length = int(header.genome_length)
    objective_count = len(header.objectives)
    world_count = len(header.test_world_texts)
    if header.genome_storage not in GENOME_STORAGES:
        raise ValueError(
            f"unknown genome storage {header.genome_storage!r}, expected one of {', '.join(GENOME_STORAGES)}"
        )
    seeds = header.genome_storage == "seeds"
    if seeds and header.rebuild_layout is None:
        raise ValueError("genome storage 'seeds' needs the algorithm's rebuild layout")
    columns = _COLUMN_COMPRESSION if seeds else {}
    handle = h5py.File(path, "w", libver=LIBVER)
    try:
        handle.attrs["format"] = RUN_FORMAT
        handle.attrs["schema_version"] = RUN_SCHEMA_VERSION
        handle.attrs["software_version"] = __version__
        handle.attrs["created"] = header.created or datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        )
        handle.attrs["seed"] = np.int64(header.seed)
        handle.attrs["population_size"] = np.int64(population)
        handle.attrs["genome_storage"] = header.genome_storage
        # For a child of two parents, parent_1 is the one it shares more genes with.
        handle.attrs["parent_1_is_line_parent"] = True
        for name, value in header.attributes.items():
            handle.attrs[name] = value
        for name, text in (
            ("config", header.config_text),
            ("train_world", header.train_world_text),
            ("genome_preset", header.genome_preset_text),
        ):
            handle.create_dataset(name, data=text, dtype=_STRING).attrs[TEXT_CHECKSUM] = text_checksum(text)
        tests_text = handle.create_dataset(
            "test_worlds", data=list(header.test_world_texts), shape=(world_count,), dtype=_STRING
        )
        tests_text.attrs["names"] = np.array(list(header.test_world_names), dtype=_STRING)
        tests_text.attrs[TEXT_CHECKSUM] = text_checksum(*header.test_world_texts, *header.test_world_names)

        individuals = handle.create_group("individuals")
        individuals.attrs["objectives"] = np.array(list(header.objectives), dtype=_STRING)
        individuals.attrs["weights"] = np.asarray(header.weights, dtype=np.float64)
        individuals.attrs["operators"] = np.array(list(OPERATOR_NAMES), dtype=_STRING)
        individuals.attrs[TEXT_CHECKSUM] = text_checksum(*header.objectives, *OPERATOR_NAMES)
        for name, dtype in _INDIVIDUAL_COLUMNS:
            _growable(individuals, name, (), dtype, population, **columns)
        _growable(individuals, "fitness", (objective_count,), np.float32, population, **columns)
        _growable(individuals, "outcomes", (3,), np.int32, population, **columns)
        if seeds:
            _create_rebuild(handle, header.rebuild_layout, population)
        else:
            _growable(handle, GENOME_CHECKSUM, (), np.uint32, population)
        handle.create_dataset(
            "genomes",
            shape=(0, genome_length),
            maxshape=(None, genome_length),
            dtype=np.float32,
            chunks=(population, genome_chunk_columns(genome_length)),
            **_compression_options(header.genome_compression),
        )

        generations = handle.create_group("generations")
        for name, dtype in _GENERATION_COLUMNS:
            _growable(generations, name, (), dtype, _GENERATION_CHUNK_ROWS)
        for name in ("test_door_rate", "test_proxy_rate"):
            _growable(generations, name, (world_count,), np.float32, _GENERATION_CHUNK_ROWS)
        generations.create_dataset("done", data=np.zeros(1, np.int64), chunks=(1,), **_CHECKSUMMED)

        tests = handle.create_group("tests")
        tests.attrs[OTHER_EXCLUDES_PROXY] = True
        tests.attrs[TEST_METRICS_ATTRIBUTE] = np.array(list(header.test_metrics), dtype=_STRING)
        for name, dtype in _test_columns(header.test_metrics):
            _growable(tests, name, (), dtype, _TEST_CHUNK_ROWS)
    except BaseException:
        handle.close()
        raise
    return handle


def _create_rebuild(handle, layout, population):
    """Create the /rebuild group and the rank column of a genomes = "seeds" run file."""
    _growable(handle["individuals"], "rank", (), np.int32, population, **_COLUMN_COMPRESSION)
    rebuild = handle.create_group("rebuild")
    rebuild.attrs["keyframe_every"] = np.int64(layout.keyframe_every)
    for name, value in layout.attributes.items():
        rebuild.attrs[name] = value
    for name in ("state_checksum", "genome_checksum"):
        _growable(rebuild, name, (), np.uint64, _GENERATION_CHUNK_ROWS)
    columns = rebuild.create_group("individuals")
    for name, dtype in layout.individual_columns.items():
        _growable(columns, name, (), dtype, population, **_COLUMN_COMPRESSION)
    keyframes = rebuild.create_group("keyframes")
    _growable(keyframes, "generation", (), np.int32, 16)
    for name, (shape, dtype) in layout.keyframe_arrays.items():
        shape = tuple(int(n) for n in shape)
        # One chunk per row of a keyframe's array (a GA pool's genome), so one genome reads alone.
        chunks = (_KEYFRAME_CHUNK_ROWS, *([1] * (len(shape) - 1)), *shape[-1:])
        keyframes.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=chunks,
            **_COLUMN_COMPRESSION,
            **_CHECKSUMMED,
        )


def genome_chunk_columns(genome_length):
    """Return a chunk width of 128-512 genes (near 256) that leaves the last chunk least empty."""
    if genome_length <= 2 * _GENOME_CHUNK_COLUMNS:
        return max(1, genome_length)
    widths = range(_GENOME_CHUNK_COLUMNS // 2, 2 * _GENOME_CHUNK_COLUMNS + 1)
    return min(widths, key=lambda width: (-genome_length % width, abs(width - _GENOME_CHUNK_COLUMNS)))


def _compression_options(name):
    """Return h5py's keyword arguments for a genome compression name."""
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": _GENOME_DEFLATE_LEVEL, "shuffle": True}
    if name != "none":
        raise ValueError(f"unknown genome compression {name!r}, expected one of {', '.join(GENOME_COMPRESSIONS)}")
    return {}


def _growable(group, name, trailing, dtype, chunk_rows, **filters):
    """Create an empty dataset that grows along its first axis (``filters``: h5py compression options)."""
    # HDF5 chunks have no zero-length side: a run without test worlds has (rows, 0) rate columns,
    # so a zero-width side gets an unlimited maximum and a chunk of one.
    maxshape = (None, *(t if t else None for t in trailing))
    return group.create_dataset(
        name,
        shape=(0, *trailing),
        maxshape=maxshape,
        dtype=dtype,
        chunks=(chunk_rows, *(max(1, t) for t in trailing)),
        **filters,
        **_CHECKSUMMED,
    )


def _datasets(group):
    """Return {path inside ``group``: Dataset} of every dataset under it (any depth)."""
    found = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            found[name] = item
        # None: visititems goes on

    group.visititems(visit)
    return found


def _append_rows(dataset, start, stop, values):
    """Grow ``dataset`` to ``stop`` rows and write ``values`` into rows start..stop.

    A numeric array of exactly the rows' shape goes through h5py's low-level calls, the ones
    ``resize`` and slice assignment make for it (set the extent, select the rows, write with
    HDF5 converting from the array's type), without their Python bookkeeping, which for the
    20-odd small appends of a generation cost more than the writing.
    """
    identifier = dataset.id
    trailing = identifier.shape[1:]
    identifier.set_extent((stop, *trailing))
    if stop <= start:
        return
    rows = (stop - start, *trailing)
    if (
        not isinstance(values, np.ndarray)
        or values.shape != rows
        or values.dtype.kind not in _PLAIN_KINDS
        or identifier.dtype.kind not in _PLAIN_KINDS
    ):
        dataset[start:stop] = values
        return
    file_space = identifier.get_space()
    file_space.select_hyperslab((start, *(0 for _ in trailing)), rows)
    identifier.write(h5py.h5s.create_simple(rows), file_space, np.ascontiguousarray(values))


_PLAIN_KINDS = "biuf"  # numeric types h5py writes without converting on the Python side


def _chunk_bytes(genomes, column, width, level, shuffle):
    """Return one stored chunk of genome columns column..column+width (zero-padded), deflated like HDF5."""
    block = np.zeros((genomes.shape[0], width), genomes.dtype)
    stop = min(genomes.shape[1], column + width)
    block[:, : stop - column] = genomes[:, column:stop]
    if shuffle:
        # HDF5's shuffle filter: byte k of every element, for k = 0 .. itemsize - 1.
        block = np.ascontiguousarray(block.reshape(-1).view(np.uint8).reshape(-1, genomes.dtype.itemsize).T)
    return zlib.compress(block, level)


def _copy_prefix(source, target, generations):
    """Copy the first ``generations`` committed generations of ``source`` into ``target``."""
    individual_count = int(source["generations/individual_count"][generations - 1]) if generations else 0
    test_count = int(np.count_nonzero(source["tests/generation"][()] < generations))
    groups = (
        ("individuals", [n for n, _ in _INDIVIDUAL_COLUMNS] + ["fitness", "outcomes"], individual_count),
        ("generations", [n for n, _ in _GENERATION_COLUMNS] + ["test_door_rate", "test_proxy_rate"], generations),
        ("tests", [n for n in target["tests"] if n in source["tests"]], test_count),
    )
    for group, names, rows in groups:
        for name in names:
            _copy_rows(source[f"{group}/{name}"], target[f"{group}/{name}"], rows)
    for name in target["tests"]:
        if name not in source["tests"]:  # an interval column older files lack
            target[f"tests/{name}"].resize(test_count, axis=0)
            target[f"tests/{name}"][:] = np.nan
    if not source["tests"].attrs.get(OTHER_EXCLUDES_PROXY, False):
        # Written before the fix: other_rate counted the proxy too; store what it means now.
        other = target["tests/other_rate"]
        other[:] = other[()] - target["tests/proxy_rate"][()]
    if read_attr_str(source, "genome_storage", "full") == "seeds":
        _copy_rows(source["individuals/rank"], target["individuals/rank"], individual_count)
        for name in source["rebuild/individuals"]:
            _copy_rows(source[f"rebuild/individuals/{name}"], target[f"rebuild/individuals/{name}"], individual_count)
        for name in ("state_checksum", "genome_checksum"):
            _copy_rows(source[f"rebuild/{name}"], target[f"rebuild/{name}"], generations)
        keyframes = source["rebuild/keyframes"]
        kept = int(np.count_nonzero(keyframes["generation"][()] < generations))
        for name in keyframes:
            _copy_rows(keyframes[name], target[f"rebuild/keyframes/{name}"], kept)
    else:
        checked = GENOME_CHECKSUM in source and GENOME_CHECKSUM in target
        if checked:
            _copy_rows(source[GENOME_CHECKSUM], target[GENOME_CHECKSUM], individual_count)
        expected = target[GENOME_CHECKSUM] if checked else None
        _copy_rows(source["genomes"], target["genomes"], individual_count, expected=expected)
        if GENOME_CHECKSUM in target and not checked:  # a file from before the column: sum what it holds
            _checksum_rows(target["genomes"], target[GENOME_CHECKSUM], individual_count)
    target["generations/done"][0] = generations
    target.flush()


def _copy_rows(source, target, rows, block_bytes=64 << 20, expected=None):
    """Copy the first ``rows`` rows of one dataset, in blocks of bounded size.

    ``expected``: a dataset of row checksums (row_checksums) every copied row must match, so a
    damaged genome is refused here instead of carried into the salvaged file.
    """
    if source.shape[0] < rows:
        raise FileFormatError(
            source.file.filename, source.name, f"holds {source.shape[0]} rows, expected at least {rows}"
        )
    target.resize(rows, axis=0)
    row_bytes = max(1, int(np.prod(source.shape[1:], dtype=np.int64)) * source.dtype.itemsize)
    step = max(1, block_bytes // row_bytes)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        block = source[start:stop]
        if expected is not None:
            wrong = np.flatnonzero(row_checksums(block, expected.dtype) != expected[start:stop])
            if len(wrong):
                raise FileFormatError(
                    source.file.filename,
                    source.name.lstrip("/"),
                    f"row {start + int(wrong[0])} does not match its checksum in /{GENOME_CHECKSUM} (corrupt)",
                )
        target[start:stop] = block


def _checksum_rows(genomes, column, rows, block_bytes=64 << 20):
    """Fill ``column`` with the row_checksums of the first ``rows`` genome rows, in blocks of bounded size."""
    column.resize(rows, axis=0)
    step = max(1, block_bytes // max(1, 4 * genomes.shape[1]))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        column[start:stop] = row_checksums(genomes[start:stop], column.dtype)


def _read_text(handle, name, path):
    """Read a scalar string dataset as str, checked against its checksum."""
    dataset = handle[name]
    return checked_texts(dataset, path, name, [dataset[()]])[0]


def _as_bytes(value):
    """Encode str to UTF-8, pass bytes through."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _as_str(value):
    """Decode bytes to str, pass str through."""
    return value.decode() if isinstance(value, bytes) else str(value)
