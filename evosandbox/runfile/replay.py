"""Replay files (``replays/*.h5``): recorded episodes that re-simulate exactly.

Layout (schema_version 1, see docs/architecture.md): root attributes ``format``,
``schema_version``, ``software_version``, ``created``, ``seed`` (rollout seed), ``source``,
``policy`` (a scripted policy's name or ``network``), ``world_name``; string datasets
``/world``, ``/train_world`` (when known), ``/genome_preset`` (networks); ``/genome`` float32
(G,) for networks; ``/level_seeds`` uint64 (L,); ``/grids`` uint8 (L, H, W, 2); per episode
(L lifetimes x K episodes) ``/positions`` int16 (L, K, T+1, 2), ``/headings`` int8 (L, K, T+1),
``/actions`` int8 (L, K, T), ``/rewards`` float32 (L, K, T), ``/hidden`` float32
(L, K, T, hidden), ``/steps`` int32, ``/entered_tile``, ``/entered_color`` uint8,
``/returns`` float32 (L, K). Re-running the policy on the world with ``level_seeds`` and
``seed`` (``resimulate``) reproduces every array.
"""

import datetime
import os
import tomllib
from dataclasses import dataclass

import h5py
import numpy as np

from evosandbox import __version__
from evosandbox.atomic import atomic_output
from evosandbox.config import parse_world
from evosandbox.errors import ConfigError, FileFormatError, UsageError
from evosandbox.runfile.common import LIBVER, check_schema, open_for_reading, read_attr_str

REPLAY_FORMAT = "evosandbox-replay"
SCHEMA_VERSION = 1
SUPPORTED_SCHEMAS = frozenset({1})
# name -> (dtype, shape template); letters: L lifetimes, K episodes, T steps, H/W grid, N hidden.
EPISODE_DATASETS = {
    "level_seeds": (np.uint64, "L"),
    "grids": (np.uint8, "LHW2"),
    "positions": (np.int16, "LKS2"),
    "headings": (np.int8, "LKS"),
    "actions": (np.int8, "LKT"),
    "rewards": (np.float32, "LKT"),
    "hidden": (np.float32, "LKTN"),
    "steps": (np.int32, "LK"),
    "entered_tile": (np.uint8, "LK"),
    "entered_color": (np.uint8, "LK"),
    "returns": (np.float32, "LK"),
}


@dataclass
class Replay:
    """A replay file's contents: attributes, texts, the parsed world and every episode array."""

    path: str
    schema_version: int
    software_version: str
    created: str
    seed: int
    """Rollout seed (the random policy's draws derive from it)."""
    source: str
    """What played: ``policy:NAME``, a genome file, or ``RUN_DIR#id``."""
    policy: str
    """A scripted policy's name, or ``network``."""
    world_name: str
    world: str
    """World spec TOML text."""
    world_spec: object
    """The parsed WorldSpec."""
    train_world: object
    """Training world TOML text, or None."""
    genome_preset: object
    """Genome preset TOML text (networks), or None."""
    genome: object
    """float32 (G,) genome (networks), or None."""
    level_seeds: np.ndarray
    grids: np.ndarray
    positions: np.ndarray
    headings: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    hidden: np.ndarray
    steps: np.ndarray
    entered_tile: np.ndarray
    entered_color: np.ndarray
    returns: np.ndarray

    @property
    def episode_count(self):
        """Episodes in the file (lifetimes x episodes per lifetime)."""
        return int(self.steps.size)


def write_replay(
    path,
    result,
    world_spec,
    *,
    source,
    policy,
    genome=None,
    genome_preset_text=None,
    train_world_text=None,
    individual=0,
    force=False,
):
    """Write one individual's recorded episodes as a replay file (temp file, then rename).

    Args:
        path: the replay file to create (its folder is created when missing).
        result: a Rollout from ``simulate.rollout(..., record=True)``.
        world_spec: the WorldSpec the rollout played (its TOML text is stored).
        source: label of what played (``policy:door-seeker``, a genome file, ``RUN_DIR#id``).
        policy: the scripted policy's name, or ``network``.
        genome: float32 (G,) genome of a network.
        genome_preset_text: the genome preset TOML text of a network.
        train_world_text: the training world TOML text, when known.
        individual: which individual of the rollout to write.
        force: replace an existing file.

    Returns:
        The path written.

    Raises:
        UsageError: the file exists and ``force`` is false.
    """
    path = os.fspath(path)
    if result.positions is None:
        raise ValueError("the rollout was not recorded; call rollout(..., record=True)")
    if not world_spec.source_text:
        raise ValueError(f"world {world_spec.name} has no TOML text to store")
    if policy == "network" and (genome is None or not genome_preset_text):
        raise ValueError("a network replay needs its genome and genome preset text")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} already exists (use --force to replace it)", field="--out")
    arrays = {
        "level_seeds": result.level_seeds,
        "grids": result.grids,
        **{
            name: getattr(result, name)[individual] for name in EPISODE_DATASETS if name not in ("level_seeds", "grids")
        },
    }
    with atomic_output(path) as temporary:
        with h5py.File(temporary, "w", libver=LIBVER) as handle:
            handle.attrs["format"] = REPLAY_FORMAT
            handle.attrs["schema_version"] = SCHEMA_VERSION
            handle.attrs["software_version"] = __version__
            handle.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            handle.attrs["seed"] = np.uint64(int(result.seed) & 0xFFFFFFFFFFFFFFFF)
            handle.attrs["source"] = str(source)
            handle.attrs["policy"] = str(policy)
            handle.attrs["world_name"] = world_spec.name
            text = h5py.string_dtype()
            handle.create_dataset("world", data=world_spec.source_text, dtype=text)
            if train_world_text:
                handle.create_dataset("train_world", data=train_world_text, dtype=text)
            if policy == "network":
                handle.create_dataset("genome_preset", data=genome_preset_text, dtype=text)
                handle.create_dataset("genome", data=np.asarray(genome, dtype=np.float32).reshape(-1))
            for name, (dtype, _) in EPISODE_DATASETS.items():
                data = np.ascontiguousarray(arrays[name], dtype=dtype)
                options = (
                    {"compression": "gzip", "compression_opts": 4, "shuffle": True}
                    if data.size and data.ndim > 1
                    else {}
                )
                handle.create_dataset(name, data=data, **options)
            handle.flush()
    return path


def read_replay(path):
    """Read and check a replay file.

    Args:
        path: a replay file.

    Returns:
        A Replay.

    Raises:
        FileFormatError: the file is missing, not HDF5, foreign, of an unsupported schema,
            lacks a dataset, or has arrays whose shapes or types disagree (names the field).
    """
    path = os.fspath(path)
    handle = open_for_reading(path, REPLAY_FORMAT)
    try:
        version = check_schema(handle, path, SUPPORTED_SCHEMAS)
        attributes = {}
        for name in ("seed", "source", "policy"):
            if name not in handle.attrs:
                raise FileFormatError(path, name, "missing attribute")
        try:
            seed = int(handle.attrs["seed"])
        except (TypeError, ValueError):
            raise FileFormatError(path, "seed", "not an integer") from None
        for name in ("source", "policy", "world_name", "software_version", "created"):
            attributes[name] = read_attr_str(handle, name, "") or ""
        world_text = _read_text(handle, path, "world", required=True)
        world_spec = _parse_world_text(world_text, path)
        train_world = _read_text(handle, path, "train_world", required=False)
        genome_preset = _read_text(handle, path, "genome_preset", required=attributes["policy"] == "network")
        genome = None
        if attributes["policy"] == "network":
            genome = _read_array(handle, path, "genome")
            if genome.ndim != 1 or genome.dtype != np.float32:
                raise FileFormatError(path, "genome", f"expected float32 (G,), found {genome.dtype} {genome.shape}")
        arrays = {name: _read_array(handle, path, name) for name in EPISODE_DATASETS}
    finally:
        handle.close()
    _check_shapes(path, arrays, world_spec)
    return Replay(
        path=path,
        schema_version=version,
        software_version=attributes["software_version"],
        created=attributes["created"],
        seed=seed,
        source=attributes["source"],
        policy=attributes["policy"],
        world_name=attributes["world_name"] or world_spec.name,
        world=world_text,
        world_spec=world_spec,
        train_world=train_world,
        genome_preset=genome_preset,
        genome=genome,
        **arrays,
    )


def replay_policy(replay):
    """Rebuild the policy that played a replay: a ScriptedPolicy, or the genome developed into ControllerParams."""
    from evosandbox.simulate import parse_policy

    if replay.policy != "network":
        try:
            return parse_policy(replay.policy)
        except UsageError as error:
            raise FileFormatError(replay.path, "policy", error.message) from None
    from evosandbox.agents import develop_genome

    return develop_genome(replay.genome, replay.genome_preset, replay.world_spec, f"{replay.path}#/genome_preset")


def resimulate(replay):
    """Re-run a replay's policy on its world, level seeds and seed; return the recorded Rollout."""
    from evosandbox.simulate import rollout

    return rollout(replay.world_spec, replay_policy(replay), replay.level_seeds, replay.seed, record=True)


def _read_text(handle, path, name, required):
    """Return a string dataset as str (None when absent and optional)."""
    if name not in handle:
        if required:
            raise FileFormatError(path, name, "missing dataset")
        return None
    value = _read_array(handle, path, name)
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise FileFormatError(path, name, f"expected one string, found {value.size} values")
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise FileFormatError(path, name, "not UTF-8 text") from None
    if not isinstance(value, str):
        raise FileFormatError(path, name, f"expected a string, found {type(value).__name__}")
    return value


def _read_array(handle, path, name):
    """Read a whole dataset, turning a missing or unreadable one into FileFormatError."""
    if name not in handle:
        raise FileFormatError(path, name, "missing dataset")
    dataset = handle[name]
    if not isinstance(dataset, h5py.Dataset):
        raise FileFormatError(path, name, "expected a dataset, found a group")
    try:
        return dataset[()]
    except (OSError, ValueError, TypeError) as error:
        raise FileFormatError(path, name, f"unreadable ({str(error).splitlines()[0][:100]})") from None


def _parse_world_text(text, path):
    """Parse the stored world TOML into a WorldSpec, naming the replay file on any problem."""
    label = f"{path}#/world"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise FileFormatError(path, "world", f"malformed TOML: {error}") from None
    try:
        return parse_world(data, label, text)
    except ConfigError as error:
        raise FileFormatError(path, f"world: {error.field}" if error.field else "world", error.message) from None


def _check_shapes(path, arrays, world_spec):
    """Check every episode array's dtype and its shape against the others and the world."""
    lifetimes = arrays["level_seeds"].shape[0] if arrays["level_seeds"].ndim == 1 else -1
    steps = world_spec.max_steps
    hidden = arrays["hidden"].shape[3] if arrays["hidden"].ndim == 4 else -1
    sizes = {
        "L": lifetimes,
        "K": world_spec.lifetime.episodes,
        "T": steps,
        "S": steps + 1,
        "N": hidden,
        "H": world_spec.height,
        "W": world_spec.width,
        "2": 2,
    }
    for name, (dtype, template) in EPISODE_DATASETS.items():
        array = arrays[name]
        expected = tuple(sizes[letter] for letter in template)
        if array.dtype != np.dtype(dtype):
            raise FileFormatError(path, name, f"expected {np.dtype(dtype).name}, found {array.dtype.name}")
        if array.shape != expected or min(expected) < 0:
            raise FileFormatError(path, name, f"shape {array.shape} does not match the replay's (expected {expected})")
    if np.any(arrays["steps"] < 0) or np.any(arrays["steps"] > steps):
        raise FileFormatError(path, "steps", f"values outside 0..{steps}")
