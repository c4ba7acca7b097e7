"""Progress display: plain lines at the tenths off a terminal, a bar in place on one (real tqdm, real processes)."""

import io
import math
import os
import pty
import re
import subprocess
import sys

from evosandbox.progress import ProgressDisplay, format_duration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")
TENTHS_OF_25 = [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]


def counts(text, label):
    """Return the counts of the plain progress lines of ``label`` in ``text``."""
    return [int(m.group(1)) for m in re.finditer(rf"^{label} +(\d+)/\d+ ", text, flags=re.MULTILINE)]


def test_plain_lines_at_each_tenth_and_at_the_end():
    stream = io.StringIO()
    display = ProgressDisplay(100, "gen", "gen", stream=stream, every_seconds=math.inf)
    for count in range(1, 101):
        display.update(count, f"best {count}", "detail")
    display.update(100, "again")  # the same count twice: no second line
    display.close()
    lines = stream.getvalue().splitlines()
    assert counts(stream.getvalue(), "gen") == list(range(10, 101, 10))
    assert lines[0].startswith("gen  10/100 ( 10%)  elapsed ") and "ETA " in lines[0]
    assert lines[0].endswith("best 10  detail")


def test_a_resumed_job_counts_on_from_where_it_was_and_time_brings_lines_too():
    stream = io.StringIO()
    display = ProgressDisplay(20, "sweep", "cell", initial=7, stream=stream, every_seconds=math.inf)
    for count in range(8, 21):
        display.update(count)
    assert counts(stream.getvalue(), "sweep") == [8, 10, 12, 14, 16, 18, 20]
    eager = io.StringIO()
    display = ProgressDisplay(1000, "gen", "gen", stream=eager, every_seconds=0.0)
    for count in range(1, 6):
        display.update(count)
    assert counts(eager.getvalue(), "gen") == [1, 2, 3, 4, 5]


def test_durations_render_like_tqdm():
    assert format_duration(75) == "01:15" and format_duration(3725) == "1:02:05"
    assert format_duration(math.nan) == "?"


def test_evolve_off_a_terminal_prints_a_line_per_tenth_not_per_generation(tmp_path):
    command = [sys.executable, "-m", "evosandbox", "evolve", SMOKE, "--generations", "25"]
    quiet = subprocess.run(command + ["--out", str(tmp_path / "a")], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert "gen " not in quiet.stderr and "finished after 25 generations" in quiet.stderr and quiet.stdout == ""
    loud = subprocess.run(
        command + ["--out", str(tmp_path / "b"), "--progress"], capture_output=True, text=True, timeout=300
    )
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout == "" and "\r" not in loud.stderr
    seen = counts(loud.stderr, "gen")
    # Every tenth, and nothing like a line per generation (a line a minute may add one while numba compiles).
    assert set(TENTHS_OF_25) <= set(seen) and len(seen) <= len(TENTHS_OF_25) + 2
    line = next(line for line in loud.stderr.splitlines() if line.startswith("gen 25/25"))
    assert "val door" in line and "eval/s" in line and "best " in line and "ETA " in line


def test_evolve_on_a_terminal_draws_a_bar_in_place(tmp_path):
    main_end, terminal_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "evosandbox", "evolve", SMOKE, "--generations", "25", "--out", str(tmp_path / "run")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal_end,
    )
    os.close(terminal_end)
    output = b""
    while True:
        try:
            chunk = os.read(main_end, 65536)
        except OSError:  # the child closed the terminal (EIO)
            break
        if not chunk:
            break
        output += chunk
    os.close(main_end)
    stdout, _ = process.communicate(timeout=300)
    assert process.returncode == 0 and stdout == b""
    text = output.decode("utf-8", errors="replace")
    assert "\r" in text and "25/25" in text and "val door" in text and "gen/s" in text
    assert not counts(text.replace("\r\n", "\n"), "gen")  # no plain lines
    assert "finished after 25 generations" in text
