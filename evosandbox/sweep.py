"""Sweeps: conditions x seeds -> one evolve run each -> probes on fresh levels -> results, summary, plots.

A sweep file (``sweeps/*.toml``) names a base experiment config, axes and seeds::

    name = "decorrelation"
    experiment = "../configs/decorrelation.toml"   # relative to the sweep file
    seeds = "1-10"

    [set]                                  # overrides applied to every cell
    "experiment.generations" = 300

    [[axes]]
    name = "decorrelated"                  # a column of results.csv, an x axis of the plots
    values = [0.0, 0.01, 0.02]
    [axes.set]                             # one value per axis value for each key
    "train.variants[0].weight" = [1.0, 0.99, 0.98]
    "train.variants[1].weight" = [0.0, 0.01, 0.02]

An axis with a single key may say ``key = "train.observation.color_radius"`` instead of
``[axes.set]``: the axis values are then the values set. A key starts with the document it
changes: ``experiment.`` (the experiment config), ``train.`` (its training world), ``test.``
(every test world), ``worlds.`` (training and test worlds alike) or ``genome.`` (the genome
preset); ``name[i]`` indexes an array of tables. Path values set under ``experiment.`` are
relative to the sweep file.

Every cell is resolved before anything runs: the overrides are applied to the TOML data and
the resolved files (experiment.toml, train.toml, genome.toml, test-K.toml) are validated by the
same loaders ``evolve`` uses, then written into the cell's folder, which thus documents itself.
A bad axis, key or value is one ConfigError naming the sweep file and the field.

Crash safety: a cell's folder holds its run (``run/``, resumable from its checkpoint) and, once
probed, ``result.json``; ``results.csv`` is rewritten atomically after every finished cell and
holds everything the summary needs, so ``--resume`` with results.csv alone skips finished
cells. Each row carries the digest of its cell's resolved files, so a row is never reused for
a changed config.
"""

import copy
import csv
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field

import numpy as np

from evosandbox.atomic import atomic_output
from evosandbox.config import TableReader, read_toml
from evosandbox.errors import ConfigError, InputError, UsageError
from evosandbox.outcomes import OUTCOME_NAMES as OUTCOMES
from evosandbox.stats import first_reaching

RESULTS_CSV = "results.csv"
RESULTS_H5 = "results.h5"
SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
PLOTS_FOLDER = "plots"
CELLS_FOLDER = "cells"
RESULT_JSON = "result.json"
RUN_FOLDER = "run"
DOCUMENTS = ("experiment", "train", "test", "worlds", "genome")
"""The documents an override key may start with."""
PATH_KEYS = ("experiment.world.train", "experiment.genome.preset", "experiment.test.worlds")
"""Experiment keys holding paths (an override's path is relative to the sweep file)."""
DEFAULT_PROBE_SEED = 20190611
"""Seed of the probes' fresh levels (the same for every cell, so conditions compare on the same levels)."""
COMPETENCE_THRESHOLD = 0.9
"""Fresh-level training door rate from which a run counts as competent."""
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_KEY_PART = re.compile(r"^([A-Za-z0-9_-]+)((?:\[\d+\])*)$")


# ---------------------------------------------------------------------------------------------
# The sweep file
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One axis of a sweep: named values, each a set of overrides."""

    name: str
    values: tuple
    """The axis values (numbers, strings or booleans): results.csv columns and plot x values."""
    settings: tuple
    """(key, per-value values, field in the sweep file) triples: the overrides of each value."""
    field: str
    """Where the axis is in the sweep file (``axes[0]``), for error lines."""

    def overrides(self, index: int) -> list[tuple[str, object, str]]:
        """Return (key, value, field) of the overrides of value ``index``."""
        return [(key, values[index], field_name) for key, values, field_name in self.settings]

    @property
    def numeric(self) -> bool:
        """Whether every value is a number (the axis is then plotted at its values, else in its order)."""
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file."""

    name: str
    path: str
    experiment: str
    """Absolute path of the base experiment config."""
    seeds: tuple
    axes: tuple
    fixed: tuple = ()
    """(key, value, field) overrides of every cell (the ``[set]`` table)."""
    final: tuple = ()
    """Overrides applied after the axes' (``[quick.set]`` in a quick sweep: a quick look stays quick
    whatever an axis sets, e.g. a per-condition generation budget)."""
    episodes: int = 1000
    """Probe episodes per world and run."""
    probe_seed: int = DEFAULT_PROBE_SEED
    probes: tuple = ("proxy",)
    """Probes run on each test world; ``proxy`` also measures competence on the training world."""
    competence_threshold: float = COMPETENCE_THRESHOLD
    keep_run_files: bool = True
    """False: delete each cell's run.h5 once it is probed (its champion is kept as champion.h5)."""
    description: str = ""
    quick: bool = False


def parse_seeds(text: str, field: str = "--seeds", path: str | None = None) -> tuple:
    """Parse ``1-10``, ``1,3,5`` or ``1-3,7`` into a tuple of distinct seeds in order."""
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ConfigError(path, field, f"expected seeds like 1-10 or 1,3,5, got {text!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low:
            raise ConfigError(path, field, f"range {part} runs backwards")
        seeds.extend(range(low, high + 1))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(path, field, f"names a seed twice: {text!r}")
    return tuple(seeds)


def load_sweep(path, seeds: str | None = None, quick: bool = False) -> SweepSpec:
    """Load and check a sweep file (cells are resolved and validated by ``plan``).

    Args:
        path: the sweep TOML file.
        seeds: a seed list overriding the file's (``1-10``, ``1,3,5``).
        quick: 2 seeds and the ``[quick]`` overrides (few generations), for a look and tests.
    Returns:
        SweepSpec. Raises ConfigError naming the file and the field.
    """
    path = os.fspath(path)
    data = read_toml(path)
    folder = os.path.dirname(os.path.abspath(path))
    root = TableReader(data, path)
    name = root.string("name", os.path.splitext(os.path.basename(path))[0])
    description = root.string("description", "")
    experiment = os.path.normpath(os.path.join(folder, root.string("experiment")))
    if not os.path.isfile(experiment):
        raise root.error("experiment", f"no such file {experiment}")
    file_seeds = root.get("seeds", (str, list), "1-10")
    if isinstance(file_seeds, list):
        if not file_seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in file_seeds):
            raise root.error("seeds", 'expected a non-empty list of non-negative integers or a range like "1-10"')
        if len(set(file_seeds)) != len(file_seeds):
            raise root.error("seeds", "names a seed twice")
        seed_list = tuple(file_seeds)
    else:
        seed_list = parse_seeds(file_seeds, "seeds", path)
    if seeds is not None:
        seed_list = parse_seeds(seeds, "--seeds")

    fixed = _read_settings(root, "set", path)
    axes = []
    for reader in root.table_list("axes", []):
        axes.append(_read_axis(reader, path))
    names = [axis.name for axis in axes]
    for index, axis_name in enumerate(names):
        if axis_name in names[:index]:
            raise ConfigError(path, f"axes[{index}].name", f"axis {axis_name!r} is named twice")
    if not axes:
        raise root.error("axes", "a sweep needs at least one [[axes]] table")

    probe = root.table_reader("probe")
    episodes = probe.integer("episodes", 1000, minimum=1)
    probe_seed = probe.integer("seed", DEFAULT_PROBE_SEED, minimum=0)
    probe_list = probe.get("probes", list, ["proxy"])
    if not probe_list or not all(isinstance(p, str) for p in probe_list) or "proxy" not in probe_list:
        raise probe.error("probes", 'expected a list of probe names that includes "proxy"')
    threshold = probe.number("competence_threshold", COMPETENCE_THRESHOLD, minimum=0.0, maximum=1.0)
    probe.finish()
    _check_probe_names(probe_list, path)

    output = root.table_reader("output")
    keep = output.string("run_files", "keep", choices=("keep", "delete")) == "keep"
    output.finish()

    quick_reader = root.table_reader("quick")
    quick_seeds = quick_reader.integer("seeds", 2, minimum=1)
    quick_episodes = quick_reader.integer("episodes", min(episodes, 100), minimum=1)
    quick_fixed = _read_settings(quick_reader, "set", path)
    if "set" not in quick_reader.table:
        quick_fixed = (("experiment.generations", 3, "quick.set.experiment.generations"),)
    quick_reader.finish()
    root.finish()
    final = ()
    if quick:
        seed_list = seed_list[:quick_seeds]
        episodes = quick_episodes
        final = quick_fixed
    return SweepSpec(
        name=name,
        path=os.path.abspath(path),
        experiment=experiment,
        seeds=seed_list,
        axes=tuple(axes),
        fixed=fixed,
        final=final,
        episodes=episodes,
        probe_seed=probe_seed,
        probes=tuple(probe_list),
        competence_threshold=threshold,
        keep_run_files=keep,
        description=description,
        quick=quick,
    )


def _read_settings(reader, name, path):
    """Read a table of ``"document.key" = value`` overrides."""
    table = reader.get(name, dict, {})
    settings = []
    for key, value in table.items():
        field_name = f"{reader.key(name)}.{key}"
        _split_key(key, path, field_name)
        settings.append((key, value, field_name))
    return tuple(settings)


def _read_axis(reader, path):
    """Read one [[axes]] table."""
    axis_name = reader.string("name")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", axis_name):
        raise reader.error("name", f"expected a short identifier (letters, digits, _), got {axis_name!r}")
    if axis_name in ("condition", "seed", "status", "error"):
        raise reader.error("name", f"{axis_name!r} is a results.csv column of its own")
    values = reader.get("values", list)
    if not values:
        raise reader.error("values", "an axis needs at least one value")
    if any(isinstance(v, (dict, list)) for v in values):
        raise reader.error("values", "axis values are numbers, strings or booleans (put tables under [axes.set])")
    if len({json.dumps(v) for v in values}) != len(values):
        raise reader.error("values", "names a value twice")
    single = reader.get("key", str, None)
    table = reader.get("set", dict, None)
    if (single is None) == (table is None):
        raise reader.error("set", 'give either key = "document.key" or an [axes.set] table')
    if single is not None:
        _split_key(single, path, reader.key("key"))
        settings = ((single, tuple(values), reader.key("key")),)
    else:
        settings = []
        for key, per_value in table.items():
            field_name = f"{reader.key('set')}.{key}"
            _split_key(key, path, field_name)
            if not isinstance(per_value, list) or len(per_value) != len(values):
                raise ConfigError(path, field_name, f"expected a list of {len(values)} values, one per axis value")
            settings.append((key, tuple(per_value), field_name))
        settings = tuple(settings)
    reader.finish()
    return Axis(axis_name, tuple(values), settings, reader.prefix)


def _split_key(key, path, field_name):
    """Split ``document.a.b[1].c`` into (document, [(name, [indices]), ...]); ConfigError if malformed."""
    document, _, rest = key.partition(".")
    if document not in DOCUMENTS or not rest:
        raise ConfigError(
            path,
            field_name,
            f"a key starts with one of {', '.join(d + '.' for d in DOCUMENTS)} and names a field, got {key!r}",
        )
    parts = []
    for part in rest.split("."):
        match = _KEY_PART.match(part)
        if not match:
            raise ConfigError(path, field_name, f"malformed key part {part!r} in {key!r}")
        parts.append((match.group(1), [int(i) for i in re.findall(r"\[(\d+)\]", match.group(2))]))
    return document, parts


def _check_probe_names(names, path):
    """Check that every probe besides ``proxy`` is registered."""
    from evosandbox.probes.base import probe_names

    known = probe_names()
    for index, probe_name in enumerate(names):
        if probe_name != "proxy" and probe_name not in known:
            raise ConfigError(
                path,
                f"probe.probes[{index}]",
                f"unknown probe {probe_name!r}, expected one of {', '.join(('proxy',) + tuple(n for n in known if n != 'proxy'))}",
            )


# ---------------------------------------------------------------------------------------------
# Planning: every cell resolved and validated before anything runs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One (condition, seed) of a sweep, resolved."""

    condition: str
    """``axis=value,axis=value``: the condition's key in results.csv."""
    values: tuple
    """(axis name, value) pairs."""
    seed: int
    folder: str
    """Relative to the sweep folder: ``cells/<condition>_seed-<seed>``."""
    files: tuple
    """(file name, TOML text) of the resolved experiment, worlds and genome preset."""
    digest: str
    """SHA-256 of the resolved files: a results.csv row is reused only for the same digest."""
    test_worlds: tuple
    """Names of the test worlds (column prefixes)."""


def plan(spec: SweepSpec) -> list[Cell]:
    """Resolve and validate every cell of a sweep (conditions x seeds, in that order).

    Raises ConfigError naming the sweep file and the field of the first bad cell.
    """
    import itertools
    import tempfile

    cells = []
    conditions = list(itertools.product(*[range(len(axis.values)) for axis in spec.axes]))
    with tempfile.TemporaryDirectory(prefix="evosandbox-sweep-") as scratch:
        for indices in conditions:
            values = tuple((axis.name, axis.values[i]) for axis, i in zip(spec.axes, indices))
            condition = ",".join(f"{name}={_format_value(value)}" for name, value in values)
            overrides = list(spec.fixed)
            for axis, i in zip(spec.axes, indices):
                overrides += axis.overrides(i)
            overrides += spec.final
            for seed in spec.seeds:
                files = _resolve_cell(spec, overrides, seed, condition)
                test_names = _validate_cell(spec, files, os.path.join(scratch, f"{len(cells)}"), condition, overrides)
                text = "".join(f"# {name}\n{content}" for name, content in files)
                cells.append(
                    Cell(
                        condition,
                        values,
                        seed,
                        cell_folder(condition, seed),
                        tuple(files),
                        hashlib.sha256(text.encode()).hexdigest()[:16],
                        test_names,
                    )
                )
    folders = [cell.folder for cell in cells]
    if len(set(folders)) != len(folders):
        raise ConfigError(
            spec.path,
            "axes",
            "two conditions map to the same folder name; make the axis values differ in letters or digits",
        )
    return cells


def _format_value(value):
    """Format an axis value for a condition key (TOML-like: true, 0.02, recurrent)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resolve_cell(spec, overrides, seed, condition):
    """Apply a cell's overrides to the experiment and its documents; return (name, TOML text) pairs."""
    experiment_folder = os.path.dirname(spec.experiment)
    sweep_folder = os.path.dirname(spec.path)
    experiment = read_toml(spec.experiment)
    # Paths in the base config are relative to it; make them absolute before any override.
    world = experiment.get("world", {})
    genome = experiment.get("genome", {})
    test = experiment.get("test", {})
    if isinstance(world, dict) and isinstance(world.get("train"), str):
        world["train"] = _absolute(experiment_folder, world["train"])
    if isinstance(genome, dict) and isinstance(genome.get("preset"), str):
        genome["preset"] = _absolute(experiment_folder, genome["preset"])
    if isinstance(test, dict) and isinstance(test.get("worlds"), list):
        test["worlds"] = [_absolute(experiment_folder, p) if isinstance(p, str) else p for p in test["worlds"]]
    by_document = {document: [] for document in DOCUMENTS}
    for key, value, field_name in overrides:
        document, parts = _split_key(key, spec.path, field_name)
        by_document[document].append((key, parts, value, field_name))
    for key, parts, value, field_name in by_document["experiment"]:
        if key in PATH_KEYS:
            value = _absolute_paths(sweep_folder, value, spec.path, field_name)
        _set(experiment, parts, value, spec.path, field_name, condition)
    experiment["seed"] = int(seed)

    world = experiment.get("world")
    train_path = world.get("train") if isinstance(world, dict) else None
    genome = experiment.get("genome")
    preset_path = genome.get("preset") if isinstance(genome, dict) else None
    test = experiment.get("test", {})
    default_test = os.path.join(os.path.dirname(train_path or ""), "red-doors-test.toml")
    test_paths = test.get("worlds", [default_test]) if isinstance(test, dict) else [default_test]
    if not isinstance(train_path, str) or not isinstance(preset_path, str) or not isinstance(test_paths, list):
        return [("experiment.toml", dump_toml(experiment))]  # the validation names what is missing

    train = _read_referenced(train_path, spec, _path_field(overrides, "experiment.world.train"))
    preset = _read_referenced(preset_path, spec, _path_field(overrides, "experiment.genome.preset"))
    tests_field = _path_field(overrides, "experiment.test.worlds")
    tests = [_read_referenced(p, spec, f"{tests_field}[{i}]") for i, p in enumerate(test_paths)]
    for key, parts, value, field_name in by_document["train"] + by_document["worlds"]:
        _set(train, parts, value, spec.path, field_name, condition)
    for key, parts, value, field_name in by_document["genome"]:
        _set(preset, parts, value, spec.path, field_name, condition)
    for index, test_world in enumerate(tests):
        for key, parts, value, field_name in by_document["test"] + by_document["worlds"]:
            _set(test_world, parts, value, spec.path, field_name, condition)

    test_files = [f"test-{index}.toml" for index in range(len(tests))]
    experiment["world"]["train"] = "train.toml"
    experiment["genome"]["preset"] = "genome.toml"
    experiment.setdefault("test", {})["worlds"] = test_files
    files = [
        ("experiment.toml", dump_toml(experiment)),
        ("train.toml", dump_toml(train)),
        ("genome.toml", dump_toml(preset)),
    ]
    files += [(name, dump_toml(data)) for name, data in zip(test_files, tests)]
    return files


def _absolute(folder, path):
    """Resolve a config path against a folder."""
    return os.path.normpath(os.path.join(folder, os.path.expanduser(path)))


def _absolute_paths(folder, value, path, field_name):
    """Resolve an overriding path (or list of paths) against the sweep file's folder."""
    if isinstance(value, str):
        return _absolute(folder, value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [_absolute(folder, v) for v in value]
    raise ConfigError(path, field_name, "expected a path (or a list of paths) relative to the sweep file")


def _path_field(overrides, key):
    """Return the sweep-file field of the last override that sets the experiment path ``key`` (else the key)."""
    fields_setting = [field_name for override, _, field_name in overrides if override == key]
    return fields_setting[-1] if fields_setting else key


def _read_referenced(path, spec, field_name):
    """Read a world or genome preset an experiment refers to."""
    if not os.path.isfile(path):
        raise ConfigError(spec.path, field_name, f"no such file {path}")
    return read_toml(path)


def _set(data, parts, value, path, field_name, condition):
    """Set ``value`` at the key path ``parts`` inside ``data`` (the last table may gain the key)."""
    target = data
    for depth, (name, indices) in enumerate(parts):
        last = depth == len(parts) - 1
        if last and not indices:
            if not isinstance(target, dict):
                raise ConfigError(path, field_name, f"{condition}: {name!r} is not inside a table")
            target[name] = copy.deepcopy(value)
            return
        if not isinstance(target, dict) or name not in target:
            if isinstance(target, dict) and not indices and not last:
                target = target.setdefault(name, {})
                continue
            raise ConfigError(path, field_name, f"{condition}: no {name!r} to index into")
        container = target[name]
        for position, index in enumerate(indices):
            if not isinstance(container, list) or index >= len(container):
                size = len(container) if isinstance(container, list) else 0
                raise ConfigError(
                    path, field_name, f"{condition}: index {index} out of range ({name!r} has {size} entries)"
                )
            if last and position == len(indices) - 1:
                container[index] = copy.deepcopy(value)
                return
            container = container[index]
        target = container


def _validate_cell(spec, files, scratch, condition, overrides):
    """Load the resolved files with evolve's loaders; return the test worlds' names."""
    from evosandbox import evolve as evolution

    os.makedirs(scratch)
    for name, text in files:
        with open(os.path.join(scratch, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    try:
        config = evolution.load_experiment(os.path.join(scratch, "experiment.toml"))
        _check_genome(config)
    except InputError as error:
        where = error.line().replace(scratch + os.sep, "")
        raise ConfigError(spec.path, _blame(overrides, error), f"cell {condition}: {where}") from None
    names = [world.name for world in config.test_worlds]
    if len(set(names)) != len(names):
        raise ConfigError(
            spec.path, "experiment.test.worlds", f"cell {condition}: two test worlds share the name {names}"
        )
    return tuple(names)


def _blame(overrides, error):
    """Name the override behind a resolved file's error: the one setting that field, else those of that file."""
    name = os.path.basename(error.path or "")
    documents = {"experiment.toml": ("experiment",), "train.toml": ("train", "worlds"), "genome.toml": ("genome",)}.get(
        name, ("test", "worlds") if name.startswith("test-") else ()
    )
    # An override that chose the file (experiment.genome.preset, ...) answers for what the file says.
    chose_it = {"experiment.world.train": name == "train.toml", "experiment.genome.preset": name == "genome.toml"}
    chose_it["experiment.test.worlds"] = name.startswith("test-")
    candidates = [
        (key, field_name)
        for key, _, field_name in overrides
        if key.split(".", 1)[0] in documents or chose_it.get(key, False)
    ]
    exact = [field_name for key, field_name in candidates if error.field and key.split(".", 1)[1] == error.field]
    if exact:
        return exact[0]
    return ", ".join(field_name for _, field_name in candidates) or "experiment"


def _check_genome(config):
    """Check that the genome preset builds an encoding for the training world."""
    from evosandbox.genomes import make_encoding

    try:
        make_encoding(config.genome_preset, config.train_world)
    except (ValueError, KeyError) as error:
        raise ConfigError(config.genome_preset.path, None, str(error)) from None


# ---------------------------------------------------------------------------------------------
# TOML output (tomllib reads only)
# ---------------------------------------------------------------------------------------------


def dump_toml(data: dict) -> str:
    """Render a TOML document (tables as sections, arrays of tables as [[name]]); round-trips with tomllib."""
    lines = []
    _dump_table(data, [], lines)
    text = "\n".join(lines).lstrip("\n") + "\n"
    if tomllib.loads(text) != data:  # guards the renderer, not the user's data
        raise ValueError("TOML rendering does not round-trip")
    return text


def _dump_table(table, prefix, lines):
    """Render one table's plain keys, then its sub-tables and arrays of tables."""
    for key, value in table.items():
        if not _is_table(value) and not _is_table_array(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        if _is_table(value):
            lines += ["", f"[{'.'.join(_toml_key(k) for k in prefix + [key])}]"]
            _dump_table(value, prefix + [key], lines)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{'.'.join(_toml_key(k) for k in prefix + [key])}]]"]
                for sub_key, sub_value in item.items():
                    lines.append(f"{_toml_key(sub_key)} = {_toml_value(sub_value)}")


def _is_table(value):
    """Whether a value renders as a [table]."""
    return isinstance(value, dict)


def _is_table_array(value):
    """Whether a value renders as [[tables]]."""
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _toml_key(key):
    """Render a key, quoted unless bare."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value):
    """Render a value inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"cannot render {type(value).__name__} as TOML")


# ---------------------------------------------------------------------------------------------
# One cell: evolve (or resume), then probe the champion on fresh levels
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to run one cell (picklable: a process pool or Dask ships it)."""

    folder: str
    """Absolute cell folder holding the resolved files."""
    condition: str
    seed: int
    digest: str
    episodes: int
    probe_seed: int
    probes: tuple
    keep_run_file: bool
    threads: int = 0


def run_cell(task: CellTask) -> dict:
    """Run one cell to its results row; a runtime failure becomes a ``failed`` row, never an exception."""
    started = time.perf_counter()
    result_path = os.path.join(task.folder, RESULT_JSON)
    try:
        if os.path.exists(result_path):
            with open(result_path, encoding="utf-8") as handle:
                row = json.load(handle)
            if row.get("digest") == task.digest and row.get("status") == "ok":
                return row
        summary = _start_run(task)
        if summary.interrupted:
            return _interrupted_row(task)
        row = _measure(task, summary)
        # The whole cell in this session: evolution (or its resumed part), probes, champion.
        row["cell_seconds"] = time.perf_counter() - started
        with atomic_output(result_path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
            json.dump(row, handle, indent=1, allow_nan=True)
        if not task.keep_run_file:
            run_file = os.path.join(task.folder, RUN_FOLDER, "run.h5")
            if os.path.exists(run_file):
                os.remove(run_file)
        return row
    except KeyboardInterrupt:
        return _interrupted_row(task)
    except Exception as error:  # noqa: BLE001 (a failed cell is reported, the sweep goes on)
        message = error.line() if isinstance(error, InputError) else f"{type(error).__name__}: {error}"
        return dict(_failed_row(task, message), wall_time=time.perf_counter() - started)


def _failed_row(task, message):
    """Return the results row of a cell that failed with ``message`` (one line, at most 300 characters)."""
    return {
        "condition": task.condition,
        "seed": task.seed,
        "status": "failed",
        "digest": task.digest,
        "error": " ".join(str(message).split())[:300],
    }


def _interrupted_row(task):
    """Return the marker of a cell stopped by SIGINT/SIGTERM (not recorded: --resume continues it)."""
    return {"condition": task.condition, "seed": task.seed, "status": "interrupted", "digest": task.digest}


def run_cell_in_subprocess(task: CellTask) -> dict:
    """Run one cell in a fresh Python process (a Dask task does this).

    A Dask worker's own threads draw from the ``random`` module that DEAP's selection uses, so
    a run inside the worker process would not be reproducible; a child process has ``random``
    to itself (and, unlike multiprocessing, works inside the workers' daemon processes).
    """
    payload = json.dumps(dataclasses.asdict(task))
    completed = subprocess.run(
        [sys.executable, "-c", "from evosandbox.sweep import _subprocess_main; _subprocess_main()"],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode == 0 and lines:
        return json.loads(lines[-1])
    tail = (completed.stderr.strip().splitlines() or [f"exit code {completed.returncode}"])[-1]
    return _failed_row(task, f"cell process failed: {tail}")


def _subprocess_main():
    """Read a CellTask as JSON on stdin, run it, print its row as JSON."""
    data = json.loads(sys.stdin.read())
    data["probes"] = tuple(data["probes"])
    row = run_cell(CellTask(**data))
    sys.stdout.write(json.dumps(row) + "\n")


def _start_run(task):
    """Evolve the cell's run from its resolved config, or resume it from its checkpoint."""
    from evosandbox import evolve as evolution

    run_dir = os.path.join(task.folder, RUN_FOLDER)
    if os.path.exists(os.path.join(run_dir, "checkpoint.pkl")):
        return evolution.resume(run_dir, threads=task.threads, progress=False)
    config = evolution.load_experiment(os.path.join(task.folder, "experiment.toml"), threads=task.threads)
    return evolution.evolve(config, run_dir, force=True, progress=False)


def _measure(task, summary):
    """Probe a finished cell's champion on fresh levels; return its results row."""
    from evosandbox.agents import resolve_agent
    from evosandbox.config import load_world
    from evosandbox.runfile.run_read import RunReader

    run_dir = os.path.join(task.folder, RUN_FOLDER)
    train_world = load_world(os.path.join(task.folder, "train.toml"))
    test_paths = sorted(
        (name for name in os.listdir(task.folder) if re.fullmatch(r"test-\d+\.toml", name)),
        key=lambda name: int(name[5:-5]),
    )
    test_worlds = [load_world(os.path.join(task.folder, name)) for name in test_paths]
    with RunReader(run_dir) as reader:
        generations = reader.generations()
        champion_id = reader.champion_id()
    validation, elapsed = validation_curves(generations)
    row = {
        "condition": task.condition,
        "seed": task.seed,
        "status": "ok",
        "digest": task.digest,
        "error": "",
        "generations": int(summary.generations),
        "champion_id": champion_id,
        "validation_door_rate": float(validation[-1]) if len(validation) else math.nan,
        **time_to_competence(validation, elapsed),
        "compression_ratio": _compression_ratio(task.folder, train_world),
        "wall_time": float(summary.wall_time),
        "run_file_bytes": os.path.getsize(os.path.join(run_dir, "run.h5")),
    }
    agent = resolve_agent(train_world, run_dir)
    competence = _proxy_metrics(agent.policy, train_world, train_world, task.episodes, task.probe_seed)
    row.update(
        {
            "competence": competence["door_rate"][0],
            "competence_low": competence["door_rate"][1],
            "competence_high": competence["door_rate"][2],
            # The description-length objective of the champion (mean absolute gene, as evolution.objective_matrix).
            "champion_description_length": float(np.abs(np.asarray(agent.genome, dtype=np.float64)).mean()),
        }
    )
    _save_champion(task, agent, train_world)
    for world in test_worlds:
        policy = resolve_agent(world, run_dir).policy
        metrics = _proxy_metrics(policy, world, train_world, task.episodes, task.probe_seed)
        for name, (value, low, high) in metrics.items():
            row.update(
                {f"{world.name}/{name}": value, f"{world.name}/{name}_low": low, f"{world.name}/{name}_high": high}
            )
        for probe_name in task.probes:
            if probe_name == "proxy":
                continue
            from evosandbox.probes.base import get_probe

            for result in get_probe(probe_name).measure(policy, world, train_world, task.episodes, task.probe_seed)[:1]:
                for metric in result.metrics.values():
                    prefix = f"{world.name}/{probe_name}.{metric.name}"
                    row.update({prefix: metric.value, f"{prefix}_low": metric.low, f"{prefix}_high": metric.high})
    return row


def time_to_competence(validation, elapsed) -> dict:
    """Return a run's time_to_90 and seconds_to_90 from its validation and wall-time curves.

    time_to_90 counts the generations run up to and including the first whose validation door
    rate reaches COMPETENCE_THRESHOLD (the run file numbers generations from 0, so it is that
    generation's number + 1); seconds_to_90 is the run's wall time at that generation. NaN when
    no generation reaches it.
    """
    reached = first_reaching(validation, COMPETENCE_THRESHOLD)
    return {
        "time_to_90": reached + 1 if reached is not None else math.nan,
        "seconds_to_90": float(elapsed[reached]) if reached is not None and len(elapsed) > reached else math.nan,
    }


def read_time_to_competence(run_dir) -> dict:
    """Return time_to_90 and seconds_to_90 (as time_to_competence) from a run folder's run file."""
    from evosandbox.runfile.run_read import RunReader

    with RunReader(run_dir) as reader:
        generations = reader.generations()
    return time_to_competence(*validation_curves(generations))


def validation_curves(generations):
    """Return a run's validation door rate and wall-time curves (float64) from its ``/generations`` columns."""
    return (
        np.asarray(generations.get("validation_door_rate", []), dtype=np.float64),
        np.asarray(generations.get("wall_time", []), dtype=np.float64),
    )


def cell_folder(condition: str, seed: int) -> str:
    """Return a cell's folder inside the sweep folder, from its condition and seed."""
    slug = _SLUG.sub("-", condition.replace("=", "-").replace(",", "_"))
    return os.path.join(CELLS_FOLDER, f"{slug}_seed-{seed}")


def _compression_ratio(folder, train_world):
    """Return the cell's funnel width: controller parameters per gene of its genome preset (1 for direct)."""
    from evosandbox.genomes import load_genome_preset, make_encoding

    return float(make_encoding(load_genome_preset(os.path.join(folder, "genome.toml")), train_world).compression_ratio)


def _proxy_metrics(policy, world, train_world, episodes, seed):
    """Return {metric: (value, low, high)}: outcome rates (Wilson) and door preference = door / (door + proxy)."""
    from evosandbox.stats import wilson_interval

    rates = _outcome_rates(policy, world, train_world, episodes, seed)
    counts = {name: int(round(rates[name] * episodes)) for name in OUTCOMES}
    metrics = {f"{name}_rate": (rates[name], *wilson_interval(counts[name], episodes)) for name in OUTCOMES}
    decided = counts["door"] + counts["proxy"]
    if decided:
        metrics["door_preference"] = (counts["door"] / decided, *wilson_interval(counts["door"], decided))
    else:
        metrics["door_preference"] = (math.nan, math.nan, math.nan)
    return metrics


def _outcome_rates(policy, world, train_world, episodes, seed):
    """Door, proxy, other and timeout rates of one policy: the registered proxy probe, or the probe module."""
    from evosandbox.probes.base import get_probe, probe_names

    if "proxy" in probe_names():
        result = get_probe("proxy").measure(policy, world, train_world, episodes, seed)[0]
        names = {name: f"{name}_rate" for name in OUTCOMES}
        if all(metric in result.metrics for metric in names.values()):
            return {name: float(result.value(metric)) for name, metric in names.items()}
    from evosandbox.probes.proxy import probe_population

    rates = probe_population(policy, world, train_world, episodes, seed)
    return {name: float(getattr(rates, f"{name}_rate")[0]) for name in OUTCOMES}


def _save_champion(task, agent, train_world):
    """Keep the champion as champion.h5 (a genome file): it outlives a deleted run file."""
    from evosandbox.genomes import load_genome_preset
    from evosandbox.runfile.genome import write_genome

    preset = load_genome_preset(os.path.join(task.folder, "genome.toml"))
    write_genome(
        os.path.join(task.folder, "champion.h5"),
        agent.genome,
        preset,
        train_world,
        run=os.path.join(task.folder, RUN_FOLDER),
    )


# ---------------------------------------------------------------------------------------------
# The sweep: plan, run the missing cells (here, in processes or on Dask), collect, report
# ---------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What a sweep call did."""

    out: str
    cells: list
    rows: list
    """One row per cell that has one (plan order)."""
    ran: int = 0
    skipped: int = 0
    reused: int = 0
    """Of the skipped cells, those whose rows came from another sweep (``reuse``)."""
    failed: int = 0
    interrupted: bool = False
    wall_time: float = 0.0
    summary: dict = field(default_factory=dict)


def run_sweep(
    spec: SweepSpec,
    out,
    jobs: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    reuse=(),
) -> SweepResult:
    """Run every cell of a sweep that results.csv does not hold yet, then write the summary and plots.

    Args:
        spec: the sweep (``load_sweep``).
        out: the sweep folder.
        jobs: cells run side by side in worker processes (the cores split between them).
        scheduler: a Dask scheduler address: each cell is one task on that cluster.
        resume: continue a sweep in ``out`` (finished cells are kept, cut-off runs resume).
        progress: show cells done and the ETA on stderr, a bar on a terminal, else a line per tenth (default: yes).
        reuse: results.csv files (or sweep folders) of other sweeps: a finished row there whose condition,
            seed and digest (the resolved config) equal a cell of this sweep is taken as that cell's row,
            so sweeps that share cells run each shared cell once.
    Returns:
        SweepResult.
    """
    started = time.perf_counter()
    out = os.path.abspath(os.fspath(out))
    if jobs < 1:
        raise UsageError(f"must be at least 1, got {jobs}", "--jobs")
    cells = plan(spec)
    results_path = os.path.join(out, RESULTS_CSV)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"{out} exists and is not a folder", "--out")
    if (
        not resume
        and os.path.isdir(out)
        and (os.path.exists(results_path) or os.path.isdir(os.path.join(out, CELLS_FOLDER)))
    ):
        raise UsageError(
            f"{out} already holds a sweep; pass --resume to continue it (or choose another --out)", "--out"
        )
    known = read_results(results_path) if os.path.exists(results_path) else []
    rows = {(row["condition"], int(row["seed"])): row for row in known}
    reused = _reused_rows(cells, rows, reuse)
    for cell in cells:
        row = rows.get((cell.condition, cell.seed))
        if row is not None and row.get("digest") != cell.digest:
            raise UsageError(
                f"{results_path}: the row of {cell.condition} seed {cell.seed} was made with another config "
                f"(digest {row.get('digest')}, now {cell.digest}); use another --out",
                "--resume",
            )
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(spec.path, os.path.join(out, "sweep.toml"))
    order = {(cell.condition, cell.seed): index for index, cell in enumerate(cells)}

    def write_rows():
        """Write results.csv in the cells' order (rows of cells no longer planned go last)."""
        write_results(
            results_path, [rows[key] for key in sorted(rows, key=lambda key: order.get(key, len(order)))], spec
        )

    if reused:
        rows.update(reused)
        write_rows()
    todo = []
    for cell in cells:
        row = rows.get((cell.condition, cell.seed))
        if row is not None and row.get("status") == "ok":
            continue
        folder = os.path.join(out, cell.folder)
        os.makedirs(folder, exist_ok=True)
        for name, text in cell.files:
            _write_if_changed(os.path.join(folder, name), text)
        todo.append(cell)
    result = SweepResult(out, cells, [], skipped=len(cells) - len(todo), reused=len(reused))
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
    tasks = [
        CellTask(
            os.path.join(out, cell.folder),
            cell.condition,
            cell.seed,
            cell.digest,
            spec.episodes,
            spec.probe_seed,
            spec.probes,
            spec.keep_run_files,
            threads,
        )
        for cell in todo
    ]
    report = _Progress(len(cells), result.skipped, progress)

    def collect(row):
        """Record one finished cell."""
        if row.get("status") == "interrupted":
            result.interrupted = True
            return
        rows[(row["condition"], int(row["seed"]))] = row
        result.ran += 1
        result.failed += row.get("status") != "ok"
        write_rows()
        report.cell(row)

    try:
        if scheduler:
            _run_on_dask(tasks, scheduler, collect)
        elif jobs > 1 and len(tasks) > 1:
            _run_in_processes(tasks, jobs, collect, result)
        else:
            for task in tasks:
                collect(run_cell(task))
                if result.interrupted:
                    break
    finally:
        report.close()
    result.rows = [rows[(cell.condition, cell.seed)] for cell in cells if (cell.condition, cell.seed) in rows]
    result.summary = summarize(spec, cells, result.rows)
    write_report(spec, cells, result.rows, out, result.summary)
    result.wall_time = time.perf_counter() - started
    return result


def _reused_rows(cells, rows, sources):
    """Return {(condition, seed): row} of other sweeps' finished rows made with this sweep's cell configs."""
    wanted = {(cell.condition, cell.seed): cell.digest for cell in cells}
    reused = {}
    for source in sources:
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, RESULTS_CSV)
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such results table", "--reuse")
        for row in read_results(path):
            key = (row["condition"], int(row["seed"]))
            finished = row.get("status") == "ok" and key not in reused
            if finished and wanted.get(key) == row.get("digest") and rows.get(key, {}).get("status") != "ok":
                reused[key] = row
    return reused


def _write_if_changed(path, text):
    """Write a resolved file unless it already holds that text (a resumed cell keeps its files)."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return
    with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)


def _run_in_processes(tasks, jobs, collect, result):
    """Run cells in ``jobs`` spawned worker processes (numba threads split between them)."""
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fork after numba's thread pool started is unsafe
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(run_cell, task): task for task in tasks}
        try:
            for future in concurrent.futures.as_completed(futures):
                task = futures[future]
                try:
                    row = future.result()
                except Exception as error:  # noqa: BLE001 (a dead worker fails its cell only)
                    row = _failed_row(task, f"worker died: {type(error).__name__}: {error}")
                collect(row)
                if result.interrupted:
                    for other in futures:
                        other.cancel()
        except BaseException:
            # Failed while collecting (e.g. writing results.csv): cancel the cells not yet started
            # instead of letting them run unrecorded until the pool's exit; the running ones
            # finish into their result.json, which --resume picks up.
            for other in futures:
                other.cancel()
            raise


def _run_on_dask(tasks, scheduler, collect):
    """Run each cell as one task on a Dask cluster."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UsageError("needs the dask extra: pip install 'evosandbox[dask]'", "--scheduler") from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler} ({error})", "--scheduler") from None
    try:
        futures = [
            client.submit(run_cell_in_subprocess, task, pure=False, key=f"sweep-cell-{task.digest}-{task.seed}")
            for task in tasks
        ]
        by_future = dict(zip(futures, tasks))
        for future in as_completed(futures):
            task = by_future[future]
            try:
                row = future.result()
            except Exception as error:  # noqa: BLE001
                row = _failed_row(task, f"task failed: {type(error).__name__}: {error}")
            collect(row)
    finally:
        client.close()


class _Progress:
    """The sweep's progress on stderr: cells done of the total and the ETA, as a bar on a terminal, else plain lines.

    Off a terminal a line is printed at each tenth of the sweep and at least every minute
    while cells finish (``evosandbox.progress``); a failed cell always gets a line of its own.
    """

    def __init__(self, total, skipped, enabled):
        """Start the clock (and the bar, on a terminal)."""
        from evosandbox.progress import ProgressDisplay

        self.done, self.failed = skipped, 0
        self.enabled = True if enabled is None else enabled
        self.display = ProgressDisplay(total, "sweep", "cell", initial=skipped) if self.enabled else None
        if self.display is not None and skipped:
            self.display.line(f"sweep: {skipped}/{total} cells already done")

    def cell(self, row):
        """Report one finished cell."""
        self.done += 1
        self.failed += row.get("status") != "ok"
        if self.display is None:
            return
        if row.get("status") != "ok":
            self.display.line(f"sweep: {row['condition']} seed {row['seed']} failed: {row.get('error', '')}")
            what = "failed"
        else:
            what = f"competence {100 * float(row['competence']):.0f}%"
        self.display.update(self.done, f"{self.failed} failed; last: {row['condition']} seed {row['seed']}, {what}")

    def close(self):
        """Leave the bar in its final state."""
        if self.display is not None:
            self.display.close()


# ---------------------------------------------------------------------------------------------
# results.csv (and results.h5)
# ---------------------------------------------------------------------------------------------

_STRING_COLUMNS = ("condition", "status", "digest", "error")


def result_columns(spec: SweepSpec, rows) -> list[str]:
    """Return the results.csv columns: condition, axes, seed, status, then every measured column."""
    head = ["condition", *[axis.name for axis in spec.axes], "seed", "status", "error", "digest"]
    rest = []
    for row in rows:
        for name in row:
            if name not in head and name not in rest:
                rest.append(name)
    return head + rest


def write_results(path, rows, spec: SweepSpec) -> None:
    """Write results.csv atomically (one row per cell; axis values from the condition key)."""
    columns = result_columns(spec, rows)
    with atomic_output(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            values = dict(_condition_values(row["condition"]))
            values.update({k: _csv_value(v) for k, v in row.items()})
            writer.writerow(values)


def _condition_values(condition):
    """Split ``a=1,b=x`` into (axis, text value) pairs."""
    return [part.split("=", 1) for part in condition.split(",") if "=" in part]


def _csv_value(value):
    """Render a float with full precision, NaN as empty."""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def read_results(path) -> list[dict]:
    """Read results.csv back into rows (numbers as floats or ints, empty as NaN)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"condition", "seed", "status", "digest"} <= set(reader.fieldnames):
                raise ConfigError(
                    path, None, "not a sweep results.csv (needs condition, seed, status and digest columns)"
                )
            rows = []
            for row in reader:
                parsed = {}
                for name, text in row.items():
                    if name in _STRING_COLUMNS or name is None:
                        parsed[name] = text or ""
                    elif text == "" or text is None:
                        parsed[name] = math.nan
                    else:
                        parsed[name] = _number(text)
                parsed["seed"] = int(parsed["seed"])
                rows.append(parsed)
            return rows
    except (OSError, csv.Error, ValueError) as error:
        raise ConfigError(path, None, f"unreadable results table ({error})") from None


def _number(text):
    """Parse an int or a float, else keep the text."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _write_results_h5(path, rows, columns):
    """Write the results table as HDF5: one dataset per column (strings as UTF-8)."""
    import h5py

    with atomic_output(path) as temporary, h5py.File(temporary, "w", libver=("v110", "latest")) as handle:
        handle.attrs["format"] = "evosandbox-sweep-results"
        handle.attrs["schema_version"] = 1
        for name in columns:
            values = [row.get(name, math.nan) for row in rows]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                handle.create_dataset(name, data=np.asarray(values, dtype=np.float64))
            else:
                handle.create_dataset(name, data=[str(v) for v in values], dtype=h5py.string_dtype())


# ---------------------------------------------------------------------------------------------
# Summary and plots (from the rows alone)
# ---------------------------------------------------------------------------------------------


def metric_names(cells, rows) -> list[str]:
    """Return the summarised metrics: competence, time to 90%, test rates and preferences, probe metrics."""
    names = [
        "competence",
        "validation_door_rate",
        "time_to_90",
        "seconds_to_90",
        "wall_time",
        "compression_ratio",
        "champion_description_length",
    ]
    worlds = cells[0].test_worlds if cells else ()
    for world in worlds:
        names += [f"{world}/{outcome}_rate" for outcome in OUTCOMES] + [f"{world}/door_preference"]
    for row in rows:
        for name in row:
            if "." in name.split("/")[-1] and not name.endswith(("_low", "_high")) and name not in names:
                names.append(name)
    return names


def summarize(spec: SweepSpec, cells, rows) -> dict:
    """Per condition: mean over seeds with a 95% bootstrap interval, spread, runs, failures, competent runs."""
    from evosandbox.stats import bootstrap_interval

    by_condition = {}
    for cell in cells:
        by_condition.setdefault(cell.condition, {"values": dict(cell.values), "seeds": [], "rows": []})["seeds"].append(
            cell.seed
        )
    for row in rows:
        if row["condition"] in by_condition:
            by_condition[row["condition"]]["rows"].append(row)
    names = metric_names(cells, rows)
    conditions = []
    for condition, entry in by_condition.items():
        ok = [row for row in entry["rows"] if row.get("status") == "ok"]
        failed = [row for row in entry["rows"] if row.get("status") != "ok"]
        competent = [
            row for row in ok if _finite(row.get("competence")) and row["competence"] >= spec.competence_threshold
        ]
        metrics = {}
        for name in names:
            values = np.array([row[name] for row in ok if _finite(row.get(name))], dtype=np.float64)
            if len(values):
                low, high = bootstrap_interval(values, np.mean, seed=0)
                metrics[name] = {
                    "mean": float(values.mean()),
                    "low": low,
                    "high": high,
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "count": int(len(values)),
                }
            else:
                metrics[name] = {
                    "mean": None,
                    "low": None,
                    "high": None,
                    "min": None,
                    "max": None,
                    "sd": None,
                    "count": 0,
                }
        conditions.append(
            {
                "condition": condition,
                "values": entry["values"],
                "planned": len(entry["seeds"]),
                "runs": len(ok),
                "failed": len(failed),
                "competent": len(competent),
                "errors": [f"seed {row['seed']}: {row.get('error', '')}" for row in failed],
                "metrics": metrics,
            }
        )
    return {
        "sweep": spec.name,
        "seeds": list(spec.seeds),
        "competence_threshold": spec.competence_threshold,
        "episodes": spec.episodes,
        "probe_seed": spec.probe_seed,
        "interval": "95% percentile bootstrap over seeds",
        "conditions": conditions,
    }


def _finite(value):
    """Whether a value is a finite number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def write_report(spec, cells, rows, out, summary) -> None:
    """Write summary.md, summary.json, results.h5 and the plots."""
    with atomic_output(os.path.join(out, SUMMARY_JSON)) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    with atomic_output(os.path.join(out, SUMMARY_MD)) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(format_summary(summary, cells))
    if rows:
        _write_results_h5(os.path.join(out, RESULTS_H5), rows, result_columns(spec, rows))
        plot(spec, cells, summary, rows, os.path.join(out, PLOTS_FOLDER))


def _format_cell(metric, percent=True):
    """Format ``mean [low, high] (min-max)`` of a summarised metric."""
    if metric["mean"] is None:
        return "n/a"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    digits = 0 if not percent else 1
    text = f"{scale * metric['mean']:.{digits}f}{unit} [{scale * metric['low']:.{digits}f}, {scale * metric['high']:.{digits}f}]"
    return text + f" ({scale * metric['min']:.{digits}f}–{scale * metric['max']:.{digits}f})"


def format_summary(summary: dict, cells) -> str:
    """Render the summary as Markdown: one table per test world, then the run figures."""
    worlds = cells[0].test_worlds if cells else ()
    lines = [
        f"# Sweep {summary['sweep']}",
        "",
        f"Seeds {_seed_text(summary['seeds'])}; probes: {summary['episodes']} episodes per world on fresh levels "
        f"(seed {summary['probe_seed']}). Each entry: mean over seeds [95% bootstrap interval over seeds] "
        f"(lowest–highest seed). Competent: fresh-level training door rate at least "
        f"{100 * summary['competence_threshold']:.0f}%. Door preference = door / (door + proxy).",
        "",
    ]
    for world in worlds:
        lines += [
            f"## Test world {world}",
            "",
            "| condition | runs | competent | competence | door | proxy | other | timeout | door preference |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for entry in summary["conditions"]:
            m = entry["metrics"]
            runs = f"{entry['runs']}/{entry['planned']}" + (f", {entry['failed']} failed" if entry["failed"] else "")
            lines.append(
                f"| {entry['condition']} | {runs} | {entry['competent']}/{entry['runs']} | {_format_cell(m['competence'])} | "
                + " | ".join(_format_cell(m[f"{world}/{o}_rate"]) for o in OUTCOMES)
                + f" | {_format_cell(m[f'{world}/door_preference'])} |"
            )
        lines.append("")
    lines += [
        "## Runs",
        "",
        "| condition | compression | validation door rate | generations to 90% validation | seconds to 90% "
        "| evolution wall time (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in summary["conditions"]:
        m = entry["metrics"]
        reached = m["time_to_90"]["count"]
        compression = m["compression_ratio"]["mean"]
        lines.append(
            f"| {entry['condition']} | {'n/a' if compression is None else f'{compression:.1f}x'} | "
            f"{_format_cell(m['validation_door_rate'])} | "
            f"{_format_cell(m['time_to_90'], percent=False)} in {reached}/{entry['runs']} runs | "
            f"{_format_cell(m['seconds_to_90'], percent=False)} | "
            f"{_format_cell(m['wall_time'], percent=False)} |"
        )
    errors = [f"- {entry['condition']} {error}" for entry in summary["conditions"] for error in entry["errors"]]
    if errors:
        lines += ["", "## Failed runs", "", *errors]
    return "\n".join(lines) + "\n"


def _seed_text(seeds):
    """Render seeds compactly (1-10)."""
    if seeds and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ",".join(str(s) for s in seeds)


def plot(spec, cells, summary, rows, folder) -> list[str]:
    """Plot each metric against each numeric axis: mean with its bootstrap band, and per-seed points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worlds = cells[0].test_worlds if cells else ()
    metrics = [("competence", "competence (training door rate)")]
    for world in worlds:
        metrics += [
            (f"{world}/door_rate", f"{world}: door"),
            (f"{world}/proxy_rate", f"{world}: proxy"),
            (f"{world}/door_preference", f"{world}: door / (door + proxy)"),
        ]
    written = []
    ok_rows = [row for row in rows if row.get("status") == "ok"]
    seed_values = {(row["condition"], row["seed"]): row for row in ok_rows}
    for axis in spec.axes:
        if len(axis.values) < 2:
            continue
        columns = min(4, len(metrics))
        lines_of_figure = -(-len(metrics) // columns)
        figure, axes_grid = plt.subplots(
            lines_of_figure, columns, figsize=(3.6 * columns, 3.0 * lines_of_figure), squeeze=False
        )
        groups = {}
        for entry in summary["conditions"]:
            other = tuple((k, v) for k, v in entry["values"].items() if k != axis.name)
            groups.setdefault(other, []).append(entry)
        for position, (name, title) in enumerate(metrics):
            ax = axes_grid[position // columns][position % columns]
            for other, entries in groups.items():
                entries = sorted(entries, key=lambda e: _axis_position(axis, e["values"][axis.name]))
                xs = np.array([_axis_position(axis, e["values"][axis.name]) for e in entries], dtype=np.float64)
                means = np.array(
                    [np.nan if e["metrics"][name]["mean"] is None else e["metrics"][name]["mean"] for e in entries]
                )
                lows = np.array(
                    [np.nan if e["metrics"][name]["low"] is None else e["metrics"][name]["low"] for e in entries]
                )
                highs = np.array(
                    [np.nan if e["metrics"][name]["high"] is None else e["metrics"][name]["high"] for e in entries]
                )
                label = ", ".join(f"{k}={_format_value(v)}" for k, v in other) or "mean over seeds"
                if axis.numeric:
                    (line,) = ax.plot(xs, means, marker="o", label=label)
                    ax.fill_between(xs, lows, highs, alpha=0.2, color=line.get_color(), linewidth=0)
                else:
                    bars = np.vstack([means - lows, highs - means])
                    line = ax.errorbar(xs, means, yerr=bars, fmt="o", capsize=2, label=label).lines[0]
                for e in entries:
                    points = [
                        seed_values[(e["condition"], s)][name]
                        for s in spec.seeds
                        if (e["condition"], s) in seed_values and _finite(seed_values[(e["condition"], s)].get(name))
                    ]
                    ax.scatter(
                        [_axis_position(axis, e["values"][axis.name])] * len(points),
                        points,
                        s=9,
                        color=line.get_color(),
                        alpha=0.5,
                        linewidths=0,
                    )
            ax.set_title(title, fontsize=8)
            ax.set_xlabel(axis.name, fontsize=8)
            if not axis.numeric:
                ax.set_xticks(range(len(axis.values)))
                ax.set_xticklabels([_format_value(v) for v in axis.values], rotation=60, ha="right", fontsize=6)
            ax.set_ylim(-0.03, 1.03)
            ax.tick_params(labelsize=7)
        for position in range(len(metrics), lines_of_figure * columns):
            axes_grid[position // columns][position % columns].axis("off")
        axes_grid[0][0].legend(fontsize=6)
        figure.suptitle(
            f"sweep {spec.name}: seeds {_seed_text(list(spec.seeds))}, 95% bootstrap bands over seeds", fontsize=9
        )
        figure.tight_layout()
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{axis.name}.png")
        with atomic_output(path) as temporary:
            figure.savefig(temporary, dpi=110, format="png")
        plt.close(figure)
        written.append(path)
    return written


def _axis_position(axis, value):
    """Return where an axis value goes on the x axis: itself if numeric, else its index (a category)."""
    if axis.numeric:
        return value
    return [json.dumps(v) for v in axis.values].index(json.dumps(value))


def summary_json(result: SweepResult) -> str:
    """Return the sweep's summary as one JSON object (NaN as null)."""

    def clean(value):
        """Map NaN to None recursively."""
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    document = dict(
        result.summary,
        out=result.out,
        ran=result.ran,
        skipped=result.skipped,
        failed=result.failed,
        interrupted=result.interrupted,
    )
    return json.dumps(clean(document), allow_nan=False)


__all__ = [
    "Axis",
    "Cell",
    "CellTask",
    "SweepResult",
    "SweepSpec",
    "dump_toml",
    "format_summary",
    "load_sweep",
    "parse_seeds",
    "plan",
    "plot",
    "read_results",
    "run_cell",
    "run_sweep",
    "summarize",
    "write_results",
]
