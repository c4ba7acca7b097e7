"""Replay files: layout, exact re-simulation, refusal to overwrite, corrupt and foreign files."""

import dataclasses
import os
import shutil
import tomllib

import h5py
import numpy as np
import pytest
from conftest import world_path
from runfile_builder import build_run_file

from evosandbox.cli import main
from evosandbox.config import load_world
from evosandbox.errors import FileFormatError, UsageError
from evosandbox.genomes import make_encoding, parse_genome_preset
from evosandbox.probe import probe_level_seeds, probe_policy
from evosandbox.runfile.replay import EPISODE_DATASETS, read_replay, resimulate, write_replay
from evosandbox.simulate import level_seeds_for, rollout

RECURRENT_PRESET = 'name = "tiny"\nencoding = "direct"\n[controller]\nhidden = 5\n'
PER_EPISODE = (
    "positions",
    "headings",
    "actions",
    "rewards",
    "hidden",
    "steps",
    "entered_tile",
    "entered_color",
    "returns",
)


def _assert_same_episodes(replay, result):
    """Every recorded array of the replay equals the re-simulated rollout's, exactly."""
    assert np.array_equal(replay.level_seeds, result.level_seeds)
    assert np.array_equal(replay.grids, result.grids)
    for name in PER_EPISODE:
        expected = getattr(result, name)[0]
        assert getattr(replay, name).dtype == expected.dtype, name
        assert np.array_equal(getattr(replay, name), expected), name


@pytest.fixture(scope="module")
def lifetime_world(tmp_path_factory):
    """A red-door training world with lifetimes of 3 episodes and last-action/last-reward inputs."""
    text = (
        open(world_path("red-doors-train"))
        .read()
        .replace("color_radius = 6", "color_radius = 6\nlast_action = true\nlast_reward = true")
    )
    text += "\n[lifetime]\nepisodes = 3\n"
    path = tmp_path_factory.mktemp("worlds") / "lifetimes.toml"
    path.write_text(text)
    return load_world(str(path))


@pytest.mark.parametrize("policy", ["door-seeker", "color-seeker:red", "random"])
def test_scripted_replay_round_trip_and_resimulation(tmp_path, policy):
    """A scripted policy's replay reads back with its attributes and re-simulates exactly."""
    world = load_world(world_path("red-doors-test"))
    result = rollout(world, policy, level_seeds_for(9, 6), 31, record=True)
    path = write_replay(
        tmp_path / "out" / "scripted.h5",
        result,
        world,
        source=f"policy:{policy}",
        policy=policy,
        train_world_text=load_world(world_path("red-doors-train")).source_text,
    )
    replay = read_replay(path)
    assert (replay.policy, replay.source, replay.seed, replay.world_name) == (
        policy,
        f"policy:{policy}",
        31,
        "red-doors-test",
    )
    assert (
        replay.world == world.source_text
        and dataclasses.replace(replay.world_spec, path=world.path) == world
        and "red-doors-train" in replay.train_world
    )
    assert replay.genome is None and replay.genome_preset is None and replay.episode_count == 6
    assert replay.hidden.shape == (6, 1, world.max_steps, 0)
    _assert_same_episodes(replay, result)
    _assert_same_episodes(replay, resimulate(replay))
    with h5py.File(path, "r") as handle:
        assert handle.attrs["format"] == "evosandbox-replay" and handle.attrs["schema_version"] == 1
        assert {"software_version", "created", "seed", "source", "policy", "world_name"} <= set(handle.attrs)
        assert set(EPISODE_DATASETS) | {"world", "train_world"} == set(handle)


def test_network_replay_with_lifetimes_resimulates_every_step(tmp_path, lifetime_world):
    """A recurrent network over lifetimes of 3 episodes: hidden states and all steps reproduce."""
    preset = parse_genome_preset(tomllib.loads(RECURRENT_PRESET), "tiny.toml", RECURRENT_PRESET)
    encoding = make_encoding(preset, lifetime_world)
    genome = encoding.initial_genomes(1, np.random.default_rng(4))[0] * 3
    result = rollout(lifetime_world, encoding.develop(genome[None]), level_seeds_for(2, 4), 8, record=True)
    path = write_replay(
        tmp_path / "net.h5",
        result,
        lifetime_world,
        source="test#0",
        policy="network",
        genome=genome,
        genome_preset_text=RECURRENT_PRESET,
    )
    replay = read_replay(path)
    assert replay.hidden.shape == (4, 3, lifetime_world.max_steps, 5) and np.any(replay.hidden != 0)
    assert np.array_equal(replay.genome, genome.astype(np.float32)) and replay.genome_preset == RECURRENT_PRESET
    _assert_same_episodes(replay, resimulate(replay))


def test_cli_replay_of_a_run_champion_resimulates(tmp_path, capsys):
    """`evosandbox replay RUN_DIR` stores the champion's genome, which re-simulates exactly."""
    train = load_world(world_path("red-doors-train"))
    preset = parse_genome_preset(tomllib.loads(RECURRENT_PRESET), "tiny.toml", RECURRENT_PRESET)
    genomes = make_encoding(preset, train).initial_genomes(3, np.random.default_rng(1))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    build_run_file(
        str(run_dir / "run.h5"),
        [-1, -1, 0],
        [0, 0, 1],
        [0.2, 0.7, 0.1],
        genomes=genomes,
        train_world_text=train.source_text,
        genome_preset_text=RECURRENT_PRESET,
        swmr=False,
    )
    out = tmp_path / "replays" / "champion.h5"
    code = main(
        [
            "replay",
            str(run_dir),
            "--world",
            world_path("red-doors-test"),
            "--episodes",
            "5",
            "--out",
            str(out),
            "--seed",
            "3",
        ]
    )
    assert code == 0, capsys.readouterr().err
    replay = read_replay(out)
    assert replay.source == f"{run_dir}#1" and replay.policy == "network" and replay.train_world == train.source_text
    assert np.array_equal(replay.genome, genomes[1]) and replay.hidden.shape[-1] == 5
    assert np.array_equal(replay.level_seeds, probe_level_seeds(3, 5))  # the probe's first levels
    _assert_same_episodes(replay, resimulate(replay))


def test_cli_replay_shows_the_probes_episodes(tmp_path, capsys):
    """With the same seed, a replay's episodes are the first episodes a probe classified."""
    out = tmp_path / "seeker.h5"
    code = main(
        [
            "replay",
            "--policy",
            "color-seeker:red",
            "--world",
            "red-doors-test",
            "--episodes",
            "20",
            "--out",
            str(out),
            "--seed",
            "12",
        ]
    )
    assert code == 0 and "wrote" in capsys.readouterr().out
    replay = read_replay(out)
    report = probe_policy("color-seeker:red", replay.world_spec, load_world(world_path("red-doors-train")), 20, seed=12)
    assert report.counts["proxy"] == int(np.isin(replay.entered_tile, (3, 4)).sum()) == 20
    png = tmp_path / "frame.png"
    assert main(["view", str(out), "--episode", "19", "--export", str(png)]) == 0 and png.stat().st_size > 0


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    """An existing --out file is left untouched unless --force is given."""
    out = tmp_path / "kept.h5"
    out.write_bytes(b"precious")
    argv = ["replay", "--policy", "random", "--world", "red-doors-test", "--episodes", "2", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1 and out.read_bytes() == b"precious"
    assert main(argv + ["--force"]) == 0
    assert read_replay(out).episode_count == 2
    assert [name for name in os.listdir(tmp_path)] == ["kept.h5"]  # no temporary file left behind
    with pytest.raises(UsageError):
        write_replay(
            out,
            rollout(load_world(world_path("red-doors-test")), "random", level_seeds_for(0, 1), 0, record=True),
            load_world(world_path("red-doors-test")),
            source="x",
            policy="random",
        )


@pytest.fixture(scope="module")
def good_replay(tmp_path_factory):
    """A valid replay file to damage in the tests below."""
    world = load_world(world_path("red-doors-test"))
    result = rollout(world, "random", level_seeds_for(1, 3), 1, record=True)
    return write_replay(
        tmp_path_factory.mktemp("good") / "good.h5", result, world, source="policy:random", policy="random"
    )


def _damaged(good_replay, tmp_path, change):
    """Copy the good replay and apply ``change(handle)`` to the copy."""
    path = tmp_path / "damaged.h5"
    shutil.copy(good_replay, path)
    with h5py.File(path, "a") as handle:
        change(handle)
    return str(path)


def _set_attr(name, value):
    """Return a change that sets a root attribute."""
    return lambda handle: handle.attrs.__setitem__(name, value)


def _replace(name, data):
    """Return a change that replaces a dataset."""

    def change(handle):
        """Delete the dataset and write the replacement."""
        del handle[name]
        handle.create_dataset(name, data=data)

    return change


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set_attr("format", "evosandbox-run"), "format"),
        (lambda handle: handle.attrs.__delitem__("format"), "format"),
        (_set_attr("schema_version", 7), "schema_version"),
        (lambda handle: handle.__delitem__("hidden"), "hidden"),
        (_replace("actions", np.zeros((3, 1, 5), np.int8)), "actions"),
        (_replace("grids", np.zeros((3, 9, 9, 2), np.uint8)), "grids"),
        (_replace("steps", np.zeros((3, 1), np.float64)), "steps"),
        (_replace("world", "[grid]\nwidth = 'wide'\n"), "world"),
        (_set_attr("policy", "network"), "genome_preset"),
    ],
)
def test_damaged_or_foreign_replays_name_the_field(good_replay, tmp_path, change, field):
    """Every damaged replay raises FileFormatError naming the file and the field."""
    path = _damaged(good_replay, tmp_path, change)
    with pytest.raises(FileFormatError) as error:
        read_replay(path)
    assert path in error.value.line() and field in error.value.line()


@pytest.mark.parametrize("damage", ["truncated", "junk", "foreign", "missing"])
def test_cli_view_and_read_of_corrupt_files_exit_2(good_replay, tmp_path, capsys, damage):
    """A corrupt, foreign or missing file gives one clear line and exit code 2 from the CLI."""
    path = tmp_path / "bad.h5"
    if damage == "truncated":
        data = open(good_replay, "rb").read()
        path.write_bytes(data[: len(data) // 3])
    elif damage == "junk":
        path.write_bytes(os.urandom(4096))
    elif damage == "foreign":
        with h5py.File(path, "w") as handle:
            handle.attrs["format"] = "someone-elses-format"
            handle.create_dataset("x", data=[1, 2])
    with pytest.raises(FileFormatError):
        read_replay(path)
    code = main(["view", str(path), "--export", str(tmp_path / "frame.png")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "frame.png").exists()
