"""Read and write genome files (genomes/*.h5): one genome, its encoding preset and provenance.

Layout (docs/architecture.md, schema_version 1): root attributes ``format="evosandbox-genome"``,
``schema_version``, ``software_version``, ``created``, ``encoding``; string datasets
``/genome_preset`` (preset TOML text) and ``/train_world`` (world TOML text, when known);
``/genome`` float32 (G,); provenance attributes ``run``, ``id``, ``generation``, ``fitness``
where known. A genome file is self-contained: the preset and world texts inside it rebuild the
encoding that develops the genome, wherever the file is moved.
"""

import datetime
import os
import tomllib
from dataclasses import dataclass, field

import h5py
import numpy as np

from evosandbox import __version__
from evosandbox.atomic import atomic_output
from evosandbox.constants import FLOAT_DTYPE
from evosandbox.errors import ConfigError, FileFormatError
from evosandbox.runfile.common import LIBVER, check_schema, open_for_reading, read_attr_str

GENOME_FORMAT = "evosandbox-genome"
GENOME_SCHEMA_VERSION = 1
PROVENANCE_KEYS = ("run", "id", "generation", "fitness")
_STRING = h5py.string_dtype()


@dataclass
class GenomeFile:
    """A genome with the preset that encodes it, the world it was trained on, and its origin."""

    genome: np.ndarray
    """float32 (G,)."""
    genome_spec: object
    """The GenomeSpec parsed from the stored preset text."""
    train_world: object = None
    """The WorldSpec parsed from the stored world text, or None when not recorded."""
    provenance: dict = field(default_factory=dict)
    """Any of run (str), id (int), generation (int), fitness (float)."""
    path: str = ""
    software_version: str = ""
    created: str = ""

    def encoding(self, world_spec=None):
        """Return the Encoding that develops this genome (for ``world_spec`` or the training world)."""
        from evosandbox.genomes import make_encoding

        world = world_spec if world_spec is not None else self.train_world
        if world is None:
            raise FileFormatError(self.path, "train_world", "not recorded; pass the world the genome was evolved for")
        return make_encoding(self.genome_spec, world)


def write_genome(path, genome, genome_spec, train_world=None, run=None, id=None, generation=None, fitness=None):
    """Write one genome file, replacing any file at ``path`` atomically.

    Args:
        path: the genome file to create (its folder is created when missing).
        genome: float32 (G,) genes.
        genome_spec: the GenomeSpec (its ``source_text`` is stored).
        train_world: the WorldSpec the genome was evolved on (its ``source_text`` is stored).
        run, id, generation, fitness: provenance (the run folder, individual id, generation
            born, base-objective fitness), each stored when given.
    """
    path = os.fspath(path)
    genome = np.asarray(genome, dtype=FLOAT_DTYPE)
    if genome.ndim != 1:
        raise ValueError(f"a genome is one-dimensional, got shape {genome.shape}")
    if not genome_spec.source_text:
        raise ValueError("the genome preset has no source text to store")
    if train_world is not None:
        from evosandbox.genomes import make_encoding

        expected = make_encoding(genome_spec, train_world).genome_length
        if expected != len(genome):
            raise ValueError(
                f"genome has {len(genome)} genes, preset {genome_spec.name} on {train_world.name} needs {expected}"
            )
    with atomic_output(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as handle:
        handle.attrs["format"] = GENOME_FORMAT
        handle.attrs["schema_version"] = GENOME_SCHEMA_VERSION
        handle.attrs["software_version"] = __version__
        handle.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        handle.attrs["encoding"] = genome_spec.encoding
        handle.create_dataset("genome_preset", data=genome_spec.source_text, dtype=_STRING)
        if train_world is not None:
            handle.create_dataset("train_world", data=train_world.source_text, dtype=_STRING)
        handle.create_dataset("genome", data=genome)
        if run is not None:
            handle.attrs["run"] = str(run)
        if id is not None:
            handle.attrs["id"] = np.int64(id)
        if generation is not None:
            handle.attrs["generation"] = np.int64(generation)
        if fitness is not None:
            handle.attrs["fitness"] = np.float64(fitness)


def read_genome(path):
    """Read a genome file; raise FileFormatError (one line naming file and field) when it is bad.

    Args:
        path: a genome file written by ``write_genome``.

    Returns:
        GenomeFile.
    """
    from evosandbox.config import parse_world
    from evosandbox.genomes import make_encoding, parse_genome_preset

    path = os.fspath(path)
    with open_for_reading(path, GENOME_FORMAT) as handle:
        check_schema(handle, path, {GENOME_SCHEMA_VERSION})
        for name in ("genome_preset", "genome"):
            if name not in handle:
                raise FileFormatError(path, name, "missing")
        preset_text = _read_text(handle, path, "genome_preset")
        world_text = _read_text(handle, path, "train_world") if "train_world" in handle else None
        dataset = handle["genome"]
        if dataset.ndim != 1 or dataset.dtype.kind != "f":
            raise FileFormatError(path, "genome", f"expected a float32 vector, found {dataset.dtype} {dataset.shape}")
        genome = np.asarray(dataset[()], dtype=FLOAT_DTYPE)
        provenance = {}
        for key in PROVENANCE_KEYS:
            if key in handle.attrs:
                value = handle.attrs[key]
                provenance[key] = read_attr_str(handle, key) if key == "run" else value.item()
        encoding_name = read_attr_str(handle, "encoding", "")
        software_version = read_attr_str(handle, "software_version", "")
        created = read_attr_str(handle, "created", "")
    genome_spec = _parse_text(
        preset_text, path, "genome_preset", lambda data, where: parse_genome_preset(data, where, preset_text)
    )
    if encoding_name != genome_spec.encoding:
        raise FileFormatError(
            path, "encoding", f"attribute says {encoding_name!r}, the stored preset says {genome_spec.encoding!r}"
        )
    train_world = None
    if world_text is not None:
        train_world = _parse_text(
            world_text, path, "train_world", lambda data, where: parse_world(data, where, world_text)
        )
        expected = make_encoding(genome_spec, train_world).genome_length
        if expected != len(genome):
            raise FileFormatError(
                path, "genome", f"{len(genome)} genes, but the stored preset and world need {expected}"
            )
    return GenomeFile(genome, genome_spec, train_world, provenance, path, software_version, created)


def _read_text(handle, path, name):
    """Read a scalar string dataset as str."""
    value = handle[name][()]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise FileFormatError(path, name, "expected a text dataset")


def _parse_text(text, path, name, parse):
    """Parse stored TOML text with ``parse(data, where)``; report problems as FileFormatError."""
    where = f"{path}:/{name}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise FileFormatError(path, name, f"malformed TOML: {error}") from None
    try:
        return parse(data, where)
    except ConfigError as error:
        raise FileFormatError(
            path, name, error.message if not error.field else f"{error.field}: {error.message}"
        ) from None
