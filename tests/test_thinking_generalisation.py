"""The thinking-time and generalisation probes, calibrated on policies whose answer is known.

A network without recurrence and every scripted policy cannot change with thinking steps, so
their planning effect is exactly 0 (Taufeeque et al. 2024's control); breadth-first search
(door-seeker) solves every maze size on a shortest path.
"""

import json
import tomllib

import numpy as np
import pytest
from conftest import world_path

from evosandbox.cli import main
from evosandbox.config import load_world, parse_world
from evosandbox.controller import ControllerParams
from evosandbox.errors import ConfigError, UsageError
from evosandbox.probes import get_probe
from evosandbox.probes.thinking import check_think_steps, revisits
from evosandbox.simulate import level_seeds_for, rollout
from evosandbox.worlds import controller_shape, generate_level, scaled_world

THINK_MAZE = """
name = "think-maze"
[grid]
generator = "maze"
width = 9
height = 11
max_steps = 120
think_action = true
[observation]
view_size = 5
last_action = true
[door]
colors = ["purple", "yellow"]
[[objects]]
kind = "key"
colors = ["green"]
count = 1
"""

SCRIPTED = ("door-seeker", "color-seeker:green", "random", "oracle", "random-door", "wsls", "wall-follower")


def _worlds():
    return [load_world(world_path("maze-11")), parse_world(tomllib.loads(THINK_MAZE), "think-maze.toml", THINK_MAZE)]


@pytest.mark.parametrize("index", range(2))
def test_scripted_policies_and_a_feedforward_net_have_a_planning_effect_of_exactly_zero(index):
    world = _worlds()[index]
    probe = get_probe("thinking")
    policies = list(SCRIPTED) + [
        ControllerParams.random(controller_shape(world, 8, recurrent=False), 2, seed=5, scale=3.0)
    ]
    for policy in policies:
        for result in probe.measure(policy, world, None, 150, 2):
            for suffix in ("", "_harder"):
                effect = result.metrics[f"planning_effect{suffix}"]
                assert effect.value == effect.low == effect.high == 0.0, (policy, suffix)
                curve = {result.metrics[f"success{suffix}_think_{n}"].value for n in probe.think_steps}
                assert len(curve) == 1, (policy, suffix)
            assert result.verdict == "no-planning-effect"
            if world.think_action and not isinstance(policy, ControllerParams):
                assert result.metrics["think_action_rate"].value == 0.0


def test_thinking_steps_reach_a_recurrent_controller():
    world = _worlds()[1]
    params = ControllerParams.random(controller_shape(world, 8), 6, seed=3, scale=3.0)
    seeds = level_seeds_for(1, 40)
    plain = rollout(world, params, seeds, 0)
    thought = rollout(world, params, seeds, 0, think_steps=4)
    assert not np.array_equal(plain.steps, thought.steps)
    [result] = get_probe("thinking").measure(params.select([0]), world, None, 60, 1)
    assert 0.0 <= result.metrics["think_action_rate"].value <= 1.0


def test_pacing_matches_a_plain_loop():
    world = _worlds()[1]
    params = ControllerParams.random(controller_shape(world, 8), 3, seed=1, scale=3.0)
    result = rollout(world, params, level_seeds_for(4, 20), 0, record=True)
    fast = revisits(result.positions, result.headings, result.steps, world.width)
    for index in np.ndindex(result.steps.shape):
        seen, again = set(), False
        for t in range(result.steps[index]):
            state = (*result.positions[index][t], result.headings[index][t])
            again = again or state in seen
            seen.add(state)
        assert fast[index] == again, index


def test_think_steps_are_checked():
    assert check_think_steps([4, 0, 2, 2]) == (0, 2, 4)
    with pytest.raises(UsageError, match="--think-steps"):
        check_think_steps([1, 2])
    with pytest.raises(UsageError, match="--think-steps"):
        check_think_steps([0, 5000])


def test_scaled_mazes_are_the_shipped_ladder_and_ascii_maps_do_not_scale():
    base = load_world(world_path("maze-11"))
    for area, name in ((2, "maze-15"), (4, "maze-21")):
        scaled, shipped = scaled_world(base, area), load_world(world_path(name))
        for field in ("width", "height", "max_steps", "generator", "observation", "rewards", "lifetime"):
            assert getattr(scaled, field) == getattr(shipped, field), (name, field)
        assert [v.things for v in scaled.variants] == [v.things for v in shipped.variants]
        for seed in range(5):
            assert np.array_equal(generate_level(scaled, seed).grid, generate_level(shipped, seed).grid)
    with pytest.raises(ConfigError, match="grid.generator"):
        scaled_world(load_world(world_path("four-rooms-ascii")), 2)


def test_door_seeker_succeeds_on_every_maze_size_on_shortest_paths():
    probe = get_probe("generalisation")
    for world in _worlds():
        [result] = probe.measure("door-seeker", world, None, 200, 1)
        for area in (1, 2, 4):
            assert result.metrics[f"success_area_{area}"].value == 1.0
            efficiency = result.metrics[f"efficiency_area_{area}"]
            assert efficiency.value == efficiency.low == efficiency.high == 1.0
        assert result.verdict == "holds-up"


def test_wall_follower_solves_mazes_but_slower_on_larger_ones():
    [result] = get_probe("generalisation").measure("wall-follower", _worlds()[0], None, 300, 1)
    assert all(result.metrics[f"success_area_{area}"].value == 1.0 for area in (1, 2, 4))
    assert result.metrics["efficiency_area_1"].value < 1.0
    assert result.verdict in ("degrades", "holds-up")


def test_mesa_command_prints_every_json_key_and_rejects_bad_flags(capsys):
    assert main(["mesa", "--policy", "door-seeker", "--world", "maze-11", "--episodes", "40", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("planning_effect", "planning_effect_ci", "success_by_thinking_steps", "pacing", "success_by_maze_size"):
        assert key in report, key
    assert report["planning_effect"] == 0.0 and set(report["success_by_maze_size"].values()) == {1.0}
    assert main(["mesa", "--policy", "wsls", "--world", "which-door", "--episodes", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"learning_gain", "planning_effect", "success_by_maze_size"} <= set(report)
    assert 0.0 <= report["pacing"] <= 1.0  # from each lifetime's first episode
    assert main(["mesa", "--policy", "wsls", "--world", "maze-11", "--think-steps", "0,100000"]) == 2
    assert "--think-steps" in capsys.readouterr().err
    assert main(["mesa", "--policy", "wsls", "--world", "maze-11", "--think-steps", "1,2"]) == 2
    assert "--think-steps" in capsys.readouterr().err
    assert main(["mesa", "--policy", "wsls", "--world", "four-rooms-ascii", "--probes", "generalisation"]) == 2
    assert "grid.generator" in capsys.readouterr().err
    assert main(["mesa", "--policy", "door-seeker", "--world", "maze-11", "--episodes", "20"]) == 0
    text = capsys.readouterr().out
    assert "thinking time" in text and "generalisation" in text
