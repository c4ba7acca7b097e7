"""benchmarks/funnel.py end to end: it evolves its own distillation teacher into an empty folder
(configs/red-doors.toml, seed 1), reuses it after, reports compression, develop time and the
distillation figure per preset, and refuses bad input in one line."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARK = os.path.join(ROOT, "benchmarks", "funnel.py")
TINY = [
    "--population",
    "4",
    "--repeats",
    "1",
    "--distill-levels",
    "4",
    "--distill-iterations",
    "2",
    "--distill-test",
    "8",
    "--json",
]

pytestmark = pytest.mark.slow


def run_benchmark(*arguments):
    """Run the benchmark in a fresh process; return the completed process."""
    return subprocess.run(
        [sys.executable, BENCHMARK, *arguments], capture_output=True, text=True, cwd=ROOT, timeout=900
    )


def test_the_benchmark_evolves_its_teacher_once_and_distils_deterministically(tmp_path):
    teacher = str(tmp_path / "teacher")
    presets = ["--presets", os.path.join(ROOT, "genomes", "subspace-small.toml")]
    arguments = [*TINY, *presets, "--distill", teacher, "--teacher-generations", "2"]
    first = run_benchmark(*arguments)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["distill"]["teacher_evolved"] is True
    assert os.path.isfile(os.path.join(teacher, "run.h5"))
    figures = report["encodings"]["subspace-small"]
    assert figures["compression_ratio"] == pytest.approx(4803 / 24, abs=0.01)
    assert figures["develop_us_per_genome"] > 0
    assert 0.0 <= figures["distill"]["door_rate"] <= 1.0 and figures["distill"]["iterations"] == 2
    second = run_benchmark(*arguments)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["distill"]["teacher_evolved"] is False  # the teacher in the folder is reused
    assert again["distill"]["steps"] == report["distill"]["steps"]
    for key in ("train_agreement", "held_out_agreement", "door_rate", "teacher_door_rate"):
        assert again["encodings"]["subspace-small"]["distill"][key] == figures["distill"][key], key


def test_the_funnel_width_presets_are_measured_and_bad_input_is_one_line(tmp_path):
    result = run_benchmark("--funnel-widths", "--population", "2", "--repeats", "1", "--json")
    assert result.returncode == 0, result.stderr
    encodings = json.loads(result.stdout)["encodings"]
    assert len(encodings) == 20 and encodings["direct-small"]["compression_ratio"] == 1.0
    assert encodings["direct"]["compression_ratio"] == 1.0
    for family in ("cppn-h8", "factored", "cppn-separable", "developmental-separable"):
        ratios = [encodings[name]["compression_ratio"] for name in (f"{family}-large", family, f"{family}-small")]
        assert ratios == sorted(ratios) and ratios[0] < 25 and ratios[-1] > 180
    for name in ("factored", "cppn-separable", "developmental-separable"):
        assert encodings[name]["controller_parameters"] == 19_971  # the 32-unit controller it grows
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    (not_a_run / "run.h5").write_text("not HDF5")
    bad = run_benchmark(
        *TINY, "--presets", os.path.join(ROOT, "genomes", "subspace-small.toml"), "--distill", str(not_a_run)
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("benchmarks/funnel.py: ") and "run.h5" in bad.stderr
    assert run_benchmark("--teacher-generations", "0", "--distill", str(tmp_path / "x")).returncode == 2


def test_the_run_table_reports_time_to_competence_and_probe_rates_with_intervals(tmp_path):
    from evosandbox.evolve import evolve, load_experiment

    run_dir = str(tmp_path / "run")
    config = load_experiment(os.path.join(ROOT, "configs", "red-doors-factored-small.toml"), seed=1, generations=2)
    evolve(config, run_dir, progress=False)
    script = os.path.join(ROOT, "benchmarks", "funnel_runs.py")
    arguments = [sys.executable, script, run_dir, "--train-episodes", "8", "--test-episodes", "8", "--json"]
    result = subprocess.run([*arguments, "--threshold", "0"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)[run_dir]
    assert row["compression_ratio"] == 203.8 and row["genome_length"] == 98 and row["generations"] == 2
    assert row["generation_to_threshold"] == 0  # every validation rate reaches 0: the first generation, numbered 0
    for rate in ("fresh_door_rate", "test_door_rate", "test_proxy_rate"):
        value, low, high = row[rate]
        assert 0.0 <= low <= value <= high <= 1.0
    never = subprocess.run([*arguments, "--threshold", "1.01"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert json.loads(never.stdout)[run_dir]["generation_to_threshold"] is None
