"""Read a run file (``RUN_DIR/run.h5``): the one reader every consumer of a run uses.

The reader sees a consistent snapshot: only ``/generations`` rows below ``/generations/done``
and ``/individuals`` rows below ``individual_count[done - 1]`` are visible, so a file still
being written (SWMR) or cut off by a crash mid-generation reads as its last committed
generation. ``refresh()`` moves the snapshot forward while a writer keeps appending.

Genomes: a file written with ``genomes = "full"`` (and every schema-1 file) stores each row in
``/genomes``; with ``genomes = "seeds"`` ``genome``/``genomes`` rebuild them from the run's
seeds and ``/rebuild`` (``evosandbox.runfile.rebuild``), checked against their checksums.
"""

import os

import h5py
import numpy as np

from evosandbox.errors import FileFormatError
from evosandbox.runfile.common import check_schema, open_for_reading, read_attr_str
from evosandbox.runfile.run_write import (
    GENOME_CHECKSUM,
    OPERATOR_NAMES,
    OTHER_EXCLUDES_PROXY,
    checked_texts,
    row_checksums,
    stored_individual_names,
    stored_test_worlds,
)

RUN_FORMAT = "evosandbox-run"
SUPPORTED_SCHEMAS = frozenset({1, 2})
RUN_FILE_NAME = "run.h5"
INDIVIDUAL_COLUMNS = ("id", "generation", "parent_1", "parent_2", "operator", "fitness", "outcomes")
# Genome reads go through contiguous slabs of at most this many bytes (memory stays bounded);
# ids sparser than one in _SPARSE_STRIDE rows are read by row selection instead.
_SLAB_BYTES = 16 << 20
_SPARSE_STRIDE = 16
_SPARSE_ROWS = 1024
_DAMAGED = "unreadable: the file is damaged (its HDF5 object header fails its checksum)"


def run_file_path(path_or_run_dir):
    """Return the run file path for a RUN_DIR or a .h5 path."""
    path = os.fspath(path_or_run_dir)
    if os.path.isdir(path):
        return os.path.join(path, RUN_FILE_NAME)
    return path


class RunReader:
    """Read the committed part of a run file, safely while another process still writes it.

    Args:
        path_or_run_dir: a RUN_DIR (its run.h5 is read) or the path of a run file.
        swmr: open as an SWMR reader (needed for a file being written or left open by a crash).

    Raises:
        FileFormatError: the file is missing, not HDF5, foreign, of another schema version, or
            lacks a dataset the layout requires (the message names the file and the field).
    """

    def __init__(self, path_or_run_dir, swmr=True):
        """Open the run file, check its format and schema, and take the first snapshot."""
        self.path = run_file_path(path_or_run_dir)
        self.swmr = bool(swmr)
        self.handle = _open(self.path, self.swmr)
        try:
            self.schema_version = check_schema(self.handle, self.path, SUPPORTED_SCHEMAS)
            self.genome_storage = read_attr_str(self.handle, "genome_storage", "full")
            self._rebuild = None
            for name in ("generations/done", "generations/individual_count", "individuals/id", "genomes"):
                self._dataset(name)
            self.refresh()
        except BaseException:
            self.handle.close()
            raise

    def __enter__(self):
        """Return the reader."""
        return self

    def __exit__(self, *exc_info):
        """Close the file."""
        self.close()

    def close(self):
        """Close the file (idempotent)."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    # -- snapshot -----------------------------------------------------------------------------

    def refresh(self):
        """Re-read the committed counts (SWMR readers see rows appended since the last call).

        Returns:
            The number of committed generations.
        """
        done_dataset = self._dataset("generations/done")
        done = self._read(done_dataset, "generations/done")
        if done.shape != (1,) or int(done[0]) < 0:
            raise FileFormatError(
                self.path, "generations/done", f"expected one non-negative count, found {done.tolist()}"
            )
        done = int(done[0])
        counts_dataset = self._dataset("generations/individual_count")
        if counts_dataset.shape[0] < done:
            raise FileFormatError(
                self.path,
                "generations/individual_count",
                f"{counts_dataset.shape[0]} rows, but done says {done} generations are committed",
            )
        individual_count = (
            int(self._read(counts_dataset, "generations/individual_count", slice(done - 1, done))[0]) if done else 0
        )
        stored = (
            ("individuals/id", "genomes") if self.genome_storage != "seeds" else ("individuals/id", "individuals/rank")
        )
        for name in stored:
            rows = self._dataset(name).shape[0]
            if rows < individual_count:
                raise FileFormatError(
                    self.path,
                    name,
                    f"{rows} rows, but generation {done - 1} committed {individual_count} (truncated file)",
                )
        self._committed_generations = done
        self._individual_count = individual_count
        self._rebuild = None  # the next rebuild reads the new snapshot
        return done

    @property
    def committed_generations(self):
        """Number of generations written completely (``/generations/done``)."""
        return self._committed_generations

    @property
    def individual_count(self):
        """Number of individuals committed (rows of ``/individuals`` a reader may trust)."""
        return self._individual_count

    @property
    def genome_length(self):
        """Genes per genome (columns of ``/genomes``)."""
        return int(self._dataset("genomes").shape[1])

    @property
    def population_size(self):
        """The run's population size (root attribute)."""
        return int(self.handle.attrs.get("population_size", 0))

    @property
    def seed(self):
        """The run's seed (root attribute)."""
        return int(self.handle.attrs.get("seed", 0))

    @property
    def parent_1_is_line_parent(self):
        """Whether the writer recorded, for every two-parent child, the parent sharing more genes first."""
        return bool(self.handle.attrs.get("parent_1_is_line_parent", False))

    @property
    def software_version(self):
        """The evosandbox version that wrote the run."""
        return read_attr_str(self.handle, "software_version", "")

    # -- individuals ----------------------------------------------------------------------------

    def column(self, name):
        """Return one committed ``/individuals`` column (e.g. ``"parent_1"``, ``"fitness"``).

        Args:
            name: a column name under ``/individuals`` (the ``individuals/`` prefix is optional).

        Returns:
            A numpy array with ``individual_count`` rows.
        """
        field = name if name.startswith("individuals/") else f"individuals/{name}"
        dataset = self._dataset(field)
        if dataset.shape[0] < self._individual_count:
            raise FileFormatError(
                self.path,
                field,
                f"{dataset.shape[0]} rows, expected at least {self._individual_count} (truncated file)",
            )
        return self._read(dataset, field, slice(0, self._individual_count))

    def columns(self, names):
        """Return a dict of committed ``/individuals`` columns, reading only those named."""
        return {name: self.column(name) for name in names}

    def genome(self, individual_id):
        """Return the genome of one committed individual as float32 (G,)."""
        return self.genomes([individual_id])[0]

    def genomes(self, ids):
        """Return the genomes of committed individuals, in the order given, as float32 (n, G).

        Args:
            ids: individual ids (row numbers), any order, repeats allowed.

        Returns:
            float32 array (len(ids), G).
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        dataset = self._dataset("genomes")
        result = np.empty((len(ids), dataset.shape[1]), np.float32)
        if not len(ids):
            return result
        if ids.min() < 0 or ids.max() >= self._individual_count:
            bad = ids[(ids < 0) | (ids >= self._individual_count)][0]
            raise FileFormatError(
                self.path, "genomes", f"no committed individual {int(bad)} (committed: {self._individual_count})"
            )
        if self.genome_storage == "seeds":
            from evosandbox.runfile.rebuild import rebuild_genomes

            return rebuild_genomes(self.rebuild_source(), self.algorithm, ids)
        unique, inverse = np.unique(ids, return_inverse=True)
        rows = np.empty((len(unique), dataset.shape[1]), np.float32)
        slab_rows = max(1, _SLAB_BYTES // max(1, 4 * dataset.shape[1]))
        start = 0
        while start < len(unique):
            first = int(unique[start])
            stop = int(np.searchsorted(unique, first + slab_rows, side="left"))
            chosen = unique[start:stop]
            span = int(chosen[-1]) - first + 1
            if len(chosen) * _SPARSE_STRIDE < span:
                # Scattered ids (a line of descent through a large run): select rows, not a slab.
                stop = min(stop, start + _SPARSE_ROWS)
                chosen = unique[start:stop]
                rows[start:stop] = self._read(
                    dataset, "genomes", chosen.tolist() if len(chosen) > 1 else slice(first, first + 1)
                )
            else:
                slab = self._read(dataset, "genomes", slice(first, first + span))
                rows[start:stop] = slab[chosen - first]
            start = stop
        self._check_rows(unique, rows)
        result[:] = rows[inverse]
        return result

    def genome_rows(self, start, stop):
        """Return the genomes of ids ``start`` to ``stop - 1`` (committed rows only) as float32."""
        stop = min(int(stop), self._individual_count)
        if self.genome_storage == "seeds":
            return self.genomes(np.arange(int(start), max(int(start), stop)))
        rows = self._read(self._dataset("genomes"), "genomes", slice(int(start), max(int(start), stop)))
        self._check_rows(np.arange(int(start), int(start) + len(rows)), rows)
        return rows

    def _check_rows(self, ids, rows):
        """Raise FileFormatError unless stored genome rows (rising ids) match /individuals/genome_checksum.

        Files written before the column existed have nothing to check against.
        """
        if not len(ids) or GENOME_CHECKSUM not in self.handle:
            return
        dataset = self._dataset(GENOME_CHECKSUM)
        first, last = int(ids[0]), int(ids[-1])
        if dataset.shape[0] <= last:
            raise FileFormatError(
                self.path, GENOME_CHECKSUM, f"{dataset.shape[0]} rows, expected {last + 1} (truncated file)"
            )
        expected = self._read(dataset, GENOME_CHECKSUM, slice(first, last + 1))[np.asarray(ids) - first]
        wrong = np.flatnonzero(row_checksums(rows, expected.dtype) != expected)
        if len(wrong):
            raise FileFormatError(
                self.path,
                "genomes",
                f"the stored genome of individual {int(ids[wrong[0]])} does not match its checksum "
                f"in /{GENOME_CHECKSUM} (corrupt file)",
            )

    @property
    def algorithm(self):
        """The name of the run's algorithm (root attribute; empty when not recorded)."""
        return read_attr_str(self.handle, "algorithm", "")

    def rebuild_source(self):
        """Return the checked RebuildSource of this snapshot (genomes = "seeds" files only)."""
        from evosandbox.runfile.rebuild import RebuildSource

        if self._rebuild is None:
            self._require_open()
            self._rebuild = RebuildSource(self.handle, self.path, self._committed_generations, self.generation_bounds())
        return self._rebuild

    # -- generations and tests ------------------------------------------------------------------

    def generations(self):
        """Return a dict of the committed ``/generations`` columns (``done`` excluded)."""
        group = self._group("generations")
        result = {}
        for name, dataset in group.items():
            if dataset is None:  # h5py's get gives None for an object whose header is damaged
                raise FileFormatError(self.path, f"generations/{name}", _DAMAGED)
            if name == "done" or not isinstance(dataset, h5py.Dataset):
                continue
            if dataset.shape[0] < self._committed_generations:
                raise FileFormatError(
                    self.path, f"generations/{name}", f"{dataset.shape[0]} rows, expected {self._committed_generations}"
                )
            result[name] = self._read(dataset, f"generations/{name}", slice(0, self._committed_generations))
        return result

    def generation_bounds(self):
        """Return int64 (generations + 1,): generation g's individuals are ids bounds[g]..bounds[g+1]-1."""
        counts = self._read(
            self._dataset("generations/individual_count"),
            "generations/individual_count",
            slice(0, self._committed_generations),
        )
        return np.concatenate([[0], counts.astype(np.int64)])

    def champion_id(self):
        """Return the champion (hall-of-fame best) of the last committed generation."""
        if not self._committed_generations:
            raise FileFormatError(self.path, "generations/done", "no generation committed yet")
        field = "generations/champion_id"
        done = self._committed_generations
        return int(self._read(self._dataset(field), field, slice(done - 1, done))[0])

    def tests(self):
        """Return a dict of the committed ``/tests`` columns (periodic test scores of champions).

        Rows scored in a generation after the last committed one are left out. An older file
        without ``/tests`` gives empty columns.
        """
        if "tests" not in self.handle:
            return {
                "id": np.zeros(0, np.int64),
                "generation": np.zeros(0, np.int32),
                "world": np.zeros(0, np.int32),
                "door_rate": np.zeros(0, np.float32),
                "proxy_rate": np.zeros(0, np.float32),
            }
        group = self._group("tests")
        columns = {}
        for name, dataset in group.items():
            if dataset is None:
                raise FileFormatError(self.path, f"tests/{name}", _DAMAGED)
            if isinstance(dataset, h5py.Dataset):
                columns[name] = self._read(dataset, f"tests/{name}")
        for name in ("id", "generation", "world"):
            if name not in columns:
                raise FileFormatError(self.path, f"tests/{name}", "missing dataset")
        if "other_rate" in columns and not group.attrs.get(OTHER_EXCLUDES_PROXY, False):
            # A file from before the fix counted the proxy in other_rate as well.
            columns["other_rate"] = columns["other_rate"] - columns["proxy_rate"]
        rows = min(len(values) for values in columns.values())
        last = self._last_generation()
        keep = np.flatnonzero(columns["generation"][:rows] <= last)
        return {name: values[:rows][keep] for name, values in columns.items()}

    def _last_generation(self):
        """Return the generation number of the last committed generation (-1 if none)."""
        if not self._committed_generations:
            return -1
        done = self._committed_generations
        field = "generations/generation"
        if field not in self.handle:
            return done - 1
        return int(self._read(self._dataset(field), field, slice(done - 1, done))[0])

    # -- texts and attributes -------------------------------------------------------------------

    @property
    def config_text(self):
        """The resolved experiment config (TOML text)."""
        return self._text("config")

    @property
    def train_world_text(self):
        """The training world spec (TOML text)."""
        return self._text("train_world")

    @property
    def genome_preset_text(self):
        """The genome preset (TOML text)."""
        return self._text("genome_preset")

    def specs(self):
        """Return (training WorldSpec, GenomeSpec) parsed from the texts stored in the run file.

        Raises FileFormatError naming the file and the dataset when a stored text is bad.
        """
        self._require_open()
        return parse_run_specs(self.handle, self.path)

    @property
    def test_world_texts(self):
        """The test world specs (TOML texts, one per test world)."""
        self._dataset("test_worlds")
        return stored_test_worlds(self.handle, self.path)[0]

    @property
    def test_world_names(self):
        """Names of the test worlds (index = the ``world`` column of ``/tests``)."""
        texts, names = stored_test_worlds(self.handle, self.path)
        return names if names is not None else tuple(f"test-world-{index}" for index in range(len(texts)))

    @property
    def objectives(self):
        """Names of the fitness objectives (column 0 = base objective)."""
        objectives, _ = stored_individual_names(self.handle, self.path)
        if objectives is None:
            raise FileFormatError(self.path, "individuals.attrs['objectives']", "missing attribute")
        return objectives

    @property
    def objective_weights(self):
        """Per objective +1 (maximise) or -1 (minimise)."""
        weights = self._group("individuals").attrs.get("weights")
        if weights is None:
            return tuple(1.0 for _ in self.objectives)
        return tuple(float(weight) for weight in np.atleast_1d(weights))

    @property
    def operator_names(self):
        """Names of the variation operators (index = the ``operator`` column's code)."""
        self._group("individuals")
        _, names = stored_individual_names(self.handle, self.path)
        return OPERATOR_NAMES if names is None else names

    # -- helpers ----------------------------------------------------------------------------------

    def _text(self, name):
        """Return a string dataset as str, checked against its checksum."""
        dataset = self._dataset(name)
        value = self._read(dataset, name)
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise FileFormatError(self.path, name, f"expected one string, found {value.size}")
            value = value.reshape(-1)[0]
        return checked_texts(dataset, self.path, name, [value])[0]

    def _group(self, name):
        """Return group ``name`` or raise FileFormatError naming it."""
        self._require_open()
        group = self.handle.get(name)
        if not isinstance(group, h5py.Group):
            raise FileFormatError(self.path, name, "missing group")
        return group

    def _dataset(self, name):
        """Return dataset ``name`` (refreshed when reading under SWMR) or raise FileFormatError."""
        self._require_open()
        try:
            dataset = self.handle.get(name)
        except (OSError, KeyError, RuntimeError) as error:
            raise FileFormatError(self.path, name, f"unreadable ({_first_line(error)})") from None
        if not isinstance(dataset, h5py.Dataset):
            raise FileFormatError(
                self.path, name, _DAMAGED if dataset is None and name in self.handle else "missing dataset"
            )
        if self.swmr:
            try:
                dataset.refresh()
            except (OSError, RuntimeError, ValueError):
                pass  # a file not opened in SWMR mode has nothing to refresh
        return dataset

    def _read(self, dataset, field, selection=()):
        """Read ``dataset[selection]``, turning an HDF5 read failure into FileFormatError."""
        try:
            return dataset[selection]
        except (OSError, RuntimeError, ValueError, TypeError) as error:
            raise FileFormatError(self.path, field, f"unreadable ({_first_line(error)})") from None

    def _require_open(self):
        """Raise ValueError when the reader was closed."""
        if self.handle is None:
            raise ValueError("the run reader is closed")


def parse_run_specs(handle, path):
    """Return (training WorldSpec, GenomeSpec) parsed from an open run file's stored texts."""
    import tomllib

    from evosandbox.config import parse_world
    from evosandbox.errors import ConfigError
    from evosandbox.genomes import parse_genome_preset

    specs = []
    for name, parse in (("train_world", parse_world), ("genome_preset", parse_genome_preset)):
        dataset = handle.get(name)
        if dataset is None:
            raise FileFormatError(path, name, "missing dataset")
        text = checked_texts(dataset, path, name, [dataset[()]])[0]
        try:
            specs.append(parse(tomllib.loads(text), f"{path}:/{name}", text))
        except tomllib.TOMLDecodeError as error:
            raise FileFormatError(path, name, f"malformed TOML: {error}") from None
        except ConfigError as error:
            raise FileFormatError(path, f"{name}: {error.field}" if error.field else name, error.message) from None
    return tuple(specs)


def _open(path, swmr):
    """Open the run file; retry as an SWMR reader when a crashed writer left it marked open."""
    try:
        return open_for_reading(path, RUN_FORMAT, swmr=swmr)
    except FileFormatError as error:
        # A writer that died without closing leaves the file flagged "open for write"; an SWMR
        # reader may still read everything it committed.
        if swmr or "already open for write" not in error.message:
            raise
        return open_for_reading(path, RUN_FORMAT, swmr=True)


def _first_line(error):
    """Return the first line of an exception message."""
    return (str(error).splitlines() or [type(error).__name__])[0][:120]
