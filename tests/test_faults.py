"""Faults a user meets: files cut short, bad numbers, wrong paths. One line, the right exit code, nothing lost, no hang."""

import faulthandler
import hashlib
import os
import shutil
import subprocess
import sys
import time

import pytest

from evosandbox import evolve as evolution
from evosandbox.cli import main

from test_evolve import ROOT, SMOKE

TEST_WORLD = os.path.join(ROOT, "worlds", "red-doors-test.toml")
# Every command must answer a damaged file within this many seconds (the bound).
REFUSAL_SECONDS = 5.0
# Where a cut happens: fractions of the file, or a number of bytes missing at its end.
CUTS = {"10%": 0.1, "50%": 0.5, "90%": 0.9, "minus 4 KB": -4096}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Evolve the smoke config for two generations; return the run folder."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    evolution.evolve(evolution.load_experiment(SMOKE, generations=2), run_dir, progress=False)
    return run_dir


def digest(path):
    """Return the SHA-256 of a file's bytes."""
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def cut_copy(run_dir, folder, cut):
    """Copy a run folder and cut its run.h5 at ``cut`` (a fraction, or minus a byte count); return the copy."""
    copy = folder / "cut"
    shutil.copytree(run_dir, copy)
    size = os.path.getsize(copy / "run.h5")
    os.truncate(copy / "run.h5", int(size * cut) if cut > 0 else size + cut)
    return copy


def cli(capsys, *argv):
    """Run the CLI in-process under a watchdog; return (exit code, stderr, seconds)."""
    faulthandler.dump_traceback_later(120, exit=True, file=sys.__stderr__)  # a hang kills the test run instead of stalling it
    try:
        start = time.monotonic()
        code = main(list(argv))
        seconds = time.monotonic() - start
    finally:
        faulthandler.cancel_dump_traceback_later()
    return code, capsys.readouterr().err, seconds


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_every_command_refuses_a_cut_run_file_fast_and_changes_nothing(finished_run, tmp_path, capsys, cut):
    run_dir = cut_copy(finished_run, tmp_path, cut)
    before = {name: digest(run_dir / name) for name in ("run.h5", "checkpoint.pkl")}
    commands = {
        "resume": ("evolve", "--resume", str(run_dir)),
        "lineage": ("lineage", str(run_dir)),
        "probe": ("probe", str(run_dir), "--world", TEST_WORLD, "--episodes", "4"),
        "replay": ("replay", str(run_dir), "--world", TEST_WORLD, "--episodes", "2", "--out", str(tmp_path / "replay.h5")),
    }
    for name, argv in commands.items():
        code, err, seconds = cli(capsys, *argv)
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert "run.h5: truncated:" in err and "bytes" in err, (name, err)
        assert seconds < REFUSAL_SECONDS, (name, seconds)
    assert {name: digest(run_dir / name) for name in before} == before
    assert not os.path.exists(tmp_path / "replay.h5")
    assert sorted(os.listdir(run_dir)) == ["checkpoint.pkl", "run.h5"]


def test_resume_of_a_cut_run_file_is_one_line_in_a_real_process(finished_run, tmp_path):
    run_dir = cut_copy(finished_run, tmp_path, 0.5)
    result = subprocess.run([sys.executable, "-m", "evosandbox", "evolve", "--resume", str(run_dir)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"evosandbox evolve: {run_dir / 'run.h5'}: truncated:")
    assert result.stderr.count("\n") == 1
