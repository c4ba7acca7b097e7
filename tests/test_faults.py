"""Faults a user meets: files cut short, bad numbers, wrong paths. One line, the right exit code, nothing lost, no hang."""

import faulthandler
import hashlib
import os
import shutil
import subprocess
import sys
import time

import pytest
from test_evolve import ROOT, SMOKE

from evosandbox import evolve as evolution
from evosandbox.cli import main

TEST_WORLD = os.path.join(ROOT, "worlds", "red-doors-test.toml")
# Every command must answer a damaged file within this many seconds (the bound).
REFUSAL_SECONDS = 5.0
# Where a cut happens: fractions of the file, or a number of bytes missing at its end.
CUTS = {"10%": 0.1, "50%": 0.5, "90%": 0.9, "minus 4 KB": -4096}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Evolve the smoke config for two generations; return the run folder."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    evolution.evolve(_full(evolution.load_experiment(SMOKE, generations=2)), run_dir, progress=False)
    return run_dir


def _full(config):
    """Return the config with every genome row stored: the large files these faults are about."""
    import dataclasses

    return dataclasses.replace(config, genomes="full")


def _full_config(folder):
    """Write the smoke config with genomes = "full" into ``folder``; return its path."""
    text = open(SMOKE).read().replace('"../', f'"{os.path.dirname(os.path.dirname(os.path.abspath(SMOKE)))}/')
    path = os.path.join(folder, "smoke-full.toml")
    with open(path, "w") as handle:
        handle.write(text + '\n[output]\ngenomes = "full"\n')
    return path


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
    faulthandler.dump_traceback_later(
        120, exit=True, file=sys.__stderr__
    )  # a hang kills the test run instead of stalling it
    try:
        start = time.monotonic()
        code = main(list(argv))
        seconds = time.monotonic() - start
    finally:
        faulthandler.cancel_dump_traceback_later()
    return code, capsys.readouterr().err, seconds


def run_commands(run_dir, tmp_path):
    """Return {name: argv} of every command that reads a run folder (outputs go to ``tmp_path``)."""
    return {
        "resume": ("evolve", "--resume", str(run_dir), "--generations", "3"),
        "lineage": ("lineage", str(run_dir)),
        "probe": ("probe", str(run_dir), "--world", TEST_WORLD, "--episodes", "4"),
        "replay": (
            "replay",
            str(run_dir),
            "--world",
            TEST_WORLD,
            "--episodes",
            "2",
            "--out",
            str(tmp_path / "replay.h5"),
        ),
        "export": ("export", str(run_dir), "--out", str(tmp_path / "genome.h5")),
    }


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_every_command_refuses_a_cut_run_file_fast_and_changes_nothing(finished_run, tmp_path, capsys, cut):
    run_dir = cut_copy(finished_run, tmp_path, cut)
    before = {name: digest(run_dir / name) for name in ("run.h5", "checkpoint.pkl")}
    commands = run_commands(run_dir, tmp_path)
    for name, argv in commands.items():
        code, err, seconds = cli(capsys, *argv)
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert "run.h5: truncated:" in err and "bytes" in err, (name, err)
        assert seconds < REFUSAL_SECONDS, (name, seconds)
    assert {name: digest(run_dir / name) for name in before} == before
    assert not os.path.exists(tmp_path / "replay.h5") and not os.path.exists(tmp_path / "genome.h5")
    assert sorted(os.listdir(run_dir)) == ["checkpoint.pkl", "run.h5"]


def test_resume_of_a_cut_run_file_is_one_line_in_a_real_process(finished_run, tmp_path):
    run_dir = cut_copy(finished_run, tmp_path, 0.5)
    result = subprocess.run(
        [sys.executable, "-m", "evosandbox", "evolve", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"evosandbox evolve: {run_dir / 'run.h5'}: truncated:")
    assert result.stderr.count("\n") == 1
    assert "cannot be recovered; the same config and seed evolve the identical run again" in result.stderr


ASCII_WORLD = """
[grid]
generator = "ascii"
max_steps = 50
map = \"\"\"
{map}
\"\"\"
[observation]
view_size = 3
[door]
colors = ["red"]
"""


@pytest.mark.parametrize(
    "rows, where",
    [
        (["#####", "#...#", "#....", "#####"], "row 3, column 5"),
        (["#.###", "#...#", "#####"], "row 1, column 2"),
        (["#####", "..A.#", "#####"], "row 2, column 1"),
    ],
    ids=["open right edge", "open top edge", "open left edge"],
)
def test_an_ascii_map_without_a_wall_border_is_refused(write_world, capsys, rows, where):
    path = write_world(ASCII_WORLD.format(map="\n".join(rows)))
    assert main(["worlds", "validate", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: grid.map: '.' at {where}: the map needs a wall" in err


@pytest.mark.parametrize(
    "rows",
    [
        ["#######", "#A.#D.#", "#..#..#", "#######"],  # fixed start, the fixed door in the other room
        ["#####", "#.#D#", "#####"],  # the fixed door walled in: no floor cell touches it
        ["#####", "#A#.#", "#####"],  # the start walled in alone: a random door can never be beside it
    ],
    ids=["door in another room", "door walled in", "start walled in"],
)
def test_an_ascii_map_whose_door_cannot_be_reached_is_refused(write_world, capsys, rows):
    path = write_world(ASCII_WORLD.format(map="\n".join(rows)))
    assert main(["worlds", "validate", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: grid.map: no door can be reached from" in err


def test_an_ascii_map_with_a_reachable_door_plays(write_world):
    from evosandbox.config import load_world
    from evosandbox.worlds import generate_level

    path = write_world(ASCII_WORLD.format(map="\n".join(["#######", "#A.#D.#", "#.....#", "#######"])))
    level = generate_level(load_world(path), 7)
    assert level.grid[1, 4, 0] == 2  # the fixed door


WORLD_NUMBERS = """
[grid]
width = 9
height = 9
max_steps = 50
[rewards]
door = {door}
step_cost = {step_cost}
[door]
colors = ["red"]
[[variants]]
weight = {weight}
[[variants]]
weight = 0.05
"""


@pytest.mark.parametrize(
    "field, values",
    [
        ("rewards.door", dict(door="nan")),
        ("rewards.step_cost", dict(step_cost="inf")),
        ("variants[0].weight", dict(weight="nan")),
        ("rewards.door", dict(door="-inf")),
    ],
)
def test_nan_and_infinity_in_a_world_are_refused(write_world, capsys, field, values):
    numbers = dict(door="1.0", step_cost="0.01", weight="0.95") | values
    path = write_world(WORLD_NUMBERS.format(**numbers))
    assert main(["worlds", "validate", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: {field}: must be a finite number, got" in err


@pytest.mark.parametrize(
    "table, line, field",
    [
        ("[algorithm]", "sigma_max = nan", "algorithm.sigma_max"),  # es_sigma under ga is a foreign key
        ("[algorithm]", "mutation_sigma = inf", "algorithm.mutation_sigma"),
        ("[fitness]", "door = nan", "fitness.door"),
    ],
)
def test_nan_and_infinity_in_an_experiment_config_are_refused_before_anything_is_written(
    tmp_path, capsys, table, line, field
):
    text = (
        open(SMOKE)
        .read()
        .replace("../worlds/", os.path.join(ROOT, "worlds") + "/")
        .replace("../genomes/", os.path.join(ROOT, "genomes") + "/")
    )
    text = text.replace(f"{table}\n", f"{table}\n{line}\n") if table in text else text + f"\n{table}\n{line}\n"
    config = tmp_path / "config.toml"
    config.write_text(text)
    assert main(["evolve", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{config}: {field}: must be a finite number, got" in err
    assert not os.path.exists(tmp_path / "run")


def test_lineage_refuses_to_write_over_the_run_file_it_reads(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = digest(run_dir / "run.h5")
    code, err, _ = cli(capsys, "lineage", str(run_dir), "--csv", str(run_dir / "run.h5"), "--force")
    assert code == 2 and err.count("\n") == 1
    assert f"--csv: {run_dir / 'run.h5'} is the run file, which this command reads; name another file" in err
    assert digest(run_dir / "run.h5") == before


def test_lineage_refuses_two_outputs_on_one_file(finished_run, tmp_path, capsys):
    target = tmp_path / "x.png"
    code, err, _ = cli(capsys, "lineage", str(finished_run), "--csv", str(target), "--plot", str(target))
    assert code == 2 and err.count("\n") == 1
    assert f"--plot: {target} is also where --csv goes; give each output its own file" in err
    assert not target.exists()


def test_replay_and_export_refuse_to_write_over_their_run_file(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = digest(run_dir / "run.h5")
    code, err, _ = cli(
        capsys, "replay", str(run_dir), "--world", TEST_WORLD, "--out", str(run_dir / "run.h5"), "--force"
    )
    assert code == 2 and "--out:" in err and "is the agent's file" in err
    code, err, _ = cli(capsys, "export", str(run_dir), "--out", str(run_dir / "run.h5"), "--force")
    assert code == 2 and "--out:" in err and "is the run file" in err
    assert digest(run_dir / "run.h5") == before


def test_replay_to_a_folder_is_one_line(finished_run, tmp_path, capsys):
    code, err, _ = cli(capsys, "replay", str(finished_run), "--world", TEST_WORLD, "--out", str(tmp_path), "--force")
    assert code == 2 and err.count("\n") == 1 and f"--out: {tmp_path} is a folder" in err


def test_atomic_output_leaves_a_users_own_tmp_file_alone(tmp_path):
    from evosandbox.atomic import atomic_output

    target, mine = tmp_path / "notes.txt", tmp_path / "notes.txt.tmp"
    mine.write_text("the user's draft")
    with atomic_output(target) as temporary, open(temporary, "w") as handle:
        handle.write("new")
    assert target.read_text() == "new" and mine.read_text() == "the user's draft"
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "notes.txt.tmp"]


def _limit_file_size(limit):
    """Return a preexec_fn that caps every file the child writes at ``limit`` bytes, like a full disk."""

    def apply():
        """Ignore SIGXFSZ (a write past the cap then fails with EFBIG) and set the cap."""
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_one_line_exit_1_and_resume_gives_the_uninterrupted_run(finished_run, tmp_path):
    from test_evolve import assert_same_run

    run_dir = tmp_path / "run"
    limit = os.path.getsize(finished_run / "run.h5") * 3 // 4  # room for generation 0, not for generation 1
    full = subprocess.run(
        [
            sys.executable,
            "-m",
            "evosandbox",
            "evolve",
            _full_config(tmp_path),
            "--out",
            str(run_dir),
            "--generations",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size(limit),
    )
    assert full.returncode == 1, full.stderr
    assert full.stderr.count("\n") == 1 and "Traceback" not in full.stderr, full.stderr
    assert full.stderr.startswith(
        f"evosandbox evolve: {run_dir / 'run.h5'}: File too large; the committed generations are kept"
    )
    resumed = subprocess.run(
        [sys.executable, "-m", "evosandbox", "evolve", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(finished_run / "run.h5", run_dir / "run.h5")


def test_an_output_that_cannot_be_written_is_one_line_exit_1(finished_run, tmp_path, capsys):
    unwritable = "/proc/evosandbox-test"  # nobody, root included, can create files under /proc
    code, err, _ = cli(capsys, "evolve", SMOKE, "--out", f"{unwritable}/run", "--generations", "1")
    assert code == 1 and err == f"evosandbox evolve: {unwritable}: No such file or directory\n"
    code, err, _ = cli(capsys, "lineage", str(finished_run), "--plot", "/proc/lineage.png")
    assert code == 1 and err.count("\n") == 1 and err.startswith("evosandbox lineage: /proc/lineage.png: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_line_exit_1(tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, err, _ = cli(capsys, "evolve", SMOKE, "--out", str(folder / "run"), "--generations", "1")
    finally:
        folder.chmod(0o755)
    assert code == 1 and err == f"evosandbox evolve: {folder / 'run'}: Permission denied\n"


@pytest.mark.parametrize(
    "argv",
    [
        ("worlds", "show", "red-doors-train", "--seed", str(10**23)),
        ("evolve", SMOKE, "--out", "RUN", "--force", "--seed", str(2**63)),
        (
            "probe",
            "--policy",
            "random",
            "--world",
            "red-doors-test",
            "--train-world",
            "red-doors-train",
            "--seed",
            "-1",
        ),
    ],
)
def test_a_seed_out_of_range_is_refused_before_anything_runs(finished_run, tmp_path, capsys, argv):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)  # what evolve --force would delete
    before = digest(run_dir / "run.h5")
    with pytest.raises(SystemExit) as exited:
        main([str(run_dir) if arg == "RUN" else arg for arg in argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --seed: a seed lies within 0..9223372036854775807" in err
    assert digest(run_dir / "run.h5") == before


@pytest.mark.parametrize(
    "argv",
    [
        (
            "probe",
            "--policy",
            "random",
            "--world",
            TEST_WORLD,
            "--train-world",
            "red-doors-train",
            "--episodes",
            str(10**12),
        ),
        ("replay", "--policy", "random", "--world", TEST_WORLD, "--episodes", str(10**11), "--out", "REPLAY"),
        ("worlds", "baselines", TEST_WORLD, "--episodes", str(10**14)),
    ],
)
def test_an_episode_count_the_machine_cannot_hold_is_refused_with_the_figures(tmp_path, capsys, argv):
    code, err, seconds = cli(capsys, *[str(tmp_path / "replay.h5") if arg == "REPLAY" else arg for arg in argv])
    assert code == 2 and err.count("\n") == 1, err
    assert "episodes" in err and "of memory, this machine has" in err and "available" in err
    assert seconds < REFUSAL_SECONDS and not os.path.exists(tmp_path / "replay.h5")


def _config(tmp_path, **changes):
    """Write the smoke config with absolute paths and ``changes`` (TOML lines by table) applied; return its path."""
    text = (
        open(SMOKE)
        .read()
        .replace("../worlds/", os.path.join(ROOT, "worlds") + "/")
        .replace("../genomes/", os.path.join(ROOT, "genomes") + "/")
    )
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"population_size = 16": "population_size = 1000000000"}, "a population of 1,000,000,000 genomes of"),
        ({"red-doors-train.toml": "red-doors-maze.toml"}, "test.worlds[0]: "),
    ],
    ids=["a population too large for memory", "a test world that does not fit the maze's observation"],
)
def test_force_refuses_a_doomed_config_before_it_deletes_the_old_run(finished_run, tmp_path, capsys, changes, message):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = {name: digest(run_dir / name) for name in ("run.h5", "checkpoint.pkl")}
    code, err, seconds = cli(capsys, "evolve", _config(tmp_path, **changes), "--out", str(run_dir), "--force")
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert {name: digest(run_dir / name) for name in before} == before


def test_a_test_world_with_another_observation_is_refused_when_the_config_loads(tmp_path):
    from evosandbox.errors import ConfigError

    path = _config(tmp_path, **{"red-doors-train.toml": "red-doors-maze.toml"})
    with pytest.raises(ConfigError) as caught:
        evolution.load_experiment(path)
    assert caught.value.line().startswith(f"{path}: test.worlds[0]: ") and "inputs" in caught.value.line()


def test_resume_refuses_a_run_file_of_another_run(finished_run, tmp_path, capsys):
    other = tmp_path / "seed-5"
    evolution.evolve(evolution.load_experiment(SMOKE, seed=5, generations=2), other, progress=False)
    run_dir = tmp_path / "mixed"
    shutil.copytree(finished_run, run_dir)
    shutil.copy(other / "run.h5", run_dir / "run.h5")
    before = digest(run_dir / "run.h5")
    code, err, _ = cli(capsys, "evolve", "--resume", str(run_dir), "--generations", "3")
    assert code == 2 and err.count("\n") == 1
    assert (
        f"{run_dir / 'run.h5'}: created: belongs to another run (seed 5, created " in err and "(seed 1, created " in err
    )
    assert digest(run_dir / "run.h5") == before


def test_a_second_writer_gets_one_line_naming_the_holder(finished_run, tmp_path):
    from evosandbox.evolution.lock import hold_run_folder

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = digest(run_dir / "run.h5")
    with hold_run_folder(run_dir):
        for argv in (("--resume", str(run_dir), "--generations", "3"), (SMOKE, "--out", str(run_dir), "--force")):
            second = subprocess.run(
                [sys.executable, "-m", "evosandbox", "evolve", *argv], capture_output=True, text=True, timeout=120
            )
            assert second.returncode == 2, second.stderr
            assert second.stderr.count("\n") == 1
            assert f"{run_dir} is in use: process {os.getpid()} is writing this run" in second.stderr
    assert digest(run_dir / "run.h5") == before


def test_two_starts_on_one_folder_at_once_give_one_run_and_one_clear_line(tmp_path):
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "evosandbox", "evolve", SMOKE, "--out", str(run_dir), "--generations", "2"]
    processes = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(process.wait(timeout=300), process.stderr.read()) for process in processes]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert refused.count("\n") == 1 and "Traceback" not in refused
    assert "is in use: process" in refused or "already holds a run" in refused


def test_worlds_validate_takes_shipped_names_and_reports_every_bad_file(write_world, capsys):
    bad = write_world("[grid]\nwidth = 9\nheight = 9\nmax_steps = 50\n[door]\ncolors = ['mauve']")
    code = main(["worlds", "validate", "red-doors-train", bad, "maze-11", "/no/such.toml"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "red-doors-train: ok" in out and "maze-11: ok" in out
    first, second = err.splitlines()
    assert first.startswith(f"evosandbox worlds: {bad}: door.colors[0]: unknown colour 'mauve'")
    assert second == "evosandbox worlds: /no/such.toml: no such file"


@pytest.mark.parametrize(
    "argv, message",
    [
        (("worlds", "list", "foo"), "files: list takes no FILE (got foo)"),
        (("worlds", "show", "red-doors-train", "--json"), "--json: show prints the level as text"),
        (("evolve", "--resume", "RUN/run.h5"), "--resume: RUN/run.h5 is a file; --resume takes the run folder"),
    ],
)
def test_arguments_a_command_would_ignore_are_refused(finished_run, capsys, argv, message):
    code, err, _ = cli(capsys, *[arg.replace("RUN", str(finished_run)) for arg in argv])
    assert code == 2 and err.count("\n") == 1 and message.replace("RUN", str(finished_run)) in err


def test_help_texts_print_one_percent_sign(capsys):
    for command in ("probe", "mesa", "sweep"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "%%" not in capsys.readouterr().out


def test_resume_without_room_for_the_salvage_copy_says_so_and_changes_nothing(
    finished_run, tmp_path, capsys, monkeypatch
):
    import collections

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = digest(run_dir / "run.h5")
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    code, err, _ = cli(capsys, "evolve", "--resume", str(run_dir), "--generations", "3")
    assert code == 2 and err.count("\n") == 1
    assert (
        f"--resume: resume copies the committed part of {run_dir / 'run.h5'} (" in err
        and "the disk has 1.0 kB free" in err
    )
    assert digest(run_dir / "run.h5") == before


def _terminal_run(argv, **environment):
    """Run the CLI in a real process whose stderr is a terminal (a pty); return (exit code, what it printed)."""
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "evosandbox", *argv],
            stdout=subprocess.DEVNULL,
            stderr=follower,
            env=dict(os.environ, **environment),
        )
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            output += chunk
        return process.wait(timeout=120), output.decode().replace("\r\n", "\n")
    finally:
        os.close(leader)


def test_the_first_run_of_a_build_says_on_a_terminal_that_it_compiles(finished_run, tmp_path):
    from evosandbox.cli import COMPILING_NOTICE

    # A command that plays agents and is refused (memory) before any kernel runs: no compile waited for.
    argv = ["probe", "--policy", "random", "--world", TEST_WORLD, "--train-world", "red-doors-train"]
    argv += ["--episodes", str(10**12)]
    empty_cache = str(tmp_path / "numba-cache")
    code, printed = _terminal_run(argv, NUMBA_CACHE_DIR=empty_cache)
    assert code == 2
    first, second = printed.splitlines()
    assert first == COMPILING_NOTICE and "of memory, this machine has" in second
    code, printed = _terminal_run(argv)  # finished_run compiled the kernels into the cache
    assert code == 2 and COMPILING_NOTICE not in printed and printed.count("\n") == 1
    piped = subprocess.run(
        [sys.executable, "-m", "evosandbox", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, NUMBA_CACHE_DIR=empty_cache),
    )
    assert piped.returncode == 2 and COMPILING_NOTICE not in piped.stderr and piped.stderr.count("\n") == 1


def test_a_start_that_committed_nothing_is_replaced_by_the_same_command_without_force(tmp_path):
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "evosandbox", "evolve", SMOKE, "--out", str(run_dir), "--generations", "2"]
    # Room for the checkpoint, not for the run file's first flush: a start that stops at once.
    stopped = subprocess.run(argv, capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size(20_000))
    assert stopped.returncode == 1, stopped.stderr
    assert stopped.stderr.count("\n") == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    assert stopped.stderr.endswith("no generation was committed: fix that, then run the same command again\n")
    assert sorted(os.listdir(run_dir)) == ["checkpoint.pkl", "run.h5"]
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    finished = digest(run_dir / "run.h5")
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=300)  # now it holds a run
    assert refused.returncode == 2 and "already holds a run; pass --force" in refused.stderr
    assert digest(run_dir / "run.h5") == finished


@pytest.mark.parametrize(
    "line, message",
    [
        ("mutation_sigma = -1", "algorithm.mutation_sigma: must be at least 0.0, got -1.0 (leave it out for the"),
        ("mutation_rate = -0.5", "algorithm.mutation_rate: must be at least 0.0, got -0.5 (leave it out for the"),
        ("mutation_rate = 2", "algorithm.mutation_rate: must be at most 1.0, got 2.0 (leave it out for the"),
    ],
)
def test_a_mutation_setting_out_of_range_is_refused_not_read_as_the_presets(tmp_path, capsys, line, message):
    path = _config(tmp_path, **{"[algorithm]\n": f"[algorithm]\n{line}\n"})
    code, err, _ = cli(capsys, "evolve", path, "--out", str(tmp_path / "run"))
    assert code == 2 and err.count("\n") == 1 and f"{path}: {message}" in err
    assert not os.path.exists(tmp_path / "run")


def test_a_mutation_setting_left_out_is_the_genome_presets(tmp_path):
    config = evolution.load_experiment(_config(tmp_path))
    assert config.algorithm.mutation_sigma == config.genome_preset.mutation_sigma
    assert config.algorithm.mutation_rate == config.genome_preset.mutation_rate


def test_summaries_name_the_test_world_of_each_figure(finished_run, tmp_path, capsys):
    code, err, _ = cli(capsys, "evolve", SMOKE, "--out", str(tmp_path / "run"), "--generations", "1")
    assert code == 0
    assert "; red-doors-test: door " in err and ", test-red-door-no-decoy: door " in err
    assert main(["lineage", str(finished_run)]) == 0
    out = capsys.readouterr().out
    assert "test scores: run file periodic test scores on red-doors-test, test-red-door-no-decoy;" in out
    assert "the rates below are their mean over the test worlds" in out


def test_lineage_reevaluates_on_a_shipped_world_named_as_the_help_offers(finished_run, capsys):
    code = main(["lineage", str(finished_run), "--reevaluate", "--world", "red-doors-test", "--episodes", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "test scores: reevaluated on red-doors-test (2 episodes each)" in out
