"""Kill a real ``evosandbox evolve`` at several points, resume it, and get the uninterrupted run file."""

import os
import signal
import subprocess
import sys
import time

import pytest
from test_evolve import ROOT, SMOKE, assert_same_run

from evosandbox import evolve as evolution
from evosandbox.atomic import temporary_path
from evosandbox.errors import FileFormatError
from evosandbox.runfile.run_read import RunReader

GENERATIONS = 14
KILLED_GENERATIONS = 30
"""The run the several-point SIGKILL test kills: long enough that a resumed process cannot finish
between two polls of a loaded machine (14 generations sometimes did)."""


def start(*arguments):
    """Start ``evosandbox evolve`` in a subprocess."""
    return subprocess.Popen(
        [sys.executable, "-m", "evosandbox", "evolve", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def committed(run_dir):
    """Return the committed generations of a live run file (-1 while it cannot be read)."""
    try:
        with RunReader(run_dir, swmr=True) as reader:
            return reader.committed_generations
    except (FileFormatError, OSError, KeyError):
        return -1


def kill_at(process, run_dir, generation, delay):
    """SIGKILL ``process`` ``delay`` s after ``generation`` generations are committed; return whether it died by it."""
    deadline = time.monotonic() + 120
    while committed(run_dir) < generation and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return True


def test_sigkill_at_several_points_then_resume_equals_the_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    config = evolution.load_experiment(SMOKE, generations=KILLED_GENERATIONS)
    evolution.evolve(config, reference, progress=False)

    run_dir = tmp_path / "killed"
    killed = 0
    process = start(SMOKE, "--out", str(run_dir), "--generations", str(KILLED_GENERATIONS))
    # Kill points: right after generation 2 commits, in the middle of a later generation, and
    # just after the checkpoint of another; each resume is killed again before the last one.
    for generation, delay in ((2, 0.0), (10, 0.04), (20, 0.01)):
        killed += kill_at(process, run_dir, generation, delay)
        assert committed(run_dir) < KILLED_GENERATIONS or process.returncode == 0
        process = start("--resume", str(run_dir))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert killed >= 2, "the run finished before it could be killed"
    assert f"finished after {KILLED_GENERATIONS} generations" in err
    assert_same_run(reference / "run.h5", run_dir / "run.h5")
    assert not os.path.exists(temporary_path(run_dir / "run.h5"))
    assert not os.path.exists(temporary_path(run_dir / "checkpoint.pkl"))


def test_sigkill_before_the_first_generation_resumes_from_scratch(tmp_path):
    reference = tmp_path / "reference"
    evolution.evolve(evolution.load_experiment(SMOKE, generations=3), reference, progress=False)
    run_dir = tmp_path / "killed"
    process = start(SMOKE, "--out", str(run_dir), "--generations", "3")
    deadline = time.monotonic() + 60
    while not (run_dir / "checkpoint.pkl").exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    resumed = subprocess.run(
        [sys.executable, "-m", "evosandbox", "evolve", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(reference / "run.h5", run_dir / "run.h5")


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_with_130_and_a_checkpoint(tmp_path, number):
    reference = tmp_path / "reference"
    evolution.evolve(evolution.load_experiment(SMOKE, generations=GENERATIONS), reference, progress=False)
    run_dir = tmp_path / "stopped"
    process = start(SMOKE, "--out", str(run_dir), "--generations", str(GENERATIONS))
    deadline = time.monotonic() + 120
    while committed(run_dir) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(number)
    _, err = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    state = evolution.read_checkpoint(run_dir / "checkpoint.pkl")
    with RunReader(run_dir, swmr=False) as reader:  # closed cleanly: a plain reader opens it
        assert reader.committed_generations == state.generation
    resumed = subprocess.run(
        [sys.executable, "-m", "evosandbox", "evolve", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(reference / "run.h5", run_dir / "run.h5")


def test_resume_extends_a_finished_run(tmp_path):
    run_dir = tmp_path / "run"
    config = evolution.load_experiment(SMOKE, generations=3)
    evolution.evolve(config, run_dir, progress=False)
    summary = evolution.resume(run_dir, progress=False)
    assert summary.generations == 3  # nothing left to do
    summary = evolution.resume(run_dir, generations=5, progress=False)
    assert summary.generations == 5
    with RunReader(run_dir) as reader:
        assert reader.committed_generations == 5
        assert reader.individual_count == 5 * config.algorithm.population_size
        assert "generations = 5" in reader.config_text


def test_resume_without_a_run_or_with_a_corrupt_checkpoint_exits_2(tmp_path):
    command = [sys.executable, "-m", "evosandbox", "evolve", "--resume"]
    missing = subprocess.run(command + [str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no such run folder" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    run_dir = tmp_path / "corrupt"
    run_dir.mkdir()
    (run_dir / "checkpoint.pkl").write_bytes(b"\x80\x05not a pickle")
    corrupt = subprocess.run(command + [str(run_dir)], capture_output=True, text=True, timeout=120)
    assert corrupt.returncode == 2 and "corrupt checkpoint" in corrupt.stderr
    assert (run_dir / "checkpoint.pkl").read_bytes() == b"\x80\x05not a pickle"


def test_a_failed_append_surfaces_in_the_loop_and_no_checkpoint_gets_ahead_of_the_file(tmp_path, monkeypatch):
    # The recorder appends on a background thread; its error must stop the run with the
    # original exception, and the failed generation's checkpoint must never be written.
    from evosandbox.runfile.run_write import RunWriter

    append = RunWriter.append

    def failing_append(writer, record):
        if record.generation == 2:
            raise OSError("disk full")
        append(writer, record)

    monkeypatch.setattr(RunWriter, "append", failing_append)
    config = evolution.load_experiment(SMOKE, generations=5)
    with pytest.raises(OSError, match="disk full"):
        evolution.evolve(config, tmp_path / "run", progress=False)
    assert evolution.read_checkpoint(tmp_path / "run" / "checkpoint.pkl").generation == 2
    with RunReader(tmp_path / "run", swmr=False) as reader:
        assert reader.committed_generations == 2
    monkeypatch.setattr(RunWriter, "append", append)
    evolution.resume(tmp_path / "run", progress=False)
    reference = tmp_path / "reference"
    evolution.evolve(config, reference, progress=False)
    assert_same_run(reference / "run.h5", tmp_path / "run" / "run.h5")


def test_sigkill_of_an_es_run_then_resume_equals_the_uninterrupted_run(tmp_path):
    # The evolution strategy's checkpoint carries its mean and Adam moments, not a population.
    text = open(SMOKE).read()
    algorithm = text[text.index("[algorithm]") : text.index("[objectives]")]
    text = text.replace(algorithm, '[algorithm]\nname = "es"\npopulation_size = 17\nhall_of_fame = 4\n\n')
    text = text.replace('extra = ["description-length", "steps"]', "extra = []")
    config_path = tmp_path / "configs" / "es.toml"
    config_path.parent.mkdir()
    config_path.write_text(text)
    for folder in ("worlds", "genomes"):
        (tmp_path / folder).symlink_to(os.path.join(ROOT, folder))
    reference = tmp_path / "reference"
    evolution.evolve(evolution.load_experiment(config_path, generations=GENERATIONS), reference, progress=False)

    run_dir = tmp_path / "killed"
    killed = 0
    process = start(str(config_path), "--out", str(run_dir), "--generations", str(GENERATIONS))
    for generation, delay in ((3, 0.02), (8, 0.0)):
        killed += kill_at(process, run_dir, generation, delay)
        process = start("--resume", str(run_dir))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert killed >= 1, "the run finished before it could be killed"
    assert_same_run(reference / "run.h5", run_dir / "run.h5")
