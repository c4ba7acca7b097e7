"""Resolve what a command should run: a run's individual, a genome file, or a scripted policy.

``probe`` and ``replay`` take ``RUN_DIR | GENOME.h5 | --policy NAME``. ``resolve_agent`` turns
that into the policy ``simulate.rollout`` plays, the training world the agent was evolved on
(which names the proxy colour), a label for reports, and what a replay file must store to
re-simulate it (genome and preset, or the policy's name).
"""

import os
import tomllib
from dataclasses import dataclass, field

import numpy as np

from evosandbox.config import parse_world
from evosandbox.errors import ConfigError, FileFormatError, UsageError
from evosandbox.runfile.common import open_for_reading, read_attr_str
from evosandbox.worlds import resolve_world

RUN_FORMAT = "evosandbox-run"
GENOME_FORMAT = "evosandbox-genome"


@dataclass
class Agent:
    """An agent ready to play: its policy, where it came from, and what it was trained on."""

    policy: object
    """ControllerParams (one individual) or ScriptedPolicy, as ``simulate.rollout`` takes."""
    policy_name: str
    """The scripted policy's name, or ``network``."""
    source: str
    """Label for reports and replay files: ``policy:NAME``, a genome file path, or ``RUN_DIR#id``."""
    train_world: object = None
    """The training WorldSpec, or None when nothing records it."""
    train_world_origin: str = ""
    """Where the training world came from (run file, genome file, --train-world)."""
    train_world_text: object = None
    genome: object = None
    """float32 (G,) genome of a network."""
    genome_preset_text: object = None
    notes: list = field(default_factory=list)


def resolve_agent(world_spec, source=None, policy=None, individual_id=None, train_world_path=None):
    """Turn a command's SOURCE / --policy / --id / --train-world into an Agent for ``world_spec``.

    Args:
        world_spec: the WorldSpec the agent will play (it fixes the controller's inputs).
        source: a RUN_DIR, a run file, or a genome file (GENOME.h5); or None with ``policy``.
        policy: a scripted policy name (door-seeker, color-seeker:COLOR, random).
        individual_id: with a run, the individual to take (default: the champion).
        train_world_path: a training world TOML that overrides (or supplies) the recorded one.

    Returns:
        An Agent.

    Raises:
        UsageError: bad combination of arguments; FileFormatError / ConfigError: bad files.
    """
    from evosandbox.simulate import parse_policy

    if (source is None) == (policy is None):
        raise UsageError("give exactly one of RUN_DIR, GENOME.h5 or --policy NAME", field="SOURCE")
    if policy is not None:
        if individual_id is not None:
            raise UsageError("--id picks an individual of a run; it does not apply to --policy", field="--id")
        scripted = parse_policy(policy)
        agent = Agent(scripted, scripted.name, f"policy:{scripted.name}")
    else:
        agent = _resolve_file(os.fspath(source), world_spec, individual_id)
    if train_world_path is not None:
        if agent.train_world is not None:
            agent.notes.append(
                f"training world {train_world_path} (--train-world) replaces the one recorded in {agent.source}"
            )
        agent.train_world = resolve_world(train_world_path)
        agent.train_world_text = agent.train_world.source_text
        agent.train_world_origin = "--train-world"
    if agent.train_world is not None:
        _check_compatible(agent, world_spec)
    return agent


def develop_genome(genome, genome_preset_text, world_spec, label):
    """Develop one genome into ControllerParams for ``world_spec`` (label names the preset in errors)."""
    from evosandbox.genomes import make_encoding, parse_genome_preset

    try:
        data = tomllib.loads(genome_preset_text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(label, None, f"malformed TOML: {error}") from None
    preset = parse_genome_preset(data, label, genome_preset_text)
    encoding = make_encoding(preset, world_spec)
    genome = np.asarray(genome, dtype=np.float32).reshape(-1)
    if genome.shape[0] != encoding.genome_length:
        raise UsageError(
            f"{label}: the genome has {genome.shape[0]} genes but encoding '{preset.encoding}' needs "
            f"{encoding.genome_length} for world {world_spec.name} (was it evolved on a world with another observation?)",
            field="--world",
        )
    return encoding.develop(genome[None, :])


def parse_world_text(text, label):
    """Parse a world spec stored as TOML text (in a run or genome file); ``label`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(label, None, f"malformed TOML: {error}") from None
    return parse_world(data, label, text)


def _resolve_file(path, world_spec, individual_id):
    """Resolve a RUN_DIR, run file or genome file into an Agent."""
    run_file = os.path.join(path, "run.h5") if os.path.isdir(path) else path
    if not os.path.exists(run_file):
        what = "a RUN_DIR without run.h5" if os.path.isdir(path) else "no such file"
        raise FileFormatError(run_file if os.path.isdir(path) else path, None, what)
    with open_for_reading(run_file, (RUN_FORMAT, GENOME_FORMAT)) as handle:
        found = read_attr_str(handle, "format")
    if found == RUN_FORMAT:
        return _resolve_run(path, run_file, world_spec, individual_id)
    if individual_id is not None:
        raise UsageError("--id picks an individual of a run; a genome file holds one genome", field="--id")
    return _resolve_genome_file(path, world_spec)


def _resolve_run(path, run_file, world_spec, individual_id):
    """Take the champion (or ``individual_id``) of a run."""
    from evosandbox.runfile.run_read import RunReader

    with RunReader(run_file) as reader:
        if individual_id is None:
            individual_id = reader.champion_id()
            chosen = "champion"
        else:
            chosen = "--id"
        if not 0 <= individual_id < reader.individual_count:
            raise UsageError(
                f"{individual_id} is not a committed individual of {run_file} (ids 0..{reader.individual_count - 1})",
                field="--id",
            )
        genome = np.asarray(reader.genome(individual_id), dtype=np.float32)
        preset_text = reader.genome_preset_text
        train_text = reader.train_world_text
    label = path.rstrip(os.sep) if os.path.isdir(path) else os.path.dirname(run_file) or "."
    source = f"{label}#{individual_id}"
    policy = develop_genome(genome, preset_text, world_spec, f"{run_file}#/genome_preset")
    train_world = parse_world_text(train_text, f"{run_file}#/train_world")
    agent = Agent(policy, "network", source, train_world, "run file", train_text, genome, preset_text)
    if chosen == "champion":
        agent.notes.append(f"individual {individual_id} is the run's champion")
    return agent


def _resolve_genome_file(path, world_spec):
    """Read a genome file (``genomes/*.h5``) and develop its genome."""
    from evosandbox.runfile.genome import read_genome

    stored = read_genome(path)
    preset_text = stored.genome_spec.source_text
    policy = develop_genome(stored.genome, preset_text, world_spec, f"{path}#/genome_preset")
    agent = Agent(policy, "network", path, genome=stored.genome, genome_preset_text=preset_text)
    if stored.train_world is not None:
        agent.train_world = stored.train_world
        agent.train_world_text = stored.train_world.source_text
        agent.train_world_origin = "genome file"
    if "run" in stored.provenance and "id" in stored.provenance:
        agent.notes.append(f"the genome is individual {stored.provenance['id']} of run {stored.provenance['run']}")
    return agent


def _check_compatible(agent, world_spec):
    """Note when the test world's observation differs from the training world's."""
    from evosandbox.worlds import observation_size

    train = agent.train_world
    if agent.policy_name == "network" and (
        observation_size(train) != observation_size(world_spec) or train.num_actions != world_spec.num_actions
    ):
        agent.notes.append(
            f"the test world {world_spec.name} gives {observation_size(world_spec)} inputs and {world_spec.num_actions} actions; "
            f"the training world {train.name} gave {observation_size(train)} and {train.num_actions}"
        )
