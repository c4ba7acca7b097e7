"""benchmarks/evolve.py end to end: its time outside the rollout kernel, stage by stage, adds up
to the wall time outside the kernel that its share is computed from."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARK = os.path.join(ROOT, "benchmarks", "evolve.py")


def test_the_breakdown_outside_the_kernel_adds_up_to_the_share():
    arguments = ["--algorithm", "es", "--genome", os.path.join(ROOT, "genomes", "direct-small.toml")]
    arguments += ["--population", "9", "--levels", "2", "--generations", "3", "--threads", "1", "--json"]
    completed = subprocess.run(
        [sys.executable, BENCHMARK, *arguments], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert completed.returncode == 0, completed.stderr
    figures = json.loads(completed.stdout)
    breakdown = figures["outside_kernel_ms_per_generation"]
    stages = {"develop", "ask", "score", "select", "validate", "test", "checkpoint", "write", "other"}
    assert stages | {"setup and close", "total"} == set(breakdown)
    assert all(value >= -0.001 for value in breakdown.values())  # rounding aside
    parts = sum(value for name, value in breakdown.items() if name != "total")
    assert abs(parts - breakdown["total"]) < 0.01 * len(breakdown)  # each entry rounded to 1 us
    outside = 1000.0 * figures["outside_kernel_share"] * figures["wall_s"] / figures["generations"]
    assert abs(outside - breakdown["total"]) < 0.01
