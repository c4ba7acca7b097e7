"""benchmarks/sweep.py --measure: a real, shortened sweep, timed part by part (a real process)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")

pytestmark = pytest.mark.slow


def test_measure_times_the_cells_and_the_machinery_apart(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(
        f'name = "tiny"\nexperiment = "{SMOKE}"\nseeds = "1-2"\n\n[set]\n"experiment.generations" = 40\n'
        '"experiment.validation.levels" = 8\n"experiment.test.levels" = 8\n\n[[axes]]\nname = "color_radius"\n'
        'key = "worlds.observation.color_radius"\nvalues = [2, 6]\n\n[probe]\nepisodes = 16\n'
    )
    command = [sys.executable, os.path.join(ROOT, "benchmarks", "sweep.py"), str(path), "--measure"]
    completed = subprocess.run(
        command + ["--generations", "2", "--json"], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert completed.returncode == 0, completed.stderr
    figures = json.loads(completed.stdout)
    assert figures["cells"] == 2 and figures["failed"] == 0 and figures["generations"] == 2
    assert figures["full_generations"] == 40
    assert abs(figures["cells_s"] + figures["machinery_s"] - figures["wall_s"]) < 1e-6
    assert 0 < figures["machinery_share"] < 1 and figures["planning_s"] > 0 and figures["reporting_s"] > 0
    assert figures["seconds_per_generation"] > 0 and figures["seconds_outside_evolution"] > 0
    low, high = figures["predicted_runs_per_hour_2_cores_range"]
    assert low <= figures["predicted_runs_per_hour_2_cores"] <= high
    assert figures["predicted_machinery_share_at_full"] < figures["machinery_share"]
