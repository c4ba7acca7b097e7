"""Sweeps: a tiny sweep end to end, bad sweep files, crash + resume, failures, results.csv alone, jobs and Dask."""

import csv
import glob
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib

import h5py
import numpy as np
import pytest

from evosandbox import evolve as evolution
from evosandbox import sweep
from evosandbox.cli import main
from evosandbox.runfile.run_read import RunReader
from evosandbox.stats import first_reaching

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")
TIMING_COLUMNS = ("wall_time", "seconds_to_90", "run_file_bytes", "cell_seconds")
"""Columns that depend on the machine and the run's history, not on its results."""

pytestmark = pytest.mark.slow

TINY = f"""
name = "tiny"
experiment = "{SMOKE}"
seeds = "1-2"

[set]
"experiment.generations" = 3
"experiment.validation.levels" = 8
"experiment.test.levels" = 8

[[axes]]
name = "color_radius"
key = "worlds.observation.color_radius"
values = [2, 6]

[probe]
episodes = 24
"""


def write_sweep(folder, text=TINY, name="tiny.toml"):
    """Write a sweep file and return its path."""
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def comparable(rows):
    """Return the rows without machine-dependent columns."""
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def assert_same_results(first, second):
    """Assert two results.csv files hold the same rows (NaN equal to NaN), timings aside."""
    a, b = comparable(sweep.read_results(first)), comparable(sweep.read_results(second))
    assert len(a) == len(b)
    for left, right in zip(a, b):
        assert sorted(left) == sorted(right)
        for name in left:
            x, y = left[name], right[name]
            if isinstance(x, float) and math.isnan(x):
                assert isinstance(y, float) and math.isnan(y), name
            else:
                assert x == y, (name, x, y)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """Run the tiny sweep once, uninterrupted, in this process."""
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(str(folder))
    assert main(["sweep", path, "--out", str(folder / "out"), "--quiet"]) == 0
    return path, folder / "out"


def test_a_tiny_sweep_runs_end_to_end(baseline, capsys, tmp_path):
    path, out = baseline
    rows = sweep.read_results(out / "results.csv")
    assert [(row["color_radius"], row["seed"], row["status"]) for row in rows] == [
        (2, 1, "ok"),
        (2, 2, "ok"),
        (6, 1, "ok"),
        (6, 2, "ok"),
    ]
    for row in rows:
        assert 0.0 <= row["competence_low"] <= row["competence"] <= row["competence_high"] <= 1.0
        total = sum(row[f"red-doors-test/{outcome}_rate"] for outcome in sweep.OUTCOMES)
        assert abs(total - 1.0) < 1e-9
        assert row["generations"] == 3 and row["run_file_bytes"] > 0
    # Each cell's folder documents itself: the resolved files, the run, the champion.
    cell = out / "cells" / "color_radius-2_seed-1"
    with open(cell / "train.toml", "rb") as handle:
        assert tomllib.load(handle)["observation"]["color_radius"] == 2
    with open(cell / "test-0.toml", "rb") as handle:
        assert tomllib.load(handle)["observation"]["color_radius"] == 2
    with open(cell / "experiment.toml", "rb") as handle:
        experiment = tomllib.load(handle)
    assert experiment["seed"] == 1 and experiment["generations"] == 3 and experiment["world"]["train"] == "train.toml"
    assert (cell / "run" / "run.h5").exists() and (cell / "champion.h5").exists()
    for name in ("summary.md", "summary.json", "results.h5", "plots/color_radius.png", "sweep.toml"):
        assert (out / name).exists(), name
    summary = (out / "summary.md").read_text()
    assert "| color_radius=2 | 2/2 |" in summary and "bootstrap" in summary
    # Run again with --resume: nothing left to do, the same summary as JSON.
    capsys.readouterr()
    copy = tmp_path / "again"
    shutil.copytree(out, copy)
    assert main(["sweep", path, "--out", str(copy), "--resume", "--json", "--quiet"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ran"] == 0 and document["skipped"] == 4
    first = document["conditions"][0]
    assert first["condition"] == "color_radius=2" and first["runs"] == 2 and first["planned"] == 2
    metric = first["metrics"]["red-doors-test/door_rate"]
    assert metric["low"] <= metric["mean"] <= metric["high"] and metric["count"] == 2


def test_an_existing_sweep_folder_needs_resume(baseline, capsys):
    path, out = baseline
    assert main(["sweep", path, "--out", str(out), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change, field, message",
    [
        (
            ('key = "worlds.observation.color_radius"', 'key = "world.observation.color_radius"'),
            "axes[0].key",
            "a key starts with",
        ),
        (
            ("values = [2, 6]", "values = [2, 99]"),
            "axes[0].key",
            "cell color_radius=99: train.toml: observation.color_radius",
        ),
        (
            ('key = "worlds.observation.color_radius"', 'key = "train.variants[3].weight"'),
            "axes[0].key",
            "no 'variants' to index into",
        ),
        (
            ('"experiment.generations" = 3', '"experiment.generations" = 0'),
            "set.experiment.generations",
            "must be at least 1",
        ),
        (
            ('"experiment.generations" = 3', '"experiment.algorithm.no_such_key" = 3'),
            "set.experiment.algorithm.no_such_key",
            "unknown key",
        ),
        (('seeds = "1-2"', 'seeds = "2-1"'), "seeds", "backwards"),
        (("[probe]", '[probe]\nprobes = ["proxy", "no-such-probe"]'), "probe.probes[1]", "unknown probe"),
    ],
)
def test_a_bad_sweep_file_is_one_line_and_exit_2(tmp_path, capsys, change, field, message):
    path = write_sweep(str(tmp_path), TINY.replace(*change))
    out = tmp_path / "out"
    assert main(["sweep", path, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(f"evosandbox sweep: {path}: ")
    assert field in error and message in error
    assert not out.exists()  # nothing runs, nothing is written


def test_an_axis_set_table_needs_one_value_per_axis_value(tmp_path, capsys):
    text = TINY.replace(
        'key = "worlds.observation.color_radius"\nvalues = [2, 6]',
        'values = [2, 6]\n[axes.set]\n"worlds.observation.color_radius" = [2]',
    )
    path = write_sweep(str(tmp_path), text)
    assert main(["sweep", path, "--out", str(tmp_path / "out")]) == 2
    assert "axes[0].set.worlds.observation.color_radius: expected a list of 2 values" in capsys.readouterr().err


GENOME_AXIS = f"""
name = "genomes"
experiment = "{SMOKE}"
seeds = "1"

[set]
"experiment.generations" = 2
"experiment.validation.levels" = 8
"experiment.test.levels" = 8

[[axes]]
name = "genome"
values = ["direct-small", "subspace-small"]
[axes.set]
"experiment.genome.preset" = ["{ROOT}/genomes/direct-small.toml", "{ROOT}/genomes/subspace-small.toml"]

[probe]
episodes = 16
"""


def test_a_genome_preset_axis_runs_each_preset_and_reports_its_compression(tmp_path):
    path = write_sweep(str(tmp_path), GENOME_AXIS)
    out = tmp_path / "out"
    assert main(["sweep", path, "--out", str(out), "--quiet"]) == 0
    rows = {row["genome"]: row for row in sweep.read_results(out / "results.csv")}
    assert rows["direct-small"]["compression_ratio"] == 1.0
    assert rows["subspace-small"]["compression_ratio"] == pytest.approx(4803 / 24)
    for name, encoding in (("direct-small", "direct"), ("subspace-small", "subspace")):
        with open(out / "cells" / f"genome-{name}_seed-1" / "genome.toml", "rb") as handle:
            assert tomllib.load(handle)["encoding"] == encoding
        assert rows[name]["status"] == "ok" and rows[name]["generations"] == 2
        assert math.isnan(rows[name]["seconds_to_90"]) == math.isnan(rows[name]["time_to_90"])
    summary = (out / "summary.md").read_text()
    assert "| genome=subspace-small | 200.1x |" in summary
    assert (out / "plots" / "genome.png").stat().st_size > 0  # a category axis is plotted too


@pytest.mark.parametrize(
    "value, message",
    [
        ('"no-such-preset.toml"', "no such file"),
        ("3", "expected a path"),
        (f'"{ROOT}/worlds/red-doors-train.toml"', "genome.toml"),
    ],
)
def test_a_bad_genome_preset_override_names_the_axis_field(tmp_path, capsys, value, message):
    text = GENOME_AXIS.replace(f'"{ROOT}/genomes/subspace-small.toml"', value)
    path = write_sweep(str(tmp_path), text)
    assert main(["sweep", path, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(f"evosandbox sweep: {path}: ")
    assert "axes[0].set.experiment.genome.preset" in error and message in error
    assert not (tmp_path / "out").exists()


def test_reuse_takes_another_sweeps_rows_of_the_very_same_cells(baseline, tmp_path, capsys):
    path, out = baseline
    # Another sweep (another name, one more colour range) shares the baseline's radius-2 and radius-6 cells.
    wider = write_sweep(
        str(tmp_path), TINY.replace('name = "tiny"', 'name = "wider"').replace("[2, 6]", "[2, 4, 6]"), "wider.toml"
    )
    target = tmp_path / "wider"
    assert main(["sweep", wider, "--out", str(target), "--reuse", str(out / "results.csv"), "--quiet"]) == 0
    assert "(2 run now, 4 kept, 4 of them from --reuse)" in capsys.readouterr().err
    rows = sweep.read_results(target / "results.csv")
    assert [(row["color_radius"], row["seed"]) for row in rows] == [(2, 1), (2, 2), (4, 1), (4, 2), (6, 1), (6, 2)]
    # Only the new condition ran; the shared rows are the baseline's own.
    assert sorted(os.listdir(target / "cells")) == ["color_radius-4_seed-1", "color_radius-4_seed-2"]
    shared = [row for row in rows if row["color_radius"] != 4]
    original = sweep.read_results(out / "results.csv")
    assert [row["digest"] for row in shared] == [row["digest"] for row in original]
    assert [row["wall_time"] for row in shared] == [row["wall_time"] for row in original]
    # A sweep whose cells differ in config (one more generation) takes nothing from it.
    longer = write_sweep(
        str(tmp_path),
        TINY.replace('"experiment.generations" = 3', '"experiment.generations" = 4').replace("[2, 6]", "[6]"),
        "longer.toml",
    )
    result = sweep.run_sweep(sweep.load_sweep(longer), tmp_path / "longer", reuse=[out], progress=False)
    assert result.reused == 0 and result.ran == 2
    # A missing table is one line naming the flag, and nothing is written.
    assert main(["sweep", wider, "--out", str(tmp_path / "none"), "--reuse", str(tmp_path / "absent.csv")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--reuse" in error and "absent.csv" in error
    assert not (tmp_path / "none").exists()


def test_the_h8_funnel_sweep_spans_each_encoding_at_three_widths():
    spec = sweep.load_sweep(os.path.join(ROOT, "sweeps", "funnel-h8.toml"))
    cells = sweep.plan(spec)
    assert spec.seeds == (1, 2, 3) and len(cells) == 30
    encodings = {}
    for cell in cells:
        files = dict(cell.files)
        preset = tomllib.loads(files["genome.toml"])
        assert preset["name"] == dict(cell.values)["genome"]
        assert preset["controller"] == {"hidden": 8, "recurrent": True}  # one grown controller: direct-small's
        assert tomllib.loads(files["experiment.toml"])["generations"] == 200
        assert tomllib.loads(files["train.toml"])["name"] == "red-doors-train"
        encodings.setdefault(preset["encoding"], set()).add(preset["name"])
    assert {name: len(presets) for name, presets in encodings.items()} == {
        "direct": 1,
        "subspace": 3,
        "cppn": 3,
        "developmental": 3,
    }
    # The shipped rows were made with these very configs: results.csv carries them for --resume.
    with open(os.path.join(ROOT, "docs", "results", "funnel-h8", "results.csv"), newline="") as handle:
        rows = {(row["condition"], int(row["seed"])): row["digest"] for row in csv.DictReader(handle)}
    assert all(rows[(cell.condition, cell.seed)] == cell.digest for cell in cells)
    # A quick look stays quick.
    quick = sweep.plan(sweep.load_sweep(os.path.join(ROOT, "sweeps", "funnel-h8.toml"), quick=True))
    assert {tomllib.loads(dict(cell.files)["experiment.toml"])["generations"] for cell in quick} == {3}


def test_the_funnel_width_sweep_grows_one_controller_at_three_widths_per_competent_encoding():
    spec = sweep.load_sweep(os.path.join(ROOT, "sweeps", "funnel-width.toml"))
    cells = sweep.plan(spec)
    assert spec.seeds == (1, 2, 3) and len(cells) == 30
    budget = {"direct": 500, "factored": 500, "cppn": 2000, "developmental": 1000}  # the shipped configs'
    widths = {}
    for cell in cells:
        files = dict(cell.files)
        preset = tomllib.loads(files["genome.toml"])
        assert preset["name"] == dict(cell.values)["genome"]
        assert preset["controller"] == {"hidden": 32, "recurrent": True}
        assert tomllib.loads(files["experiment.toml"])["generations"] == budget[preset["encoding"]]
        if preset["encoding"] in ("cppn", "developmental"):
            assert preset[preset["encoding"]]["substrate"] == "separable"
        widths.setdefault(preset["encoding"], set()).add(preset["name"])
    assert {name: len(presets) for name, presets in widths.items()} == {
        "direct": 1,
        "factored": 3,
        "cppn": 3,
        "developmental": 3,
    }
    # The ten-seed funnel sweep's cells are this sweep's middle widths and control, to the digest,
    # so its seeds 1-3 can be carried over as rows of results.csv.
    ten = sweep.plan(sweep.load_sweep(os.path.join(ROOT, "sweeps", "funnel.toml")))
    assert {cell.seed for cell in ten} == set(range(1, 11)) and len(ten) == 40
    digests = {(cell.condition, cell.seed): cell.digest for cell in cells}
    shared = [cell for cell in ten if cell.seed <= 3]
    assert len(shared) == 12 and all(digests[(cell.condition, cell.seed)] == cell.digest for cell in shared)


def test_results_csv_alone_lets_resume_skip_finished_cells(baseline, tmp_path):
    path, out = baseline
    fresh = tmp_path / "carried"
    fresh.mkdir()
    shutil.copy(out / "results.csv", fresh / "results.csv")
    spec = sweep.load_sweep(path)
    result = sweep.run_sweep(spec, fresh, resume=True, progress=False)
    assert result.ran == 0 and result.skipped == 4
    assert not (fresh / "cells").exists() or not glob.glob(str(fresh / "cells" / "*" / "run"))
    assert_same_results(out / "results.csv", fresh / "results.csv")
    assert (fresh / "summary.md").read_text() == (out / "summary.md").read_text()
    # A changed config does not reuse the old rows.
    changed = write_sweep(
        str(tmp_path), TINY.replace('"experiment.generations" = 3', '"experiment.generations" = 4'), "changed.toml"
    )
    with pytest.raises(sweep.UsageError, match="made with another config"):
        sweep.run_sweep(sweep.load_sweep(changed), fresh, resume=True, progress=False)


def test_a_failing_cell_is_reported_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    path = write_sweep(str(tmp_path))
    original = sweep._start_run

    def flaky(task):
        """Fail seed 2's runs."""
        if task.seed == 2:
            raise RuntimeError("the cluster caught fire")
        return original(task)

    monkeypatch.setattr(sweep, "_start_run", flaky)
    out = tmp_path / "out"
    assert main(["sweep", path, "--out", str(out)]) == 1
    # Off a terminal: a plain line at each tenth of the four cells, and one for each failure.
    captured = capsys.readouterr()
    assert captured.out == ""
    progress = [line for line in captured.err.splitlines() if line.startswith("sweep ")]
    assert [line.split()[1] for line in progress] == ["1/4", "2/4", "3/4", "4/4"]
    assert "ETA " in progress[0] and "last: color_radius=2 seed 1, competence" in progress[0]
    assert progress[-1].startswith("sweep 4/4 (100%)") and "2 failed" in progress[-1]
    failures = [line for line in captured.err.splitlines() if " failed: " in line]
    assert failures == [
        f"sweep: color_radius={radius} seed 2 failed: RuntimeError: the cluster caught fire" for radius in (2, 6)
    ]
    rows = sweep.read_results(out / "results.csv")
    assert [row["status"] for row in rows] == ["ok", "failed", "ok", "failed"]
    assert rows[1]["error"] == "RuntimeError: the cluster caught fire"
    summary = (out / "summary.md").read_text()
    assert "1 failed" in summary and "the cluster caught fire" in summary
    # --resume retries the failed cells only.
    monkeypatch.setattr(sweep, "_start_run", original)
    result = sweep.run_sweep(sweep.load_sweep(path), out, resume=True, progress=False)
    assert result.ran == 2 and result.skipped == 2 and result.failed == 0


def test_a_failure_while_collecting_cancels_the_cells_not_yet_started(tmp_path, monkeypatch):
    # Sixteen cells on two worker processes; writing results.csv fails after the first cell.
    path = write_sweep(str(tmp_path), TINY.replace('seeds = "1-2"', 'seeds = "1-8"'))

    def broken_disk(*args, **kwargs):
        """Fail as a full disk would."""
        raise OSError("no space left on device")

    monkeypatch.setattr(sweep, "write_results", broken_disk)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="no space left"):
        sweep.run_sweep(sweep.load_sweep(path), out, jobs=2, progress=False)
    # The pool's exit waited only for the cells already handed to a worker (two running, a
    # few queued), not for all sixteen to run unrecorded.
    finished = glob.glob(str(out / "cells" / "*" / "result.json"))
    assert 1 <= len(finished) <= 8
    # What did finish is kept: --resume picks up the result.json files and runs the rest.
    monkeypatch.undo()
    result = sweep.run_sweep(sweep.load_sweep(path), out, jobs=2, resume=True, progress=False)
    assert result.ran == 16 and result.failed == 0


def test_sigkill_then_resume_equals_an_uninterrupted_sweep(baseline, tmp_path):
    path, out = baseline
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "evosandbox", "sweep", path, "--out", str(killed), "--quiet"],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    try:
        # Kill once the first cell is finished: the second is then mid-run or just set up.
        while not glob.glob(str(killed / "cells" / "*" / "result.json")) and process.poll() is None:
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert main(["sweep", path, "--out", str(killed), "--resume", "--quiet"]) == 0
    assert_same_results(out / "results.csv", killed / "results.csv")


def test_jobs_and_a_dask_cluster_give_the_same_results(baseline, tmp_path):
    distributed = pytest.importorskip("distributed")
    path, out = baseline
    spec = sweep.load_sweep(path, seeds="1")  # two cells, one per worker, keep the test short
    expected = tmp_path / "expected.csv"
    sweep.write_results(expected, [row for row in sweep.read_results(out / "results.csv") if row["seed"] == 1], spec)
    result = sweep.run_sweep(spec, tmp_path / "jobs", jobs=2, progress=False)
    assert result.ran == 2 and result.failed == 0
    assert_same_results(expected, tmp_path / "jobs" / "results.csv")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster:
        result = sweep.run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert result.ran == 2 and result.failed == 0
    assert_same_results(expected, tmp_path / "dask" / "results.csv")


def test_seed_lists_and_toml_round_trip():
    assert sweep.parse_seeds("1-3,7") == (1, 2, 3, 7)
    with pytest.raises(sweep.ConfigError, match="twice"):
        sweep.parse_seeds("1-3,2")
    data = {
        "name": 'x "q"',
        "grid": {"width": 11, "ratio": 0.5},
        "flag": True,
        "variants": [
            {"name": "a", "weight": 0.9},
            {"name": "b", "door": {"count": 1, "colors": ["blue"]}, "objects": [{"kind": "ball", "count": 1}]},
        ],
    }
    assert tomllib.loads(sweep.dump_toml(data)) == data


def test_the_shipped_sweeps_resolve():
    for path in sorted(glob.glob(os.path.join(ROOT, "sweeps", "*.toml"))):
        spec = sweep.load_sweep(path)
        cells = sweep.plan(spec)
        assert len(cells) == len(spec.seeds) * math.prod(len(axis.values) for axis in spec.axes)
        assert len({cell.digest for cell in cells}) == len(cells)


def test_the_diversity_sweep_restricts_training_to_its_pools_and_plots_its_named_axis(tmp_path, capsys):
    path = os.path.join(ROOT, "sweeps", "diversity.toml")
    out = tmp_path / "diversity"
    assert main(["sweep", path, "--quick", "--seeds", "1", "--out", str(out), "--quiet", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [entry["condition"] for entry in document["conditions"]] == [
        f"distinct_levels={value}" for value in (1, 4, 16, 64, 256, "fresh")
    ]
    rows = sweep.read_results(out / "results.csv")
    assert [row["distinct_levels"] for row in rows] == [1, 4, 16, 64, 256, "fresh"]
    assert all(row["status"] == "ok" and 0.0 <= row["competence"] <= 1.0 for row in rows)
    from evosandbox.evolution.experiment import training_level_pool, training_level_seeds

    for value, pool_size in zip(("1", "4", "16", "64", "256", "fresh"), (1, 4, 16, 64, 256, 0)):
        cell = out / "cells" / f"distinct_levels-{value}_seed-1"
        config = evolution.load_experiment(cell / "experiment.toml")
        assert config.distinct_levels == pool_size and config.levels == 4  # the quick setting
        with RunReader(cell / "run") as reader:
            assert f"distinct_levels = {pool_size}" in reader.config_text or not pool_size
            outcomes = reader.column("outcomes")
        assert (outcomes.sum(axis=1) == min(pool_size or 4, 4)).all()  # episodes per individual
        if pool_size:
            pool = set(training_level_pool(config).tolist())
            assert all(set(training_level_seeds(config, g).tolist()) <= pool for g in range(3))
    assert (out / "plots" / "distinct_levels.png").exists()


def test_a_validation_of_exactly_90_percent_counts_as_reaching_it(tmp_path):
    """A run file's float32 180/200 (0.89999998) reaches the 90% threshold; time_to_90 counts generations run."""
    run_dir = tmp_path / "run"
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "schema1-run"), run_dir)
    with h5py.File(run_dir / "run.h5", "r+") as handle:
        validation = handle["generations/validation_door_rate"]
        assert validation.dtype == np.float32 and len(validation) == 2
        validation[:] = np.array([179 / 200, 180 / 200], dtype=np.float32)
        wall_time = handle["generations/wall_time"][:]
    assert float(np.float32(180 / 200)) < 0.9  # the comparison the old code made, and got wrong
    assert sweep.read_time_to_competence(str(run_dir)) == {"time_to_90": 2, "seconds_to_90": float(wall_time[1])}
    assert first_reaching(np.float32([179 / 200, 180 / 200]), 0.9) == 1
    assert first_reaching(np.float32([179 / 200, 179 / 200]), 0.9) is None
    never = sweep.time_to_competence(np.float32([0.5, 0.89]), wall_time)
    assert math.isnan(never["time_to_90"]) and math.isnan(never["seconds_to_90"])
    assert sweep.cell_folder("genome=direct,decorrelated=0.0", 3) == os.path.join(
        "cells", "genome-direct_decorrelated-0.0_seed-3"
    )
