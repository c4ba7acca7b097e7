"""World specs: every shipped world loads; bad specs give one line naming file and key, exit 2."""

import json
import subprocess
import sys

import pytest
from conftest import WORLD_PATHS, world_path

from evosandbox.cli import main
from evosandbox.config import load_world
from evosandbox.errors import ConfigError

MINIMAL = """
[grid]
width = 9
height = 9
max_steps = 50
[door]
colors = ["red"]
"""


@pytest.mark.parametrize("path", WORLD_PATHS, ids=lambda p: p.rsplit("/", 1)[-1])
def test_shipped_world_loads_and_validates(path, capsys):
    spec = load_world(path)
    assert spec.variants and all(v.door_colors for v in spec.variants)
    assert main(["worlds", "validate", path]) == 0
    assert ": ok" in capsys.readouterr().out


def test_train_world_meets_the_experiment_design():
    train = load_world(world_path("red-doors-train"))
    assert train.width - 2 >= 9 and train.height - 2 >= 9
    assert train.door_colors == ("red",)
    objects = [t for t in train.variants[0].things if t.kind != "door"]
    assert sum(t.count for t in objects) >= 3
    assert all("red" not in t.colors for t in objects)
    assert train.observation.view_size < train.width  # partial view
    assert train.observation.color_radius > train.observation.type_radius
    test = load_world(world_path("red-doors-test"))
    assert "red" not in test.door_colors
    assert any("red" in t.colors for t in test.variants[0].things if t.kind != "door")


def test_two_by_two_design_is_shipped():
    for door in ("red", "blue"):
        for decoy in ("no-decoy", "red-decoy"):
            spec = load_world(world_path(f"test-{door}-door-{decoy}"))
            assert spec.door_colors == (door,)
            has_red_decoy = any("red" in t.colors for t in spec.variants[0].things if t.kind != "door")
            assert has_red_decoy == (decoy == "red-decoy")


def test_mixture_weights_and_variants():
    spec = load_world(world_path("red-doors-decorrelated"))
    assert [v.weight for v in spec.variants] == [0.95, 0.05]
    assert spec.variants[1].door_colors == ("blue",)
    assert spec.main_door_colors == ("red",)


@pytest.mark.parametrize(
    "patch, key",
    [
        ("[grid]\nwidth = 9\nheight = 9\nmax_steps = 50\nwidht = 3\n[door]\ncolors=['red']", "grid.widht"),
        ("[grid]\nwidth = 'nine'\nheight = 9\nmax_steps = 50\n[door]\ncolors=['red']", "grid.width"),
        ("[grid]\nwidth = 9\nheight = 9\nmax_steps = 50\n[door]\ncolors=['crimson']", "door.colors[0]"),
        (
            "[grid]\nwidth = 9\nheight = 9\nmax_steps = 50\n[observation]\nview_size = 11\n[door]\ncolors=['red']",
            "observation.view_size",
        ),
        (
            "[grid]\nwidth = 5\nheight = 5\nmax_steps = 50\n[observation]\nview_size = 3\n[door]\ncolors=['red']\n"
            "[[objects]]\nkind='ball'\ncolors=['green']\ncount=9",
            "objects",
        ),
        ("[grid]\nwidth = 9\nheight = 9\nmax_steps = 50\n[[objects]]\nkind='ball'\ncolors=['green']", "door"),
        (
            "[grid]\nwidth = 9\nheight = 9\nmax_steps = 50\n[door]\ncolors=['red']\n[[objects]]\nkind='lamp'\ncolors=['red']",
            "objects[0].kind",
        ),
        ("[grid]\nwidth = 9\nheight = 9\nmax_steps = true\n[door]\ncolors=['red']", "grid.max_steps"),
        ("nonsense = 1\n" + MINIMAL, "nonsense"),
    ],
)
def test_bad_spec_names_file_and_key(write_world, patch, key):
    path = write_world(patch)
    with pytest.raises(ConfigError) as caught:
        load_world(path)
    line = caught.value.line()
    assert line.startswith(path) and f": {key}:" in line and "\n" not in line


def test_malformed_toml_is_one_line(write_world):
    path = write_world("[grid\nwidth = 9")
    with pytest.raises(ConfigError) as caught:
        load_world(path)
    assert caught.value.line().startswith(path) and "malformed TOML" in caught.value.line()


def test_cli_bad_world_exits_2_without_traceback(write_world):
    path = write_world("[grid]\nwidth = 9\nheight = 9\nmax_steps = 50\n[door]\ncolors=['mauve']")
    done = subprocess.run(
        [sys.executable, "-m", "evosandbox", "worlds", "validate", path], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert path in done.stderr and "door.colors[0]" in done.stderr


def test_cli_missing_file_and_bad_flag_exit_2(capsys):
    assert main(["worlds", "validate", "/nonexistent/world.toml"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["worlds", "--bogus"])
    assert caught.value.code == 2


def test_cli_lists_shipped_worlds_as_json(capsys):
    assert main(["worlds", "--json"]) == 0
    names = {w["name"] for w in json.loads(capsys.readouterr().out)["worlds"]}
    assert {"red-doors-train", "red-doors-test", "red-doors-maze", "red-doors-decorrelated"} <= names


def test_cli_show_prints_the_level(capsys):
    assert main(["worlds", "show", "red-doors-train", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "Dr" in out and out.count("##") >= 40
