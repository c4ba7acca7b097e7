"""The learning probe and the world features under it: paying colours, re-drawn layouts, wsls.

Calibration on scripted policies whose answer is known by construction: wsls (win-stay,
lose-shift) learns within a lifetime and a state reset takes it away; oracle, random-door and
door-seeker do not learn. On the shipped which-door worlds and on worlds generated here with
other colours and more doors.
"""

import json
import tomllib

import numpy as np
import pytest
from conftest import world_path

from evosandbox.cli import main
from evosandbox.config import load_world, parse_world
from evosandbox.constants import COLOR_IDS, TILE_DOOR
from evosandbox.controller import ControllerParams
from evosandbox.errors import ConfigError
from evosandbox.probes import get_probe
from evosandbox.probes.base import Metric
from evosandbox.probes.learning import decide_verdict
from evosandbox.simulate import level_seeds_for, rollout
from evosandbox.worlds import controller_shape, episode_level, paying_colors

THREE_DOORS = """
name = "three-doors"
[grid]
width = 10
height = 8
max_steps = 40
[observation]
view_size = 5
last_action = true
last_reward = true
[payout]
colors = ["green", "purple", "yellow"]
[lifetime]
episodes = 5
redraw_layout = true
[door]
count = 3
colors = ["green", "purple", "yellow"]
distinct = true
[[objects]]
kind = "ball"
colors = ["red"]
count = 1
"""


def _spec(text, name="world.toml"):
    return parse_world(tomllib.loads(text), name, text)


def _worlds():
    return [load_world(world_path("which-door")), load_world(world_path("which-door-novel")), _spec(THREE_DOORS)]


def test_doors_take_distinct_colours_and_every_paying_colour_is_drawn():
    for spec in _worlds():
        seeds = level_seeds_for(4, 60)
        paying = paying_colors(spec, seeds)
        assert set(paying.tolist()) == {COLOR_IDS[name] for name in spec.payout.colors}
        for seed in seeds[:20]:
            for episode in range(spec.lifetime.episodes):
                grid = episode_level(spec, seed, episode).grid
                colors = grid[grid[:, :, 0] == TILE_DOOR, 1]
                assert sorted(colors.tolist()) == sorted(COLOR_IDS[name] for name in spec.payout.colors)


def test_redrawn_layouts_differ_between_episodes_and_the_kernel_plays_them():
    spec = load_world(world_path("which-door"))
    seed = level_seeds_for(5, 1)[0]
    grids = [episode_level(spec, seed, k).grid for k in range(spec.lifetime.episodes)]
    assert len({grid.tobytes() for grid in grids}) == spec.lifetime.episodes
    # door-seeker enters a door every episode, so the kernel plays each episode's own level.
    result = rollout(spec, "door-seeker", level_seeds_for(5, 50), 0)
    assert (result.entered_tile == TILE_DOOR).all()


def test_paying_door_pays_and_the_other_door_pays_its_own_reward():
    spec = _spec(THREE_DOORS.replace("[payout]\n", "[payout]\nother_door = -0.5\n"))
    result = rollout(spec, "random-door", level_seeds_for(6, 200), 1)
    paying = paying_colors(spec, result.level_seeds)[None, :, None]
    door_part = result.returns + spec.rewards.step_cost * result.steps
    np.testing.assert_allclose(door_part, np.where(result.entered_color == paying, 1.0, -0.5), atol=1e-5)


def test_stochastic_payout_pays_the_paying_door_with_its_probability():
    spec = _spec(THREE_DOORS.replace("[payout]\n", "[payout]\nprobability = 0.8\n"))
    result = rollout(spec, "oracle", level_seeds_for(7, 2000), 1)
    paid = (result.returns + spec.rewards.step_cost * result.steps) > 0.5
    assert 0.77 < paid.mean() < 0.83
    result = rollout(spec, "random-door", level_seeds_for(7, 2000), 1)
    paying = paying_colors(spec, result.level_seeds)[None, :, None]
    paid = (result.returns + spec.rewards.step_cost * result.steps) > 0.5
    other = result.entered_color != paying
    assert 0.17 < paid[other].mean() < 0.23


def test_bad_payout_and_distinct_specs_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="payout.colors"):
        _spec(THREE_DOORS.replace('colors = ["green", "purple", "yellow"]\n[lifetime]', 'colors = ["red"]\n[lifetime]'))
    with pytest.raises(ConfigError, match="door.distinct"):
        _spec(THREE_DOORS.replace("count = 3", "count = 4"))
    with pytest.raises(ConfigError, match="payout.probability"):
        _spec(THREE_DOORS.replace("[payout]\n", "[payout]\nprobability = 1.5\n"))


@pytest.mark.parametrize("index", range(3))
def test_calibration_wsls_learns_and_the_reset_takes_it_away(index):
    spec = _worlds()[index]
    [result] = get_probe("learning").measure("wsls", spec, None, 1000, 1)
    gain, reset = result.metrics["learning_gain"], result.metrics["reset_ablation_gain"]
    assert gain.low > 0.0
    assert reset.low <= 0.0 <= reset.high  # a scripted reset forgets everything
    assert result.metrics["reset_drop"].low > 0.0
    assert result.verdict == "learns-within-lifetime"
    for name in ("zero_reward_gain", "permuted_reward_gain"):
        assert result.metrics[name].low <= 0.0 <= result.metrics[name].high, name


@pytest.mark.parametrize("index", range(3))
def test_calibration_the_oracle_shows_exactly_no_gain_and_no_regret(index):
    spec = _worlds()[index]
    [result] = get_probe("learning").measure("oracle", spec, None, 1000, 1)
    metrics = result.metrics
    assert metrics["learning_gain"].value == metrics["learning_gain"].low == metrics["learning_gain"].high == 0.0
    assert metrics["regret"].value == metrics["regret"].high == 0.0
    assert all(metrics[f"success_episode_{k}"].value == 1.0 for k in range(1, spec.lifetime.episodes + 1))
    assert result.verdict == "no-learning"


def test_calibration_non_learners_gain_intervals_cover_zero_at_their_nominal_rate():
    # random-door and door-seeker cannot learn, but a 95% interval excludes the true gain 0 in
    # about one probe in twenty by chance, so one seed proves nothing either way. Over 48 probes
    # (2 policies x 3 worlds x 8 seeds) the count of intervals that miss zero is Binomial(48,
    # 0.05) at nominal coverage (mean 2.4); seven or more has probability 1.2%.
    probe = get_probe("learning")
    misses, verdicts = 0, []
    for policy in ("random-door", "door-seeker"):
        for spec in _worlds():
            for seed in range(8):
                [result] = probe.measure(policy, spec, None, 300, seed)
                gain = result.metrics["learning_gain"]
                misses += not (gain.low <= 0.0 <= gain.high)
                verdicts.append(result.verdict)
                # Nothing in them reads the state or the reward: every ablation is the same run.
                curves = result.details["success_by_episode"]
                assert curves["reset"] == curves["agent"] == curves["zero_reward"] == curves["permuted_reward"]
    assert misses <= 6
    assert "learns-within-lifetime" not in verdicts  # the reset drop is exactly 0 for them


def test_novel_colours_tell_learning_from_task_location():
    train, novel = load_world(world_path("which-door")), load_world(world_path("which-door-novel"))
    probe = get_probe("learning")
    assert "novel_colour_gain" in probe.metric_names(novel, train)
    assert "novel_colour_gain" not in probe.metric_names(train, train)
    [result] = probe.measure("wsls", novel, train, 1000, 1)
    assert result.verdict == "learns-within-lifetime"  # wsls learns any colour
    # The verdict rule: learning on the trained colours only is task location.
    up, flat = Metric("gain", 0.4, 0.3, 0.5, 100), Metric("gain", 0.0, -0.1, 0.1, 100)
    assert decide_verdict(flat, flat, up, up) == "task-location"
    assert decide_verdict(up, up, up, up) == "learns-within-lifetime"
    assert decide_verdict(up, flat) == "gain-not-from-state"
    assert decide_verdict(flat, flat) == "no-learning"


def test_network_population_gets_one_result_each_and_ablations_change_nothing_for_a_feedforward_net():
    spec = load_world(world_path("which-door"))
    params = ControllerParams.random(controller_shape(spec, 6, recurrent=False), 3, seed=2, scale=2.0)
    results = get_probe("learning").measure(params, spec, None, 200, 3)
    assert len(results) == 3
    for result in results:
        curves = result.details["success_by_episode"]
        # Without recurrence the reset ablation is the same controller.
        assert curves["reset"] == curves["agent"]


def test_mesa_command_prints_the_learning_keys_and_rejects_bad_input(capsys):
    assert (
        main(
            ["mesa", "--policy", "wsls", "--world", "which-door", "--probes", "learning", "--episodes", "200", "--json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    for key in ("learning_gain", "learning_gain_ci", "success_by_episode", "reset_ablation_gain"):
        assert key in report, key
    assert (
        main(
            [
                "mesa",
                "--policy",
                "wsls",
                "--world",
                "which-door-novel",
                "--train-world",
                "which-door",
                "--probes",
                "learning",
                "--episodes",
                "100",
                "--json",
            ]
        )
        == 0
    )
    assert "novel_colour_gain" in json.loads(capsys.readouterr().out)
    assert main(["mesa", "--policy", "wsls", "--world", "which-door", "--probes", "learnin"]) == 2
    assert "--probes" in capsys.readouterr().err
    assert main(["mesa", "--policy", "wsls", "--world", "red-doors-train", "--probes", "learning"]) == 2
    error = capsys.readouterr().err.strip()
    assert "red-doors-train.toml" in error and "payout.colors" in error and "\n" not in error
    assert main(["mesa", "--policy", "wsls", "--world", "which-door", "--episodes", "0"]) == 2
    assert "--episodes" in capsys.readouterr().err


def _reference_worlds():
    """Worlds with every new kernel feature: paying colours, re-drawn layouts, stochastic payout."""
    stochastic = THREE_DOORS.replace("[payout]\n", "[payout]\nprobability = 0.7\n")
    return {
        "which-door": load_world(world_path("which-door")),
        "three": _spec(THREE_DOORS),
        "stochastic": _spec(stochastic),
    }


def _reference_cases(spec):
    """Return {case: (policy, rollout options)} covering the new policies and manipulations."""
    feedback = paying_colors(spec, level_seeds_for(2, 5))[::-1].copy()
    params = ControllerParams.random(controller_shape(spec, 6), 2, seed=3, scale=3.0)
    return {
        "oracle": ("oracle", {}),
        "random-door": ("random-door", {}),
        "wsls": ("wsls", {}),
        "wsls-zero": ("wsls", {"zero_reward_input": True}),
        "wsls-permuted": ("wsls", {"feedback_colors": feedback}),
        "wall-follower": ("wall-follower", {}),
        "net": (params, {"think_steps": 3}),
        "net-ablated": (params, {"feedback_colors": feedback, "zero_reward_input": True}),
    }


def _reference_outcomes():
    """Roll out every reference case; return {(world, case): outcome arrays}."""
    result = {}
    for name, spec in _reference_worlds().items():
        for case, (policy, options) in _reference_cases(spec).items():
            out = rollout(spec, policy, level_seeds_for(2, 5), 4, **options)
            result[name, case] = {k: getattr(out, k) for k in ("entered_tile", "entered_color", "steps", "returns")}
    return result


def test_new_kernel_features_match_the_plain_python_reference(tmp_path):
    from reference import run_plain_python

    reference = run_plain_python(
        "import sys\nsys.path.insert(0, 'tests')\nfrom test_learning_probe import _reference_outcomes\nresult = _reference_outcomes()\n",
        tmp_path,
    )
    compiled = _reference_outcomes()
    assert reference.keys() == compiled.keys()
    for key, arrays in reference.items():
        for field, expected in arrays.items():
            if field == "returns":
                np.testing.assert_allclose(compiled[key][field], expected, atol=1e-5, err_msg=str(key))
            else:
                assert np.array_equal(compiled[key][field], expected), (key, field)


def test_the_fast_bootstrap_of_a_mean_is_the_shared_estimator():
    from evosandbox.probes._episodes import BOOTSTRAP_RESAMPLES, mean_metric
    from evosandbox.stats import bootstrap_interval

    samples = np.random.default_rng(3).integers(-1, 2, size=700).astype(np.float64)
    metric = mean_metric("gain", samples, seed=11)
    low, high = bootstrap_interval(samples, np.mean, resamples=BOOTSTRAP_RESAMPLES, seed=11)
    assert (metric.low, metric.high) == pytest.approx((low, high), abs=1e-12)
